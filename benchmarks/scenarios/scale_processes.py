"""Scenario 7b: drain rate with one vs two consumer processes on the same queue."""

from __future__ import annotations

from .. import peers
from ..harness import Contender, Metric, Scenario
from . import register

NAMES = ["djworkers", "raw redis"]


@register
class ScaleProcesses(Scenario):
    name = "scale-processes"
    title = "Drain with one vs two consumer processes"
    description = ("N queued INCR jobs drained by one or by two separately started worker processes "
                   "(1 thread each), as two hosts would run them. On a 2-core machine the second process "
                   "competes with Redis and the first for CPU: the gain shows contention, not capacity.")
    metrics = (Metric("jobs_per_s", "jobs/s"), Metric("jobs_done", "jobs"))

    def contenders(self, run):
        count = run.count(20_000, 1_000)
        cap = run.count(5, 3)
        rows = []
        for processes in (1, 2):
            group = "1 process" if processes == 1 else f"{processes} processes"
            for name in NAMES:
                role = "djworkers" if name == "djworkers" else "ceiling" if name.startswith("raw") else "peer"
                rows.append(Contender(f"{name}, {group}", role, group,
                                      {"peer": name, "processes": processes, "count": count, "cap": cap}))
        return rows

    def measure(self, contender, params, child):
        peer = peers.get(params["peer"])
        command, env = peer.worker(1, child)
        child.flush()
        peer.fill("incr", params["count"])
        workers = [child.spawn(command, env) for _ in range(params["processes"])]
        try:
            return child.drain_rate(params["count"], params["cap"], workers if peer.burst else [])
        finally:
            for worker in workers:
                child.stop(worker)
