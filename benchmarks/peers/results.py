"""Drivers for the result round trip (``results`` scenario): enqueue ``echo(value)``, then block
until its value comes back, the way each library's users do it.

- djworkers: ``@queue_command(result=True)``, ``handle.get(timeout)`` (Redis queue and result store).
- Huey: ``result.get(blocking=True, timeout)``: polls by default; ``notify_result=True`` BLPOPs.
- RQ 2.x: ``job.latest_result(timeout)``: XREAD BLOCK on the job's result stream.
"""

from __future__ import annotations

from typing import Any

from .. import workload
from ..harness import Unavailable
from .base import django_setup, venv_script

#: Seconds one wait may take before the measurement fails (a worker that never answers).
TIMEOUT = 30


class ResultPeer:
    name = ""

    def setup(self) -> None:
        """Import and configure the library in this child."""

    def worker(self, child) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def submit(self, value: int) -> Any:
        """Enqueue ``echo(value)``; returns what :meth:`wait` takes."""
        raise NotImplementedError

    def wait(self, handle: Any) -> Any:
        """Block until the job's value is back; return it."""
        raise NotImplementedError


class DjworkersResults(ResultPeer):
    name = "djworkers"

    def setup(self) -> None:
        django_setup(BENCH_QUEUE_BACKEND="redis", BENCH_DB="sqlite")
        from benchmarks.bench_app import commands

        if getattr(commands, "echo", None) is None:
            raise Unavailable("djworkers.queue.queue_command is not importable")
        self.echo = commands.echo

    def worker(self, child):
        return child.manage("queue_consumer", "-t", "1"), {"BENCH_QUEUE_BACKEND": "redis", "BENCH_DB": "sqlite"}

    def submit(self, value):
        return self.echo(value)

    def wait(self, handle):
        return handle.get(timeout=TIMEOUT)


class HueyResults(ResultPeer):
    def __init__(self, notify: bool = False) -> None:
        self.notify = notify
        self.name = "huey (notify_result)" if notify else "huey"

    def setup(self) -> None:
        from . import huey_results_app

        self.task = huey_results_app.echo_notify if self.notify else huey_results_app.echo

    def worker(self, child):
        app = "benchmarks.peers.huey_results_app." + ("huey_notify" if self.notify else "huey")
        return [venv_script("huey_consumer"), app, "-w", "1", "-k", "thread"], {}

    def submit(self, value):
        return self.task(value)

    def wait(self, handle):
        return handle.get(blocking=True, timeout=TIMEOUT)


class RQResults(ResultPeer):
    """RQ's default worker forks a work horse per job; ``simple`` runs jobs in the worker itself."""

    QUEUE = "bench-results"

    def __init__(self, simple: bool = False) -> None:
        self.simple = simple
        self.name = "rq (SimpleWorker)" if simple else "rq"

    def setup(self) -> None:
        from rq import Queue

        self.queue = Queue(self.QUEUE, connection=workload.client())

    def worker(self, child):
        command = [venv_script("rq"), "worker", "--url", child.redis_url, self.QUEUE]
        if self.simple:
            command[2:2] = ["--worker-class", "rq.worker.SimpleWorker"]
        return command, {}

    def submit(self, value):
        return self.queue.enqueue(workload.echo, value)

    def wait(self, job):
        result = job.latest_result(timeout=TIMEOUT)
        if result is None:
            raise RuntimeError(f"rq: no result for job {job.id} after {TIMEOUT}s")
        if result.type != result.Type.SUCCESSFUL:
            raise RuntimeError(f"rq: job {job.id} ended {result.type}: {result.exc_string}")
        return result.return_value


PEERS = {
    "djworkers": DjworkersResults,
    "huey": HueyResults,
    "huey (notify_result)": lambda: HueyResults(notify=True),
    "rq": RQResults,
    "rq (SimpleWorker)": lambda: RQResults(simple=True),
}


def get(name: str) -> ResultPeer:
    peer = PEERS[name]()
    peer.setup()
    return peer
