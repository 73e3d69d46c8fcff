"""Jobs used by the core runtime tests, registered directly in the core registry.

They do not go through any front door (so the runtime is tested on its own) and
leave evidence in files, because the worker tests run them in subprocesses.
Imported by ``tests/testapp/management/commands/test_worker.py`` and by tests.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.db import connection

from djworkers.registry import Job, registry

DOOR = "core-tests"


def touch(path: str, text: str = "done") -> str:
    """Write ``text`` and this process id to ``path``: the job's visible side effect."""
    Path(path).write_text(f"{text} {os.getpid()}")
    return text


def sleep_then_touch(seconds: float, started: str, done: str) -> float:
    """Mark ``started``, sleep, then mark ``done`` (absent if the job was cut short)."""
    Path(started).write_text(str(os.getpid()))
    time.sleep(seconds)
    Path(done).write_text(str(os.getpid()))
    return seconds


def fail_if_exists(flag: str, done: str | None = None) -> str:
    """Raise while ``flag`` exists; once it is gone, succeed and touch ``done`` (if given)."""
    if os.path.exists(flag):
        raise RuntimeError(f"flag {flag} is set")
    if done:
        touch(done)
    return "ok"


def query_db() -> int:
    """Touch the database the way real jobs do; returns the number of failed jobs."""
    from djworkers.models import FailedJob

    return FailedJob.objects.count()


def backend_pid() -> int | None:
    """The PostgreSQL backend process of this thread's connection (None elsewhere)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


for _name, _func in (
    ("core.touch", touch),
    ("core.sleep_then_touch", sleep_then_touch),
    ("core.fail_if_exists", fail_if_exists),
    ("core.query_db", query_db),
    ("core.backend_pid", backend_pid),
):
    registry.register(Job.declare(_name, _func, door=DOOR))


def close_db() -> None:
    """Close this thread's connection (tests end persistent connections so the test DB can be dropped)."""
    connection.close()


registry.register(Job.declare("core.close_db", close_db, door=DOOR))
