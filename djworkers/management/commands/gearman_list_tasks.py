"""``manage.py gearman_list_tasks``: the registered Gearman jobs by queue (G8)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from djworkers.exceptions import DjworkersImproperlyConfigured


class Command(BaseCommand):
    help = (
        "List the jobs registered with @gearman_job, grouped by queue, with the function name each "
        "has on gearmand (DJWORKERS['GEARMAN']['JOB_NAME']) when it differs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("-q", "--queue", default=None, help="Only this queue.")

    def handle(self, *args, **options) -> None:
        from djworkers.gearman.decorators import gearman_jobs
        from djworkers.gearman.naming import server_name

        jobs = gearman_jobs(options["queue"])
        if not jobs:
            self.stdout.write(
                "No Gearman jobs registered."
                if not options["queue"]
                else f"No Gearman jobs in queue {options['queue']!r}."
            )
            return
        by_queue: dict[str, list] = {}
        for job in jobs:
            by_queue.setdefault(job.queue or "default", []).append(job)
        for queue in sorted(by_queue):
            self.stdout.write(f"Queue: {queue}")
            for job in by_queue[queue]:
                try:
                    remote = server_name(job.name)
                except DjworkersImproperlyConfigured as exc:
                    raise CommandError(str(exc)) from exc
                suffix = f"  (on gearmand: {remote})" if remote != job.name else ""
                self.stdout.write(f"  {job.name}{suffix}  [{job.path}]")
