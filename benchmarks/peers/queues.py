"""Drivers for the Redis-backed peers: Huey (RedisHuey, thread workers), RQ, Dramatiq, Celery."""

from __future__ import annotations

from .. import workload
from ..harness import Unavailable
from .base import Peer, venv_script


class Huey(Peer):
    name = "huey"

    def setup(self) -> None:
        from . import huey_app

        self.app = huey_app

    def enqueuer(self, job: str):
        return getattr(self.app, job)

    def worker(self, threads: int, child, burst: bool = True):
        return [venv_script("huey_consumer"), "benchmarks.peers.huey_app.huey", "-w", str(threads), "-k", "thread"], {}

    def queued(self) -> int:
        return self.app.huey.pending_count()


class RQ(Peer):
    """RQ's default ``Worker`` forks a work horse per job; ``simple`` uses ``SimpleWorker`` (no fork)."""

    name = "rq"
    burst = True

    def __init__(self, simple: bool = False) -> None:
        self.simple = simple

    def setup(self) -> None:
        from rq import Queue

        self.queue = Queue("bench", connection=workload.client())

    def enqueuer(self, job: str):
        func = getattr(workload, job)
        return lambda *args: self.queue.enqueue(func, *args)

    def bulk(self, job: str, count: int) -> None:
        from rq import Queue

        func = getattr(workload, job)
        for start in range(0, count, 1000):
            self.queue.enqueue_many([Queue.prepare_data(func) for _ in range(min(1000, count - start))])

    def worker(self, threads: int, child, burst: bool = True):
        if threads != 1:
            raise Unavailable("RQ workers run one job at a time (no thread pool)")
        command = [venv_script("rq"), "worker", "--url", child.redis_url, "bench"] + (["--burst"] if burst else [])
        if self.simple:
            command[2:2] = ["--worker-class", "rq.worker.SimpleWorker"]
        return command, {}

    def queued(self) -> int:
        return len(self.queue)


class Dramatiq(Peer):
    name = "dramatiq"

    def setup(self) -> None:
        from . import dramatiq_app

        self.app = dramatiq_app

    def enqueuer(self, job: str):
        return getattr(self.app, job).send

    def worker(self, threads: int, child, burst: bool = True):
        return [
            venv_script("dramatiq"),
            "benchmarks.peers.dramatiq_app",
            "--processes",
            "1",
            "--threads",
            str(threads),
        ], {}


class Celery(Peer):
    """``pool="solo"`` for one thread, ``"threads"`` with ``-c N`` for N threads."""

    name = "celery"

    def __init__(self, pool: str = "solo") -> None:
        self.pool = pool

    def setup(self) -> None:
        from . import celery_app

        self.app = celery_app

    def enqueuer(self, job: str):
        return getattr(self.app, job).delay

    def worker(self, threads: int, child, burst: bool = True):
        if self.pool == "solo" and threads != 1:
            raise Unavailable("the solo pool runs one job at a time")
        return [
            venv_script("celery"),
            "-A",
            "benchmarks.peers.celery_app",
            "worker",
            "-P",
            self.pool,
            "-c",
            str(threads),
            "--loglevel",
            "WARNING",
        ], {"C_FORCE_ROOT": "1"}

    def queued(self) -> int:
        return workload.client().llen("celery")
