"""Results on: the round trip ``f(...)`` then a blocking wait for its value, against Huey and RQ (Q12)."""

from __future__ import annotations

import time

from ..harness import Contender, Metric, Scenario
from . import register
from ._common import percentile

NAMES = ["djworkers", "huey", "huey (notify_result)", "rq", "rq (SimpleWorker)"]


@register
class Results(Scenario):
    name = "results"
    title = "Results on: enqueue, then block until the value is back"
    description = (
        "One caller enqueues `echo(i)` and blocks until its value comes back, then the next, "
        "one at a time, to a running idle worker (one process, one thread) on the private Redis, "
        "which also stores the results. djworkers: `@queue_command(result=True)`, `f(i).get()`; "
        "Huey: `result.get(blocking=True)` (it polls, sleeping 50 ms and more; "
        "`notify_result=True` BLPOPs instead); RQ 2.x: `job.latest_result(timeout=...)` (XREAD "
        "BLOCK; its default worker forks per job). `round_trips_per_s`: sequential round trips; "
        "p50/p99 of one round trip; `cpu_us_per_job`: the worker's CPU (its process tree) per job; "
        "`cpu_us_per_call`: the caller's, enqueue and wait."
    )
    metrics = (
        Metric("round_trips_per_s", "1/s"),
        Metric("p50_ms", "ms", higher_is_better=False, digits=2),
        Metric("p99_ms", "ms", higher_is_better=False, digits=2),
        Metric("cpu_us_per_job", "µs", higher_is_better=False),
        Metric("cpu_us_per_call", "µs", higher_is_better=False),
    )

    def contenders(self, run):
        params = {"count": run.count(1_000, 60), "cap": run.count(8, 2)}
        return [
            Contender(name, "djworkers" if name == "djworkers" else "peer", "", {"peer": name, **params})
            for name in NAMES
        ]

    def measure(self, contender, params, child):
        from ..child import TreeCpu
        from ..peers import results as drivers

        peer = drivers.get(params["peer"])
        command, env = peer.worker(child)
        child.flush()
        process = child.spawn(command, env)
        # Warm up: the first round trip waits for the worker to start.
        deadline = time.monotonic() + 60
        while True:
            try:
                if peer.wait(peer.submit(-1)) == -1:
                    break
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
        for value in range(-20, -1):  # connections, imports, first-use caches
            assert peer.wait(peer.submit(value)) == value
        worker_cpu = TreeCpu([process])
        worker_start = worker_cpu.read()
        caller_start = time.process_time()
        times = []
        started = time.perf_counter()
        for value in range(params["count"]):
            sent = time.perf_counter()
            got = peer.wait(peer.submit(value))
            times.append(time.perf_counter() - sent)
            if got != value:
                raise RuntimeError(f"{peer.name}: sent {value}, got {got!r} back")
            if sent - started > params["cap"]:
                break
        elapsed = time.perf_counter() - started
        worker_used = worker_cpu.read() - worker_start
        caller_used = time.process_time() - caller_start
        child.stop(process)
        done = len(times)
        return {
            "round_trips_per_s": done / elapsed,
            "p50_ms": percentile(times, 0.50) * 1000,
            "p99_ms": percentile(times, 0.99) * 1000,
            "cpu_us_per_job": worker_used / done * 1e6,
            "cpu_us_per_call": caller_used / done * 1e6,
            "_extra": {"round_trips": done},
        }
