"""``manage.py djworkers_failed``: list, replay or purge failed jobs."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from djworkers.models import FailedJob
from djworkers.runtime.progress import progress
from djworkers.runtime.replay import ReplayError, replay


class Command(BaseCommand):
    help = (
        "Inspect the failed-job store. Jobs land here when they raised on their last "
        "attempt, or (quarantined) when their frame could not be verified or decoded."
    )

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--list", action="store_true", help="List failed jobs (the default).")
        action.add_argument(
            "--replay",
            nargs="*",
            type=int,
            metavar="ID",
            help="Replay these failed jobs (with --all: every replayable one).",
        )
        action.add_argument("--purge", action="store_true", help="Delete failed jobs (all, or filtered).")
        parser.add_argument(
            "--all",
            action="store_true",
            help="With --replay: every failed job (quarantined frames are refused and counted).",
        )
        parser.add_argument("--name", help="Only jobs with this name.")
        parser.add_argument("--queue", help="Only jobs from this queue.")
        parser.add_argument(
            "--inline",
            action="store_true",
            help="With --replay: run the job in this process instead of re-enqueueing it.",
        )

    def handle(self, *args, **options):
        if options["replay"] is None:
            # Silently ignoring them would let "--purge --all" or "--inline 3" look like they did
            # something they did not.
            stray = [flag for flag in ("all", "inline") if options[flag]]
            if stray:
                raise CommandError(f"--{stray[0]} only applies to --replay.")
        queryset = FailedJob.objects.all()
        if options["name"]:
            queryset = queryset.filter(name=options["name"])
        if options["queue"]:
            queryset = queryset.filter(queue=options["queue"])
        if options["replay"] is not None:
            return self._replay(queryset, options)
        if options["purge"]:
            count, _ = queryset.delete()
            self.stdout.write(f"Deleted {count} failed job(s).")
            return
        self._list(queryset)

    def _list(self, queryset):
        rows = list(queryset.values_list("id", "failed_at", "name", "queue", "reason", "exception", "error"))
        if not rows:
            self.stdout.write("No failed jobs.")
            return
        for pk, failed_at, name, queue, reason, exception, error in rows:
            summary = f"{exception}: {error}".strip(": ")[:100]
            self.stdout.write(
                f"{pk:>6}  {failed_at:%Y-%m-%d %H:%M:%S}  {name or '(undecodable)'}  "
                f"queue={queue or '-'}  {reason}  {summary}"
            )
        self.stdout.write(f"{len(rows)} failed job(s).")

    def _replay(self, queryset, options):
        ids = options["replay"]
        if ids and options["all"]:
            raise CommandError("Give failed-job ids or --all, not both.")
        if not ids and not options["all"]:
            raise CommandError("Which jobs? Give ids (djworkers_failed --replay 3 4) or --all.")
        if ids:
            queryset = queryset.filter(pk__in=ids)
            missing = set(ids) - set(queryset.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No failed job with id {', '.join(map(str, sorted(missing)))}.")
        jobs = list(queryset)
        replayed, refused = 0, 0
        for failed in progress(jobs, desc="Replaying", enabled=len(jobs) > 1, file=self.stderr):
            try:
                outcome = replay(failed, inline=options["inline"])
            except ReplayError as exc:
                refused += 1
                self.stderr.write(str(exc))
                continue
            replayed += 1
            if options["verbosity"] >= 2:
                self.stdout.write(outcome)
        self.stdout.write(f"Replayed {replayed} job(s); {refused} could not be replayed.")
        if ids and refused:
            raise CommandError(f"{refused} job(s) could not be replayed.")
