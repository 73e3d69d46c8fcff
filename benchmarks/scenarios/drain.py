"""Scenario 2 (+ the raw ceilings of scenario 4): drain queued jobs with one worker process, 1 and 4 threads."""

from __future__ import annotations

from .. import peers
from ..harness import Contender, Metric, Scenario
from . import register
from ._common import drain

ONE_THREAD = ["djworkers", "huey", "rq", "dramatiq", "celery (solo)", "raw redis", "raw zmq"]
FOUR_THREADS = ["djworkers", "huey", "dramatiq", "celery (threads)"]


@register
class Drain(Scenario):
    name = "drain"
    title = "Drain queued jobs with one worker process"
    description = (
        "N jobs that each INCR a Redis counter are queued, then one worker process is started "
        "the way each library's users start it; jobs/s is timed from the first job done to the "
        "last (worker start-up excluded). Slow contenders are capped: filling one by one stops "
        "after a few seconds (`queued`), draining after a few more (`jobs_done`), and the rate "
        "is over the jobs done. Raw "
        "ceilings: a redis-py BRPOP + INCR loop, one job at a time; a pyzmq PULL + INCR loop. "
        "`cpu_us_per_job`: user + system CPU of the worker's whole process tree over the same "
        "jobs, per job (steadier than the rate on a shared machine); `redis_cpu_us_per_job`: the "
        "redis-server's, from `INFO cpu` (what the queue's scripts cost the server; the job's INCR "
        "and the harness's polling of the counter are in every row alike)."
    )
    metrics = (
        Metric("jobs_per_s", "jobs/s"),
        Metric("cpu_us_per_job", "µs", higher_is_better=False),
        Metric("redis_cpu_us_per_job", "µs", higher_is_better=False),
        Metric("jobs_done", "jobs"),
        Metric("queued", "jobs"),
    )

    def contenders(self, run):
        count = run.count(20_000, 1_000)
        cap = run.count(5, 1)  # seconds of draining at most
        fill_cap = run.count(4, 1)  # seconds of one-by-one filling at most
        rows = []
        for threads, names in ((1, ONE_THREAD), (4, FOUR_THREADS)):
            group = "1 thread" if threads == 1 else f"{threads} threads"
            for name in names:
                role = "djworkers" if name == "djworkers" else "ceiling" if name.startswith("raw") else "peer"
                rows.append(
                    Contender(
                        f"{name}, {group}",
                        role,
                        group,
                        {"peer": name, "threads": threads, "count": count, "cap": cap, "fill_cap": fill_cap},
                    )
                )
        return rows

    def measure(self, contender, params, child):
        peer = peers.get(params["peer"])
        return drain(child, peer, params["threads"], params["count"], params["cap"], params["fill_cap"])
