"""Measurement steps several scenarios share (they run in the child process)."""

from __future__ import annotations

import time
from typing import Any

from ..harness import Unavailable


def timed_enqueue(peer, job: str, count: int, bulk: bool = False, cap: float | None = None) -> dict[str, float]:
    """Enqueue ``count`` ``job``s (one by one, or through the bulk API); stop early after ``cap`` seconds.

    Returns ``{"jobs_per_s", "jobs", "cpu_us_per_enqueue"}``: the rate over
    the jobs actually enqueued, and this process's CPU time (user + system)
    per job: what an enqueue costs the caller, steady where rates are noisy.
    """
    warm = peer.enqueuer(job)
    for _ in range(20):  # connections, lazy imports, first-use caches
        warm()
    if bulk:
        started, cpu = time.perf_counter(), time.process_time()
        peer.bulk(job, count)
        return {
            "jobs_per_s": count / (time.perf_counter() - started),
            "jobs": count,
            "cpu_us_per_enqueue": (time.process_time() - cpu) / count * 1e6,
        }
    enqueue = peer.enqueuer(job)
    started, cpu = time.perf_counter(), time.process_time()
    deadline = started + cap if cap else None
    done = 0
    while done < count:
        for _ in range(min(100, count - done)):
            enqueue()
        done += min(100, count - done)
        if deadline and time.perf_counter() > deadline:
            break
    return {
        "jobs_per_s": done / (time.perf_counter() - started),
        "jobs": done,
        "cpu_us_per_enqueue": (time.process_time() - cpu) / done * 1e6,
    }


def drain(child, peer, threads: int, count: int, cap: float, fill_cap: float | None = None) -> dict[str, Any]:
    """Queue ``count`` incr jobs, start one worker process, time the drain.

    Jobs are queued while no worker runs, so the worker starts on a full queue
    (a peer without a bulk API that enqueues slowly stops filling after
    ``fill_cap`` seconds: its worker could not drain more within ``cap``);
    throughput is counted from the first job done (start-up excluded) until
    the last, or until ``cap`` seconds of draining (slow contenders), and so is
    the worker's CPU per job (its whole process tree).
    Raw zmq has no queue at rest: its worker starts first and the child pushes.
    """
    from ..peers.raw import RawZmq

    command, env = peer.worker(threads, child)  # raises Unavailable before any work is done
    child.flush()
    if isinstance(peer, RawZmq):
        process = child.spawn(command, env)
        time.sleep(0.5)
        push = peer.enqueuer("incr")
        for _ in range(count):
            push()
    else:
        count = peer.fill("incr", count, fill_cap)
        queued = peer.queued()
        if queued is not None and queued < count:
            raise RuntimeError(f"{peer.name}: {queued} of {count} jobs queued after the fill")
        process = child.spawn(command, env)
    try:
        return dict(
            child.drain_rate(count, cap, [process] if peer.burst else [], workers=[process], server=True), queued=count
        )
    finally:
        child.stop(process)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def unavailable_unless(condition: bool, reason: str) -> None:
    if not condition:
        raise Unavailable(reason)
