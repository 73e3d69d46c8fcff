"""The slacker status section: chains in flight, done and failed per worker."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from ..monitoring.status import StatusOptions, column, iso_time, section

logger = logging.getLogger("djworkers.status")

TITLE = "Offloaded chains (slacker)"


def _last_hour() -> dict[str, tuple[int, int]]:
    """(done, failed) per worker in the last 60 minutes of job statistics, every process added up."""
    from django.db.models import Sum

    from ..monitoring.models import JobStat
    from ..monitoring.stats import minute_datetime

    first = minute_datetime(int(time.time() // 60) - 59)
    rows = (
        JobStat.objects.filter(door="slacker", minute__gte=first)
        .values("queue")
        .annotate(p=Sum("processed"), f=Sum("failed"))
    )
    return {row["queue"]: (int(row["p"] or 0), int(row["f"] or 0)) for row in rows}


def slacker_section(options: StatusOptions) -> dict[str, Any]:
    from .. import conf
    from .runner import tracker

    problems: list[str] = []
    notes = [
        "In flight, done and errors count the chains of the process showing this page; "
        "the last-hour columns add up every process (job statistics)."
    ]
    local = tracker.snapshot()
    try:
        hourly = _last_hour()
    except Exception as exc:
        hourly = {}
        problems.append(f"slacker: cannot read job statistics: {type(exc).__name__}: {exc}")
    rows = []
    for worker in sorted(set(local) | set(hourly)):
        mine = local.get(worker, {})
        done_hour, failed_hour = hourly.get(worker, (None, None))
        stamp = mine.get("last_error_at")
        rows.append(
            {
                "worker": worker,
                "in_flight": mine.get("in_flight", 0),
                "done": mine.get("done", 0),
                "errors": mine.get("errors", 0),
                "done_last_hour": done_hour,
                "errors_last_hour": failed_hour,
                "last_error": mine.get("last_error", ""),
                "last_error_at": iso_time(dt.datetime.fromtimestamp(stamp, tz=dt.UTC)) if stamp else None,
            }
        )
    if not rows:
        notes.append(f"No chains run yet; the default worker is {conf.section('SLACKER')['WORKER']!r}.")
    columns = [
        column("worker", "Worker"),
        column("in_flight", "In flight"),
        column("done", "Done"),
        column("errors", "Errors"),
        column("done_last_hour", "Done (last hour)"),
        column("errors_last_hour", "Errors (last hour)"),
        column("last_error", "Last error"),
        column("last_error_at", "Last error at"),
    ]
    return section("slacker", TITLE, columns, rows, problems, notes)
