"""The ztask door's status section: per node, messages received, pending, running and failed."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from ..monitoring.status import StatusOptions, column, failed_counts, iso_time, section
from .door import DOOR

logger = logging.getLogger("djworkers.status")

#: A node not seen for this long (it updates its row every second) is reported as down.
NODE_STALE_SECONDS = 15


def ztask_section(options: StatusOptions) -> dict[str, Any]:
    import time

    from django.db.models import Count, Q
    from django.utils import timezone

    from .models import ZtaskNode, ZtaskTask

    problems: list[str] = []
    columns = [
        column("node", "Node"),
        column("state", "State"),
        column("received", "Received"),
        column("pending", "Pending"),
        column("scheduled", "Scheduled"),
        column("running", "Running"),
        column("failed", "Failed"),
        column("last_seen", "Last seen"),
    ]
    try:
        now = time.time()
        nodes = list(ZtaskNode.objects.order_by("queue"))
        counts = {
            row["queue"]: row
            for row in ZtaskTask.objects.values("queue").annotate(
                running=Count("id", filter=Q(lease_expires__gt=now)),
                scheduled=Count("id", filter=Q(available_at__gt=now) & ~Q(lease_expires__gt=now)),
                pending=Count("id", filter=Q(available_at__lte=now) & ~Q(lease_expires__gt=now)),
            )
        }
        failed = failed_counts(DOOR)
    except Exception as exc:
        return section(DOOR, "ztask", columns, [], [f"ztask: cannot read the database: {type(exc).__name__}: {exc}"])
    rows = []
    stale = timezone.now() - dt.timedelta(seconds=NODE_STALE_SECONDS)
    for node in nodes:
        row: Mapping[str, Any] = counts.get(node.queue, {})
        state = "stopped" if node.stopped else ("up" if node.last_seen and node.last_seen >= stale else "down")
        if state == "down":
            problems.append(f"ztask: node {node.url} on {node.host} not seen since {node.last_seen}")
        rows.append(
            {
                "node": f"{node.url} ({node.host})",
                "state": state,
                "received": node.received,
                "pending": row.get("pending", 0),
                "scheduled": row.get("scheduled", 0),
                "running": row.get("running", 0),
                "failed": failed.get(node.queue, 0),
                "last_seen": iso_time(node.last_seen),
            }
        )
    notes = [] if nodes else ["No ztaskd node has run yet."]
    other = sum(n for queue, n in failed.items() if queue not in {node.queue for node in nodes})
    if other:
        notes.append(f"{other} failed ztask task(s) recorded outside any node (in-process runs).")
    return section(DOOR, "ztask", columns, rows, problems, notes)
