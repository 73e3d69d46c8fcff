"""The queue's status section: depth, scheduled, in-flight and failed jobs per queue."""

from __future__ import annotations

import logging
from typing import Any

from .. import conf
from ..monitoring.status import StatusOptions, column, failed_counts, section

logger = logging.getLogger("djworkers.status")


def queue_names() -> list[str]:
    """Queues worth reporting: the default, every registered command's, every failed job's."""
    from ..models import FailedJob
    from ..registry import registry

    names = {conf.section("QUEUE")["NAME"]}
    names.update(job.queue for job in registry.by_door("queue") if job.queue)
    try:
        names.update(
            FailedJob.objects.filter(door="queue").exclude(queue="").values_list("queue", flat=True).distinct()
        )
    except Exception:
        logger.debug("failed-job store unreadable while listing queues", exc_info=True)
    return sorted(names)


def queue_section(options: StatusOptions) -> dict[str, Any]:
    from .api import build_backend

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
            rows.append(
                {
                    "queue": name,
                    "ready": stats.get("ready", 0),
                    "scheduled": stats.get("scheduled", 0),
                    "in_flight": stats.get("in_flight", 0),
                    "failed": None if failed is None else failed.get(name, 0),
                }
            )
    except Exception as exc:
        problems.append(f"queue: {backend_name} backend unreachable: {type(exc).__name__}: {exc}")
        rows = [
            {
                "queue": n,
                "ready": None,
                "scheduled": None,
                "in_flight": None,
                "failed": None if failed is None else failed.get(n, 0),
            }
            for n in names
        ]
    finally:
        close = getattr(backend, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                logger.debug("closing the status backend failed", exc_info=True)
    columns = [
        column("queue", "Queue"),
        column("ready", "Ready"),
        column("scheduled", "Scheduled"),
        column("in_flight", "In flight"),
        column("failed", "Failed"),
    ]
    return section("queue", title, columns, rows, problems)
