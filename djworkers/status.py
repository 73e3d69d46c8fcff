"""What djworkers is doing right now, as one dict: :func:`collect`.

``manage.py djworkers_status`` prints it (or its JSON), the admin dashboard
renders it, and the example project polls it. Each front door contributes one
*section* through a provider listed in :data:`PROVIDERS`; a door that is not
installed (its module does not import) is skipped, so a new door adds one line
there and the command, the JSON and the dashboard show it without changes.

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
from collections.abc import Callable
from typing import Any


from . import conf
from .loading import load_object

logger = logging.getLogger("djworkers.status")

#: Schema version of :func:`collect`'s result (bumped on incompatible changes).
SCHEMA_VERSION = 1

#: One provider per front door, ``provider(options) -> section dict or None``.
PROVIDERS: list[str] = [
    "djworkers.status.dumbwaiter_section",
    "djworkers.status.queue_section",
    "djworkers.status.failed_section",
]


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


def section(door: str, title: str, columns: list[dict[str, str]], rows: list[dict[str, Any]],
            problems: list[str] | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    problems = list(problems or [])
    return {
        "door": door,
        "title": title,
        "healthy": not problems,
        "problems": problems,
        "columns": columns,
        "rows": rows,
        "notes": list(notes or []),
    }


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def _door_missing(exc: ImportError, module: str) -> bool:
    """True when ``exc`` means "that door is not built/installed", not a bug inside it."""
    return bool(exc.name) and (module == exc.name or module.startswith(exc.name + "."))


# -- providers ---------------------------------------------------------------------
def dumbwaiter_section(options: StatusOptions) -> dict[str, Any] | None:
    """Freshness of each periodic-cache function: age against frequency."""
    try:
        from . import dumbwaiter
        status = dumbwaiter.status
    except (ImportError, AttributeError) as exc:
        if isinstance(exc, ImportError) and not _door_missing(exc, "djworkers.dumbwaiter"):
            raise
        return None
    problems: list[str] = []
    rows = []
    try:
        entries = status()
    except Exception as exc:  # database down, bad settings: report, do not crash the health check
        return section("dumbwaiter", "Periodic cache (dumbwaiter)", [], [],
                       [f"dumbwaiter: cannot read status: {type(exc).__name__}: {exc}"])
    for entry in entries:
        age = entry.get("age")
        frequency = entry.get("frequency")
        if isinstance(frequency, (int, float)):
            stale = age is None or age > options.stale_factor * frequency
        else:
            stale = bool(entry.get("stale", age is None))
        row = {
            "name": entry.get("name"),
            "frequency": frequency,
            "age": round(age, 1) if isinstance(age, (int, float)) else None,
            "stale": bool(stale) or age is None,
            "last_error": entry.get("last_error") or "",
            "last_error_at": _iso(entry.get("last_error_at")),
            "running_on": entry.get("running_on") or "",
        }
        rows.append(row)
        if age is None:
            problems.append(f"dumbwaiter: {row['name']!r} has never been computed (is run_dumbwaiter running?)")
        elif row["stale"]:
            problems.append(
                f"dumbwaiter: {row['name']!r} is stale: last computed {age:.0f}s ago, every {frequency}s"
            )
    notes = [] if rows else ['No functions in DJWORKERS["DUMBWAITER"]["FUNCTIONS"].']
    columns = [column("name", "Function"), column("frequency", "Every (s)"), column("age", "Age (s)"),
               column("stale", "Stale"), column("last_error", "Last error"),
               column("last_error_at", "Last error at"), column("running_on", "Running on")]
    return section("dumbwaiter", "Periodic cache (dumbwaiter)", columns, rows, problems, notes)


def queue_names() -> list[str]:
    """Queues worth reporting: the default, every registered command's, every failed job's."""
    from .models import FailedJob
    from .registry import registry

    names = {conf.section("QUEUE")["NAME"]}
    names.update(job.queue for job in registry.by_door("queue") if job.queue)
    try:
        names.update(
            FailedJob.objects.filter(transport="queue").exclude(queue="")
            .values_list("queue", flat=True).distinct()
        )
    except Exception:
        logger.debug("failed-job store unreadable while listing queues", exc_info=True)
    return sorted(names)


def failed_counts(transport: str) -> dict[str, int]:
    """Failed jobs per queue for one transport."""
    from django.db.models import Count

    from .models import FailedJob

    rows = FailedJob.objects.filter(transport=transport).values("queue").annotate(n=Count("id"))
    return {row["queue"]: row["n"] for row in rows}


def queue_section(options: StatusOptions) -> dict[str, Any] | None:
    """Depth, scheduled, in-flight and failed per queue of the configured backend."""
    try:
        from .queue import build_backend
    except ImportError as exc:
        if not _door_missing(exc, "djworkers.queue"):
            raise
        return None
    backend_name = conf.section("QUEUE")["BACKEND"]
    title = f"Queue ({backend_name} backend)"
    problems: list[str] = []
    names = queue_names()
    failed: dict[str, int] | None
    try:
        failed = failed_counts("queue")
    except Exception as exc:
        failed = None  # unknown, not zero
        problems.append(f"queue: cannot read failed jobs: {type(exc).__name__}: {exc}")
    rows = []
    backend = None
    try:
        # A backend of our own (closed below), not the process's shared one.
        backend = build_backend(names)
        for name in names:
            stats = backend.stats(queue=name)
            rows.append({
                "queue": name,
                "ready": stats.get("ready", 0),
                "scheduled": stats.get("scheduled", 0),
                "in_flight": stats.get("in_flight", 0),
                "failed": None if failed is None else failed.get(name, 0),
            })
    except Exception as exc:
        problems.append(f"queue: {backend_name} backend unreachable: {type(exc).__name__}: {exc}")
        rows = [{"queue": n, "ready": None, "scheduled": None, "in_flight": None,
                 "failed": None if failed is None else failed.get(n, 0)} for n in names]
    finally:
        close = getattr(backend, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                logger.debug("closing the status backend failed", exc_info=True)
    columns = [column("queue", "Queue"), column("ready", "Ready"), column("scheduled", "Scheduled"),
               column("in_flight", "In flight"), column("failed", "Failed")]
    return section("queue", title, columns, rows, problems)


def failed_section(options: StatusOptions) -> dict[str, Any] | None:
    """The failed-job store across every transport, by reason (quarantined frames too)."""
    from django.db.models import Count

    from .models import FailedJob

    try:
        rows = list(
            FailedJob.objects.values("transport", "reason").annotate(count=Count("id"))
            .order_by("transport", "reason")
        )
    except Exception as exc:
        return section("failed", "Failed jobs", [], [],
                       [f"failed jobs: cannot read the store: {type(exc).__name__}: {exc}"])
    notes = [] if rows else ["No failed jobs."]
    problems = []
    # Judged here, over the whole store (every transport, quarantined frames too), as
    # --max-failed promises; the queue section only counts the queue transport's.
    total = sum(row["count"] for row in rows)
    if options.max_failed is not None and total > options.max_failed:
        problems.append(f"failed jobs: {total} failed job(s), more than --max-failed {options.max_failed}")
    columns = [column("transport", "Transport"), column("reason", "Reason"), column("count", "Count")]
    return section("failed", "Failed jobs", columns, rows, problems, notes)


def throughput(minutes: int = 60) -> dict[str, Any]:
    """Jobs processed/failed per minute over the last ``minutes`` (from JobStat rows)."""
    from .stats import per_minute

    try:
        series = per_minute(minutes)
    except Exception as exc:
        return {"window_minutes": minutes, "processed": 0, "failed": 0, "per_minute": [],
                "error": f"{type(exc).__name__}: {exc}"}
    return {
        "window_minutes": minutes,
        "processed": sum(p["processed"] for p in series),
        "failed": sum(p["failed"] for p in series),
        "per_minute": [{**p, "minute": p["minute"].isoformat()} for p in series],
        "error": None,
    }


# -- collecting --------------------------------------------------------------------
def providers() -> list[Callable[[StatusOptions], dict[str, Any] | None]]:
    return [load_object(path, "djworkers.status.PROVIDERS") for path in PROVIDERS]


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
            name = getattr(provider, "__name__", repr(provider))
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
