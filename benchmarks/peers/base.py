"""What a peer driver provides to the scenarios (all of it runs in the child process).

A driver enqueues the three workload jobs (``noop``, ``incr``, ``record``) with
the peer's own client API, and names the command that starts the peer's worker
the way its users run it. ``bulk`` is the peer's batch-enqueue API, where it has
one; drivers without one raise :class:`~benchmarks.harness.Unavailable`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from ..harness import Unavailable


def venv_script(name: str) -> str:
    """A console script of the peers' venv (``celery``, ``rq``, ``dramatiq``)."""
    return str(Path(sys.executable).parent / name)


class Peer:
    name = ""
    #: the worker exits by itself when the queue is empty (burst/batch mode)
    burst = False

    def setup(self) -> None:
        """Import and configure the peer in this child (called once, before anything else)."""

    def enqueuer(self, job: str) -> Callable[..., object]:
        """A callable that enqueues one ``job`` ("noop", "incr" or "record") per call."""
        raise NotImplementedError

    def bulk(self, job: str, count: int) -> None:
        """Enqueue ``count`` jobs through the peer's batch API."""
        raise Unavailable(f"{self.name} has no bulk-enqueue API")

    def fill(self, job: str, count: int, cap: float | None = None) -> int:
        """Queue ``count`` jobs as fast as the peer allows (bulk if it can), untimed.

        One-by-one filling stops after ``cap`` seconds; returns the jobs queued.
        """
        import time

        try:
            self.bulk(job, count)
            return count
        except Unavailable:
            enqueue = self.enqueuer(job)
            deadline = time.monotonic() + cap if cap else None
            done = 0
            while done < count:
                for _ in range(min(100, count - done)):
                    enqueue()
                done += min(100, count - done)
                if deadline and time.monotonic() > deadline:
                    break
            return done

    def worker(self, threads: int, child) -> tuple[list[str], dict[str, str]]:
        """The worker command line for one process with ``threads`` threads, and extra env.

        ``burst``: ask the worker to exit once the queue is empty, for peers that
        can (``burst = True`` on the class); the others are stopped with SIGTERM.
        """
        raise NotImplementedError

    def queued(self) -> int | None:
        """Jobs waiting, when the peer can say (used to check a fill worked)."""
        return None


def django_setup(**env: str) -> None:
    """Configure Django with :mod:`benchmarks.settings` under ``env`` (once per child)."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    import django

    django.setup()
