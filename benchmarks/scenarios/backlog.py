"""Scenario 8: does the drain rate hold when 100,000 jobs are queued?

A queue whose claim sorts or scans the backlog slows as it grows: the first
jobs of a deep queue drain slower than the last. The scenario queues the
whole depth, measures the first 10% of the drain, then jumps to the last 10%
and measures it, and reports both rates, their ratio and the CPU per job.

Jumping instead of draining the 80% between keeps a full run affordable when
the claim is slow (tens of jobs per second at depth would take many minutes):
the worker is stopped, every job but the last 10% in claim order is deleted
(as draining them would have), and a fresh worker drains the rest. On
PostgreSQL the 80,000 rows deleted at once would leave as many dead index
entries at the head of the claim order, which a drain spread over minutes
would not (autovacuum runs meanwhile): the table is vacuumed after the jump.
Each window is capped in time; its rate is over the jobs it did.
"""

from __future__ import annotations

from .. import peers, workload
from ..harness import Contender, Metric, Scenario, Unavailable
from . import register

#: (contender, peer driver, database or "" for Redis, role)
CONTENDERS = [
    ("djworkers redis", "djworkers", "", "djworkers"),
    ("djworkers database (sqlite)", "djworkers database (sqlite)", "sqlite", "djworkers"),
    ("djworkers database (postgres)", "djworkers database (postgres)", "postgres", "djworkers"),
    # --quick runs only the two database rows above
    ("raw redis", "raw redis", "", "ceiling"),
    ("raw sqlite", "raw sqlite", "sqlite", "ceiling"),
    ("raw postgres", "raw postgres", "postgres", "ceiling"),
]


@register
class Backlog(Scenario):
    name = "backlog"
    title = "Deep backlog: the drain rate over the first and the last 10% of a deep queue"
    description = (
        "N INCR jobs are queued in bulk (100,000 in a full run), then one worker process "
        "(`queue_consumer --burst -t 1`; the raw loops of `drain` and `database`) drains the first "
        "10% (`first_jobs_per_s`). The worker is stopped, every job but the last 10% in claim "
        "order is deleted, and a new worker drains those (`last_jobs_per_s`). `last/first` near "
        "1.0: the rate does not depend on the depth (the target is ≥ 1/1.3 and ≤ 1.3). Each "
        "window is capped in time (the rate is then over the jobs done); CPU per job is the "
        "worker's over each window."
    )
    metrics = (
        Metric("last_over_first", "×", digits=2),
        Metric("first_jobs_per_s", "jobs/s"),
        Metric("last_jobs_per_s", "jobs/s"),
        Metric("first_cpu_us_per_job", "µs", higher_is_better=False),
        Metric("last_cpu_us_per_job", "µs", higher_is_better=False),
        Metric("depth", "jobs"),
    )
    ratio_metric = "first_jobs_per_s"
    #: a 100,000-job fill and two windows take about half a minute per row: one repetition keeps
    #: `make bench` affordable (the ratio is within one measurement, the same worker and machine)
    repetitions = 1

    def contenders(self, run):
        depth = run.count(100_000, 2_000)
        cap = run.count(15, 1)  # seconds per window at most
        rows = []
        for name, peer, db, role in CONTENDERS:
            if run.quick and (role == "ceiling" or not db):
                continue  # the smoke run keeps to djworkers' database backend (the raw loops run elsewhere)
            skip = run.postgres_reason if db == "postgres" and not run.postgres else ""
            rows.append(
                Contender(name, role, db or "redis", {"peer": peer, "db": db, "depth": depth, "cap": cap, "skip": skip})
            )
        return rows

    def measure(self, contender, params, child):
        if params["skip"]:
            raise Unavailable(params["skip"])
        peer = peers.get(params["peer"])
        command, env = peer.worker(1, child)
        depth = params["depth"]
        window = max(1, depth // 10)
        child.flush()
        clear(peer)
        peer.bulk("incr", depth)
        queued = peer.queued()
        if queued is not None and queued < depth:
            raise RuntimeError(f"{peer.name}: {queued} of {depth} jobs queued after the fill")
        close_django_connections()
        first = run_window(child, peer, command, env, window, params["cap"])
        keep_last(peer, window)
        close_django_connections()
        child.redis.set(workload.COUNTER, 0)
        last = run_window(child, peer, command, env, window, params["cap"])
        clear(peer)
        return {
            "last_over_first": last["jobs_per_s"] / first["jobs_per_s"],
            "first_jobs_per_s": first["jobs_per_s"],
            "last_jobs_per_s": last["jobs_per_s"],
            "first_cpu_us_per_job": first.get("cpu_us_per_job"),
            "last_cpu_us_per_job": last.get("cpu_us_per_job"),
            "depth": depth,
            "_extra": {"window": window, "first_done": first["jobs_done"], "last_done": last["jobs_done"]},
        }


def run_window(child, peer, command, env, window: int, cap: float) -> dict:
    """Start a worker, time ``window`` jobs (or ``cap`` seconds of them), stop it."""
    process = child.spawn(command, env)
    try:
        return child.drain_rate(window, cap, [process], workers=[process])
    finally:
        child.stop(process)


def close_django_connections() -> None:
    """SQLite: let the worker have the file (the fill and the trim used this process's connection)."""
    try:
        from django.db import connections
    except ImportError:
        return
    from django.conf import settings

    if settings.configured:
        connections.close_all()


def clear(peer) -> None:
    from ..peers.raw_db import RawDatabase
    from .database import clear_database_queues

    if isinstance(peer, RawDatabase):
        peer.clear()
    elif getattr(peer, "backend", "") == "database":
        clear_database_queues()
    # Redis: child.flush() emptied it


def keep_last(peer, keep: int) -> None:
    """Delete every queued job but the last ``keep`` in claim order (FIFO: the newest ones)."""
    from ..peers.raw import QUEUE_KEY, RawRedis
    from ..peers.raw_db import TABLE, RawDatabase

    if isinstance(peer, RawRedis):  # LPUSH in, BRPOP out: the newest are at the left
        workload.client().ltrim(QUEUE_KEY, 0, keep - 1)
    elif isinstance(peer, RawDatabase):
        cursor = peer.connection.execute(f"SELECT id FROM {TABLE} ORDER BY id DESC LIMIT 1 OFFSET {keep - 1}")
        row = cursor.fetchone()
        if row is not None:
            peer.connection.execute(f"DELETE FROM {TABLE} WHERE id < {int(row[0])}")
        if peer.db == "postgres":
            peer.connection.execute(f"VACUUM ANALYZE {TABLE}")
    elif peer.backend == "redis":  # djworkers: LPUSH in, RPOP out (redis_scripts)
        from djworkers.queue import get_backend

        backend = get_backend()
        ready = backend.keys(backend.queues[0]).ready_for(0)
        workload.client().ltrim(ready, 0, keep - 1)
    else:
        from djworkers.queue.models import QueueJob

        ids = QueueJob.objects.order_by("-id").values_list("id", flat=True)[keep - 1 : keep]
        if ids:
            QueueJob.objects.filter(id__lt=ids[0]).delete()
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(QueueJob._meta.db_table)}")
    remaining = peer.queued()
    if remaining is not None and remaining > keep:
        raise RuntimeError(f"{peer.name}: {remaining} jobs left after keeping the last {keep}")
