"""Scenario 1 (+ the raw ceiling of scenario 4): enqueue no-op jobs from one process, one by one and in bulk."""

from __future__ import annotations

from .. import peers
from ..harness import Contender, Metric, Scenario
from . import register
from ._common import timed_enqueue

ONE_BY_ONE = ["djworkers", "huey", "rq", "dramatiq", "celery", "raw redis", "raw redis (held connection)", "raw zmq"]
BULK = ["djworkers", "rq", "raw redis"]  # the others have no batch-enqueue API


@register
class Enqueue(Scenario):
    name = "enqueue"
    title = "Enqueue no-op jobs from one process"
    description = (
        "One process enqueues N no-op jobs through each library's client API onto the private "
        "Redis (no worker running), up to N jobs or a few seconds, whichever comes first. Bulk uses the batch API where one exists (djworkers "
        "`get_backend().write_many`, RQ `enqueue_many`, a raw redis-py pipeline). Raw zmq "
        "sends to a PULL socket in another process. Raw redis calls redis-py's `lpush` (a pool "
        "checkout per command, as Huey and RQ do); raw redis (held connection) writes LPUSH to one "
        "connection it keeps, as djworkers writes its enqueue script. `cpu_us_per_enqueue`: the enqueuing process's "
        "CPU time (user + system) per job."
    )
    metrics = (
        Metric("jobs_per_s", "jobs/s"),
        Metric("cpu_us_per_enqueue", "µs", higher_is_better=False, digits=1),
        Metric("jobs", "jobs"),
    )

    def contenders(self, run):
        count = run.count(20_000, 2_000)
        cap = run.count(3, 1)  # seconds: slow clients stop early, the rate is over what they enqueued
        rows = []
        for name in ONE_BY_ONE:
            role = "djworkers" if name == "djworkers" else "ceiling" if name.startswith("raw") else "peer"
            rows.append(Contender(name, role, "one by one", {"peer": name, "count": count, "bulk": False, "cap": cap}))
        for name in BULK:
            role = "djworkers" if name == "djworkers" else "ceiling" if name.startswith("raw") else "peer"
            rows.append(
                Contender(f"{name} bulk", role, "bulk", {"peer": name, "count": count, "bulk": True, "cap": cap})
            )
        return rows

    def measure(self, contender, params, child):
        peer = peers.get(params["peer"])
        child.flush()
        if params["peer"] == "raw zmq":  # a PUSH socket needs a peer to deliver to
            command, env = peer.worker(1, child)
            child.spawn(command, env)
        return timed_enqueue(peer, "noop", params["count"], bulk=params["bulk"], cap=params["cap"])
