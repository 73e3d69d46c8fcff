"""Queue jobs that report to Redis, so proofs of exactly-once need no shared database writes.

Each takes the Redis URL to report to (the consumer's own queue connection may be
anything) and a key: ``djworkers:test:runs:<key>`` counts runs, the set
``djworkers:test:pids`` collects the processes that ran jobs.
"""

from __future__ import annotations

import os
import time

from djworkers.queue import queue_command
from djworkers.redis_client import get_client

RUNS = "djworkers:test:runs:"
PIDS = "djworkers:test:pids"
STARTED = "djworkers:test:started:"


@queue_command(retries=0)
def incr(url: str, key: str, seconds: float = 0.0, mark_start: bool = False) -> None:
    """Count one run of ``key`` (INCR), after sleeping ``seconds``; ``mark_start`` logs the
    pid of each start first (to see which consumer began a job that was then killed)."""
    client = get_client(url)
    if mark_start:
        client.rpush(STARTED + key, os.getpid())
    if seconds:
        time.sleep(seconds)
    pipe = client.pipeline(transaction=False)
    pipe.incr(RUNS + key)
    pipe.sadd(PIDS, os.getpid())
    pipe.execute()


@queue_command(retries=0)
def incr_unless_flagged(url: str, key: str, flag: str) -> None:
    """Fail while the file ``flag`` exists, else count one run of ``key`` (replay tests)."""
    if os.path.exists(flag):
        raise RuntimeError(f"flag {flag} is set")
    get_client(url).incr(RUNS + key)
