"""django.tasks through djworkers (T1) beside django-tasks-db's ``db_worker`` and djworkers' own queue door."""

from __future__ import annotations

import time

from .. import peers
from ..harness import Contender, Metric, Scenario, Unavailable
from . import register
from .database import clear_database_queues


@register
class DjangoTasks(Scenario):
    name = "tasks"
    title = "django.tasks: djworkers backends vs django-tasks-db and the queue door"
    description = (
        "One process enqueues up to N `@task` jobs one by one through `task.enqueue()` "
        "(the queue door: `@queue_command` calls), timed for at most 6 s: enqueue; djworkers' rows then go on, untimed, "
        "up to N (at most 20 s more), so that they all drain the same backlog; then one worker process "
        "drains them with one thread (djworkers `queue_consumer --burst -t 1`, django-tasks-db "
        "`db_worker --batch`); each job INCRs a Redis counter. djworkers.tasks stores every "
        "task's result (READY at enqueue, RUNNING, SUCCESSFUL), the queue door's jobs store none; "
        "its 'result=True' rows (not a target, for reading the others) store theirs too "
        "(`@queue_command(result=True)`): what the adapter costs beyond the record. "
        "Databases: a per-run SQLite file or PostgreSQL database; and the Redis queue."
    )
    metrics = (
        Metric("drain_jobs_per_s", "jobs/s"),
        Metric("enqueue_jobs_per_s", "jobs/s"),
        Metric("jobs_queued", "jobs"),
        Metric("jobs_done", "jobs"),
    )

    def contenders(self, run):
        # 10,000: a drain of 5,000 lasted about a second on Redis, too short for a steady rate
        count = run.count(10_000, 300)
        cap = run.count(8, 1)  # seconds of draining at most
        enqueue_cap = run.count(6, 1)  # seconds of timed enqueueing at most
        # then untimed, up to the full count: every contender of a group drains the same backlog (a
        # rate taken over a shorter drain counts its start, slower, for more: djworkers.tasks on a
        # database, ~700 enqueues/s, queued 4,300 in 6 s against the queue door's 10,000)
        fill_cap = run.count(20, 2)
        rows = []
        groups = {
            "sqlite": ("djworkers.tasks (sqlite)", "django-tasks-db (sqlite)", "djworkers database (sqlite)"),
            "postgres": ("djworkers.tasks (postgres)", "django-tasks-db (postgres)", "djworkers database (postgres)"),
            "redis": ("djworkers.tasks (redis)", "djworkers"),
        }
        for group, names in groups.items():
            note = run.postgres_reason if group == "postgres" and not run.postgres else ""
            for index, name in enumerate(names):
                door = name == "djworkers" or name.startswith("djworkers database")
                # the queue door is djworkers' own ceiling for the adapter, not a peer it loses to
                role = "djworkers" if index == 0 else "ceiling" if door else "peer"
                jobs = [("incr", ""), ("incr_stored", ", result=True")] if door else [("incr", "")]
                for job, suffix in jobs:
                    label = f"djworkers queue door{suffix} ({group})" if door else name
                    params = {
                        "peer": name,
                        "job": job,
                        "count": count,
                        "cap": cap,
                        "enqueue_cap": enqueue_cap,
                        # a peer that drains a fraction of its backlog within ``cap`` needs no more
                        "fill_cap": 0 if role == "peer" else fill_cap,
                    }
                    rows.append(Contender(label, role, group, {**params, "skip": note}))
        return rows

    def measure(self, contender, params, child):
        if params["skip"]:
            raise Unavailable(params["skip"])
        peer = peers.get(params["peer"])
        command, env = peer.worker(1, child)
        child.flush()
        clear_all()
        enqueue = peer.enqueuer(params["job"])
        for _ in range(20):  # connections, imports: then empty the queue again
            enqueue()
        clear_all()
        count, started = 0, time.perf_counter()
        while count < params["count"] and time.perf_counter() - started < params["enqueue_cap"]:
            for _ in range(50):
                enqueue()
            count += 50
        enqueue_rate = count / (time.perf_counter() - started)
        filling = time.perf_counter()
        while count < params["count"] and time.perf_counter() - filling < params["fill_cap"]:
            for _ in range(50):
                enqueue()
            count += 50
        from django.db import connections

        connections.close_all()  # SQLite: let the worker have the file
        process = child.spawn(command, env)
        try:
            drained = child.drain_rate(count, params["cap"], [process])
        finally:
            child.stop(process)
        clear_all()
        return {
            "drain_jobs_per_s": drained["jobs_per_s"],
            "enqueue_jobs_per_s": enqueue_rate,
            "jobs_queued": count,
            "jobs_done": drained["jobs_done"],
        }


def clear_all() -> None:
    """Both libraries' queues, and djworkers' stored results (database store)."""
    clear_database_queues()
    from django.conf import settings

    if settings.DJWORKERS["QUEUE"]["BACKEND"] == "database":
        from djworkers.results.models import JobResult

        JobResult.objects.all().delete()
