"""The django.tasks status section: each djworkers ``TASKS`` backend, its queues and failed tasks."""

from __future__ import annotations

from typing import Any

from ..monitoring.status import StatusOptions, column, section
from .checks import djworkers_entries
from .results import SHIM_NAME


def tasks_section(options: StatusOptions) -> dict[str, Any] | None:
    entries = djworkers_entries()
    if not entries:
        return None
    from django.db.models import Count

    from ..models import FailedJob
    from ..queue.api import build_backend

    problems: list[str] = []
    try:
        failed = dict(FailedJob.objects.filter(name=SHIM_NAME).order_by().values_list("queue").annotate(n=Count("id")))
    except Exception as exc:
        failed = None
        problems.append(f"tasks: cannot read failed tasks: {type(exc).__name__}: {exc}")
    rows = []
    for alias, params in entries.items():
        queues = sorted(params.get("QUEUES") or ["default"])
        backend = None
        try:
            backend = build_backend(queues)
            stats = {queue: backend.stats(queue=queue) for queue in queues}
        except Exception as exc:
            problems.append(f"tasks: {alias}: queue unreachable: {type(exc).__name__}: {exc}")
            stats = {}
        finally:
            if backend is not None:
                backend.close()
        for queue in queues:
            numbers = stats.get(queue)
            rows.append(
                {
                    "alias": alias,
                    "backend": params["BACKEND"].rsplit(".", 1)[-1],
                    "queue": queue,
                    "ready": None if numbers is None else numbers.get("ready", 0),
                    "scheduled": None if numbers is None else numbers.get("scheduled", 0),
                    "in_flight": None if numbers is None else numbers.get("in_flight", 0),
                    "failed": None if failed is None else failed.get(queue, 0),
                }
            )
    columns = [
        column("alias", "TASKS alias"),
        column("backend", "Backend"),
        column("queue", "Queue"),
        column("ready", "Ready"),
        column("scheduled", "Scheduled"),
        column("in_flight", "In flight"),
        column("failed", "Failed tasks"),
    ]
    return section(
        "tasks",
        "Django tasks",
        columns,
        rows,
        problems,
        notes=["ready/scheduled/in flight count the queue's own jobs too (one queue, one consumer)"],
    )
