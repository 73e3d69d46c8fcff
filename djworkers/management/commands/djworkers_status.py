"""``manage.py djworkers_status``: queue depths, failed jobs, cache freshness; a health check."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from djworkers.monitoring.status import StatusOptions, collect
from djworkers.runtime.cli import non_negative_int, positive_float


def format_cell(value: object) -> str:
    if value is None:
        return "-"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    text = str(value).strip().splitlines()[0] if str(value).strip() else ""
    return text if len(text) <= 60 else text[:57] + "..."


class Command(BaseCommand):
    help = (
        "Show what djworkers is doing: per queue the jobs ready, scheduled, in flight and "
        "failed; the age of each periodic-cache (dumbwaiter) value against its frequency; "
        "jobs processed and failed in the last hour. Exits with status 1 when something is "
        "unhealthy (a backend unreachable, a cached value stale or never computed, more "
        "failed jobs than --max-failed), so it can serve as a health check."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", help="Print the status as JSON (the same dict the admin dashboard uses)."
        )
        parser.add_argument(
            "--max-failed",
            type=non_negative_int,
            default=None,
            metavar="N",
            help="Unhealthy when more than N jobs are in the failed-job store "
            "(default: failed jobs are reported, not judged).",
        )
        parser.add_argument(
            "--stale-factor",
            type=positive_float,
            default=2.0,
            metavar="X",
            help="A cached value older than X times its frequency is stale "
            "(default 2: one missed run is tolerated, two are not).",
        )

    def handle(self, *args, **options):
        status = collect(StatusOptions(max_failed=options["max_failed"], stale_factor=options["stale_factor"]))
        if options["json"]:
            self.stdout.write(json.dumps(status, indent=2, default=str))
        else:
            self.write_text(status)
        if not status["healthy"]:
            raise CommandError(f"djworkers is unhealthy: {len(status['problems'])} problem(s).", returncode=1)

    def write_text(self, status: dict) -> None:
        for section in status["sections"]:
            mark = self.style.SUCCESS("OK") if section["healthy"] else self.style.ERROR("PROBLEM")
            self.stdout.write(f"{section['title']}: {mark}")
            columns = section["columns"]
            if columns and section["rows"]:
                table = [[c["label"] for c in columns]] + [
                    [format_cell(row.get(c["key"])) for c in columns] for row in section["rows"]
                ]
                widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
                for line in table:
                    self.stdout.write(
                        "  " + "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                    )
            for note in section["notes"]:
                self.stdout.write(f"  {note}")
            for problem in section["problems"]:
                self.stdout.write("  " + self.style.ERROR(problem))
            self.stdout.write("")
        rate = status["throughput"]
        if rate.get("error"):
            self.stdout.write(f"Last {rate['window_minutes']} minutes: unknown ({rate['error']}).")
        else:
            self.stdout.write(
                f"Last {rate['window_minutes']} minutes: {rate['processed']} job(s) processed, {rate['failed']} failed."
            )
        if status["healthy"]:
            self.stdout.write(self.style.SUCCESS("Healthy."))
        else:
            self.stdout.write(self.style.ERROR(f"Unhealthy: {len(status['problems'])} problem(s)."))
