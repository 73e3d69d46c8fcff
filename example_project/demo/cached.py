"""Periodic-cache (dumbwaiter) functions, declared in ``DJWORKERS["DUMBWAITER"]["FUNCTIONS"]``.

``run_dumbwaiter`` computes them on a schedule; the home page reads the
results with ``dumbwaiter.get_value(...)`` and never waits for them.
"""

from __future__ import annotations

import datetime as dt
import time

from django.db.models import Count, Sum


def server_time() -> str:
    """Cheap, every 5 s: shows the runner is alive and values move."""
    return dt.datetime.now(dt.UTC).strftime("%H:%M:%S UTC")


def upload_stats() -> dict:
    """Expensive on purpose, every 15 s: a slow count over the Upload table.

    The two-second sleep stands for the report query a real site would not want
    to run in a request.
    """
    from .models import Upload

    time.sleep(2)
    figures = Upload.objects.aggregate(uploads=Count("id"), processed=Count("processed_at"), words=Sum("words"))
    figures["words"] = figures["words"] or 0
    figures["computed_at"] = dt.datetime.now(dt.UTC).strftime("%H:%M:%S UTC")
    return figures
