"""Scenario 5: djworkers' database backend vs django-tasks-db's ``db_worker`` and a raw claim loop, SQLite and PostgreSQL."""

from __future__ import annotations

import time

from .. import peers
from ..harness import Contender, Metric, Scenario, Unavailable
from ..peers.raw_db import RawDatabase
from . import register


@register
class Database(Scenario):
    name = "database"
    title = "Database backends: djworkers vs django-tasks-db vs a raw claim loop"
    description = (
        "One process enqueues up to N jobs one by one (or for a few seconds) through the "
        "ORM-backed queue (timed: enqueue, with that process's CPU per enqueue), "
        "then one worker process (djworkers `queue_consumer --burst -t 1`, django-tasks-db "
        "`db_worker --batch`) drains them; each job INCRs a Redis counter; `cpu_us_per_job` is the "
        "worker's CPU per job. The database is a per-run SQLite file or a per-run PostgreSQL "
        "database on the local server. Raw ceilings (`benchmarks/peers/raw_db.py`): a psycopg "
        "loop that claims one row with `FOR UPDATE SKIP LOCKED`, INCRs and deletes the row in one "
        "transaction, and a sqlite3 loop doing the same in a `BEGIN IMMEDIATE` transaction; "
        "their enqueue is one INSERT."
    )
    metrics = (
        Metric("drain_jobs_per_s", "jobs/s"),
        Metric("cpu_us_per_job", "µs", higher_is_better=False),
        Metric("enqueue_jobs_per_s", "jobs/s"),
        Metric("cpu_us_per_enqueue", "µs", higher_is_better=False),
        Metric("jobs_queued", "jobs"),
        Metric("jobs_done", "jobs"),
    )

    def contenders(self, run):
        count = run.count(5_000, 300)
        cap = run.count(6, 1)  # seconds of draining at most
        enqueue_cap = run.count(3, 1)  # seconds of enqueueing at most
        rows = []
        for db in ("sqlite", "postgres"):
            note = "" if db == "sqlite" or run.postgres else run.postgres_reason
            for name, role in (
                (f"djworkers database ({db})", "djworkers"),
                (f"django-tasks-db ({db})", "peer"),
                (f"raw {db}", "ceiling"),
            ):
                rows.append(
                    Contender(
                        name,
                        role,
                        db,
                        {"peer": name, "db": db, "count": count, "cap": cap, "enqueue_cap": enqueue_cap, "skip": note},
                    )
                )
        return rows

    def measure(self, contender, params, child):
        if params["skip"]:
            raise Unavailable(params["skip"])
        peer = peers.get(params["peer"])
        raw = isinstance(peer, RawDatabase)
        command, env = peer.worker(1, child)
        child.flush()
        clear = peer.clear if raw else clear_database_queues
        clear()
        enqueue = peer.enqueuer("incr")
        count, started, cpu = 0, time.perf_counter(), time.process_time()
        while count < params["count"] and time.perf_counter() - started < params["enqueue_cap"]:
            for _ in range(50):
                enqueue()
            count += 50
        enqueue_rate = count / (time.perf_counter() - started)
        enqueue_cpu = (time.process_time() - cpu) / count * 1e6
        if not raw:
            from django.db import connections

            connections.close_all()  # SQLite: let the worker have the file
        process = child.spawn(command, env)
        try:
            drained = child.drain_rate(count, params["cap"], [process], workers=[process])
        finally:
            child.stop(process)
        clear()
        return {
            "drain_jobs_per_s": drained["jobs_per_s"],
            "cpu_us_per_job": drained.get("cpu_us_per_job"),
            "enqueue_jobs_per_s": enqueue_rate,
            "cpu_us_per_enqueue": enqueue_cpu,
            "jobs_queued": count,
            "jobs_done": drained["jobs_done"],
        }


def clear_database_queues() -> None:
    """Empty both libraries' tables so each measurement starts from an empty queue."""
    try:
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.all().delete()
    except ImportError:
        pass
    try:
        from djworkers.queue import get_backend

        get_backend().flush()
    except (ImportError, AttributeError):
        pass
    except Exception as exc:  # the redis backend selected by mistake, a missing table: say which
        raise RuntimeError(f"flushing the djworkers queue failed: {exc}") from exc
