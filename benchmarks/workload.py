"""The work every contender's job does, so all of them run the same thing.

``incr``: one small unit of work (INCR of a counter on the private Redis), used
by drain scenarios; the harness polls the counter to time the drain.
``record(enqueued_at)``: the latency probe: pushes ``now - enqueued_at`` and
counts. ``noop``: nothing, for enqueue scenarios. ``echo(value)``: returns its
argument, for the result round trip (``results`` scenario).

Peers' task modules wrap these functions; RQ enqueues them by import path.
"""

from __future__ import annotations

import os
import threading
import time

COUNTER = "bench:done"
LATENCIES = "bench:latency"
#: what the raw ceilings push: about the size of a signed djworkers frame
RAW_PAYLOAD = (
    b'{"id":"3f1c2b7e9a8d4c5b","name":"benchmarks.bench_app.commands.incr","args":[],'
    b'"kwargs":{},"queue":"default","attempt":0}' + b"." * 64
)

_client = None
_lock = threading.Lock()


def client():
    """One redis-py client per process (its pool is thread-safe and fork-aware)."""
    global _client
    if _client is None or _client.__dict__.get("_bench_pid") != os.getpid():
        with _lock:
            if _client is None or _client.__dict__.get("_bench_pid") != os.getpid():
                import redis

                _client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
                _client.__dict__["_bench_pid"] = os.getpid()
    return _client


def noop() -> None:
    """A job that does nothing (enqueue scenarios)."""


def incr() -> None:
    """One small unit of work: INCR the shared counter."""
    client().incr(COUNTER)


def echo(value):
    """Returns ``value``: the caller waits for it through the result store (``results`` scenario)."""
    return value


def record(enqueued_at: float) -> None:
    """Latency probe: how long since the job was enqueued, then count it."""
    started = time.time()
    pipe = client().pipeline(transaction=False)
    pipe.rpush(LATENCIES, started - enqueued_at)
    pipe.incr(COUNTER)
    pipe.execute()
