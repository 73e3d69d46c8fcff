"""Scenario 3 (+ raw ceilings): end-to-end latency, enqueue -> job start, at a light steady rate."""

from __future__ import annotations

import time

from .. import peers, workload
from ..harness import Contender, Metric, Scenario
from . import register
from ._common import percentile

NAMES = ["djworkers", "huey", "rq", "dramatiq", "celery (solo)", "raw redis", "raw zmq"]


@register
class Latency(Scenario):
    name = "latency"
    title = "Latency, enqueue to job start, at a steady light rate"
    description = (
        "A running, idle worker (one process, one thread; RQ's default forking worker) receives "
        "jobs enqueued at a fixed rate; each job records `time.time() - enqueued_at` as its "
        "first act. Percentiles over all jobs of the run. A worker that falls behind the rate is "
        "given a few seconds after the last enqueue; probes still queued then count with the "
        "time they had waited so far, and the row says its percentiles are lower bounds. "
        "`cpu_us_per_job`: the worker's CPU from the first probe to the last, idle waits "
        "between probes included, per probe; `cpu_us_per_enqueue`: the sender's."
    )
    metrics = (
        Metric("p50_ms", "ms", higher_is_better=False, digits=2),
        Metric("p99_ms", "ms", higher_is_better=False, digits=2),
        Metric("cpu_us_per_job", "µs", higher_is_better=False),
        Metric("cpu_us_per_enqueue", "µs", higher_is_better=False, digits=1),
    )

    def contenders(self, run):
        count = run.count(600, 200)
        rate = 200.0
        rows = []
        for name in NAMES:
            role = "djworkers" if name == "djworkers" else "ceiling" if name.startswith("raw") else "peer"
            rows.append(
                Contender(name, role, "", {"peer": name, "count": count, "rate": rate, "wait": run.count(10, 3)})
            )
        return rows

    def measure(self, contender, params, child):
        peer = peers.get(params["peer"])
        command, env = peer.worker(1, child, burst=False)
        child.flush()
        process = child.spawn(command, env)
        enqueue = peer.enqueuer("record")
        # Warm up: until one probe has run, the worker is still starting.
        deadline = time.monotonic() + 60
        while child.done() == 0:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{peer.name}: the worker ran no warm-up job (exit {process.poll()})")
            enqueue(time.time())
            time.sleep(0.2)
        time.sleep(0.5)
        client = child.redis
        client.delete(workload.LATENCIES)
        client.set(workload.COUNTER, 0)
        count, interval = params["count"], 1.0 / params["rate"]
        sent = []
        from ..child import TreeCpu

        worker_cpu = TreeCpu([process])
        worker_cpu_start = worker_cpu.read()
        sender_cpu = time.process_time()
        started = time.perf_counter()
        for index in range(count):
            pause = started + index * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent.append(time.time())
            enqueue(sent[-1])
        achieved = count / (time.perf_counter() - started)
        enqueue_cpu = (time.process_time() - sender_cpu) / count * 1e6
        child.wait_count(count, params["wait"], params["wait"], [process])
        worker_cpu_used = worker_cpu.read() - worker_cpu_start
        latencies = [float(v) * 1000 for v in client.lrange(workload.LATENCIES, 0, -1)]
        if not latencies:
            raise RuntimeError(f"{peer.name}: none of {count} probes ran")
        extra = {"achieved_rate": round(achieved, 1)}
        unstarted = count - len(latencies)
        if unstarted > 0:
            # A worker that cannot keep up: the probes still queued (the last ones, queues are FIFO)
            # have waited at least until now, so the percentiles become lower bounds, not a crash.
            now = time.time()
            latencies += [(now - at) * 1000 for at in sent[-unstarted:]]
            extra.update(unstarted=unstarted, percentiles="lower bounds (worker fell behind)")
        ran = max(1, child.done())
        return {
            "p50_ms": percentile(latencies, 0.50),
            "p99_ms": percentile(latencies, 0.99),
            "cpu_us_per_job": worker_cpu_used / ran * 1e6,
            "cpu_us_per_enqueue": enqueue_cpu,
            "_extra": extra,
        }
