"""What djworkers is doing right now, as one dict: :func:`collect`.

``manage.py djworkers_status`` prints it (or its JSON), the admin dashboard
renders it, and the example project polls it. Each front door contributes one
*section* from its descriptor's ``status()`` (:mod:`djworkers.doors`), and the
core adds the failed-job store's, so a new door shows up in the command, the
JSON and the dashboard without a change here.

A section is a plain dict, the same in JSON and in templates::

    {"door": "queue", "title": "Queue (database backend)", "healthy": True,
     "problems": [], "columns": [{"key": "queue", "label": "Queue"}, ...],
     "rows": [{"queue": "default", "ready": 3, ...}], "notes": []}
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..doors import all_doors

logger = logging.getLogger("djworkers.status")

#: Schema version of :func:`collect`'s result (bumped on incompatible changes).
SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True)
class StatusOptions:
    """What counts as unhealthy.

    ``max_failed``: more failed jobs than this (in the failed-job store) is
    unhealthy; ``None`` reports them without judging (they stay until replayed
    or purged, so a health check that fails on any of them never recovers by
    itself). ``stale_factor``: a periodic-cache value older than
    ``stale_factor * frequency`` is stale (2: one late run is tolerated).
    """

    max_failed: int | None = None
    stale_factor: float = 2.0
    chart_minutes: int = 60


def column(key: str, label: str) -> dict[str, str]:
    return {"key": key, "label": label}


def section(
    door: str,
    title: str,
    columns: list[dict[str, str]],
    rows: Sequence[Mapping[str, Any]],
    problems: list[str] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    problems = list(problems or [])
    return {
        "door": door,
        "title": title,
        "healthy": not problems,
        "problems": problems,
        "columns": columns,
        "rows": list(rows),
        "notes": list(notes or []),
    }


def iso_time(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def failed_counts(door: str) -> dict[str, int]:
    """Failed jobs per queue for one door."""
    from django.db.models import Count

    from ..models import FailedJob

    rows = FailedJob.objects.filter(door=door).values("queue").annotate(n=Count("id"))
    return {row["queue"]: row["n"] for row in rows}


def failed_section(options: StatusOptions) -> dict[str, Any] | None:
    """The failed-job store across every door and backend, by reason (quarantined frames too)."""
    from django.db.models import Count

    from ..models import FailedJob

    try:
        rows = list(
            FailedJob.objects.values("door", "backend", "reason")
            .annotate(count=Count("id"))
            .order_by("door", "backend", "reason")
        )
    except Exception as exc:
        return section(
            "failed", "Failed jobs", [], [], [f"failed jobs: cannot read the store: {type(exc).__name__}: {exc}"]
        )
    notes = [] if rows else ["No failed jobs."]
    problems = []
    # Judged here, over the whole store (every door, quarantined frames too), as
    # --max-failed promises; a door's section only counts its own.
    total = sum(row["count"] for row in rows)
    if options.max_failed is not None and total > options.max_failed:
        problems.append(f"failed jobs: {total} failed job(s), more than --max-failed {options.max_failed}")
    columns = [
        column("door", "Door"),
        column("backend", "Backend"),
        column("reason", "Reason"),
        column("count", "Count"),
    ]
    return section("failed", "Failed jobs", columns, rows, problems, notes)


def throughput(minutes: int = 60) -> dict[str, Any]:
    """Jobs processed/failed per minute over the last ``minutes`` (from JobStat rows)."""
    from .stats import per_minute

    try:
        series = per_minute(minutes)
    except Exception as exc:
        return {
            "window_minutes": minutes,
            "processed": 0,
            "failed": 0,
            "per_minute": [],
            "error": f"{type(exc).__name__}: {exc}",
        }
    return {
        "window_minutes": minutes,
        "processed": sum(p["processed"] for p in series),
        "failed": sum(p["failed"] for p in series),
        "per_minute": [{**p, "minute": p["minute"].isoformat()} for p in series],
        "error": None,
    }


# -- collecting --------------------------------------------------------------------
def providers() -> list[Callable[[StatusOptions], dict[str, Any] | None]]:
    """Each door's ``status`` (in door order), then the failed-job store's section."""
    return [*(door.status for door in all_doors()), failed_section]


def collect(options: StatusOptions | None = None, **kwargs: Any) -> dict[str, Any]:
    """Every door's section plus throughput; ``healthy`` is False if any section has a problem.

    Keyword arguments build :class:`StatusOptions` (``collect(max_failed=0)``).
    Never raises for an unreachable backend or database: that is a problem in
    the result, so a health check can report it.
    """
    options = options or StatusOptions(**kwargs)
    sections = []
    for provider in providers():
        try:
            result = provider(options)
        except Exception as exc:
            owner = getattr(provider, "__self__", None)
            name = str(getattr(owner, "name", None) or getattr(provider, "__name__", repr(provider)))
            logger.exception("status provider %s raised", name)
            result = section(name, name, [], [], [f"{name}: {type(exc).__name__}: {exc}"])
        if result is not None:
            sections.append(result)
    problems = [p for s in sections for p in s["problems"]]
    return {
        "version": SCHEMA_VERSION,
        "generated_at": dt.datetime.fromtimestamp(time.time(), tz=dt.UTC).isoformat(),
        "healthy": not problems,
        "problems": problems,
        "sections": sections,
        "throughput": throughput(options.chart_minutes),
    }
