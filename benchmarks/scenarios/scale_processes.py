"""Scenario 7b: drain rate with 1, 2 and 4 worker processes on one queue.

djworkers both ways a deployment scales out: ``queue_consumer --processes N``
(one supervisor forking N workers) and N separately started consumers (as N
hosts, or N supervisor programs, would run them), on Redis and on the
PostgreSQL database backend; beside Huey (``-k process -w N``), Dramatiq
(``--processes N --threads 1``) and N raw redis-py loops.
"""

from __future__ import annotations

from .. import peers
from ..harness import Contender, Metric, Scenario, Unavailable
from ..peers.base import venv_script
from . import register


def _group(processes: int) -> str:
    return "1 process" if processes == 1 else f"{processes} processes"


@register
class ScaleProcesses(Scenario):
    name = "scale-processes"
    title = "Drain with 1, 2 and 4 worker processes"
    description = (
        "N queued INCR jobs drained by 1, 2 or 4 worker processes (1 thread each): djworkers "
        "`queue_consumer --processes N` and N separately started `queue_consumer`s, on Redis and "
        "on PostgreSQL; Huey `huey_consumer -k process -w N`; Dramatiq `--processes N --threads "
        "1`; N raw BRPOP + INCR loops. `cpu_us_per_job`: CPU of all the workers' processes per "
        "job. On a 2-core machine that also runs Redis, PostgreSQL and the harness, more processes "
        "compete for the same cores: the curve shows contention, not the capacity of N hosts."
    )
    metrics = (
        Metric("jobs_per_s", "jobs/s"),
        Metric("cpu_us_per_job", "µs", higher_is_better=False),
        Metric("jobs_done", "jobs"),
    )

    def contenders(self, run):
        count = run.count(20_000, 1_000)
        cap = run.count(5, 1)
        rows = []
        # --quick: 2 processes only (the smoke run must stay short; 1 process is `drain`'s row)
        # and without Huey and Dramatiq
        for processes in (2,) if run.quick else (1, 2, 4):
            group = _group(processes)
            variants: list[tuple[str, str, str, str]] = []  # (name, peer, how, role)
            for label, peer in (
                ("djworkers redis", "djworkers"),
                ("djworkers postgres", "djworkers database (postgres)"),
            ):
                if processes == 1:
                    variants.append((f"{label}, 1 process", peer, "separate", "djworkers"))
                else:
                    variants.append((f"{label}, --processes {processes}", peer, "supervised", "djworkers"))
                    variants.append((f"{label}, {processes} consumers", peer, "separate", "djworkers"))
            if not run.quick:  # --quick: djworkers' two ways and the raw loops only
                variants += [
                    (f"huey, {group}", "huey", "supervised", "peer"),
                    (f"dramatiq, {group}", "dramatiq", "supervised", "peer"),
                ]
            variants.append((f"raw redis, {group}", "raw redis", "separate", "ceiling"))
            for name, peer, how, role in variants:
                skip = run.postgres_reason if "postgres" in peer and not run.postgres else ""
                rows.append(
                    Contender(
                        name,
                        role,
                        group,
                        {"peer": peer, "processes": processes, "how": how, "count": count, "cap": cap, "skip": skip},
                    )
                )
        return rows

    def measure(self, contender, params, child):
        if params["skip"]:
            raise Unavailable(params["skip"])
        peer = peers.get(params["peer"])
        processes = params["processes"]
        child.flush()
        if getattr(peer, "backend", "") == "database":
            from .database import clear_database_queues

            clear_database_queues()
        peer.fill("incr", params["count"])
        if getattr(peer, "backend", "") == "database":
            from django.db import connections

            connections.close_all()
        if params["how"] == "separate":
            command, env = peer.worker(1, child, burst=False)
            workers = [child.spawn(command, env) for _ in range(processes)]
        else:
            command, env = supervised_command(peer, processes, child)
            workers = [child.spawn(command, env)]
        try:
            # Not burst: with --processes, one child finding the queue empty stops its siblings.
            return child.drain_rate(params["count"], params["cap"], workers=workers)
        finally:
            for worker in workers:
                child.stop(worker)


def supervised_command(peer, processes: int, child) -> tuple[list[str], dict[str, str]]:
    """One command that runs ``processes`` worker processes of one thread each."""
    if peer.name == "huey":
        return [
            venv_script("huey_consumer"),
            "benchmarks.peers.huey_app.huey",
            "-w",
            str(processes),
            "-k",
            "process",
        ], {}
    if peer.name == "dramatiq":
        return [
            venv_script("dramatiq"),
            "benchmarks.peers.dramatiq_app",
            "--processes",
            str(processes),
            "--threads",
            "1",
        ], {}
    return peer.worker(1, child, burst=False, processes=processes)
