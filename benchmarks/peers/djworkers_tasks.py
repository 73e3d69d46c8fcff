"""djworkers as the ``django.tasks`` backend: the same ``@task`` functions django-tasks-db runs
(``benchmarks/bench_app/dtasks.py``), enqueued through ``djworkers.tasks.TaskBackend`` and drained by
``queue_consumer --burst`` (T1)."""

from __future__ import annotations

from ..harness import Unavailable
from .base import Peer, django_setup


class DjworkersTasks(Peer):
    burst = True

    def __init__(self, backend: str = "database", db: str = "sqlite") -> None:
        self.backend = backend
        self.db = db
        self.name = f"djworkers.tasks ({db})" if backend == "database" else "djworkers.tasks (redis)"

    def env(self) -> dict[str, str]:
        # BENCH_TASKS=djworkers: benchmarks/settings.py points TASKS["default"] at djworkers
        return {"BENCH_QUEUE_BACKEND": self.backend, "BENCH_DB": self.db, "BENCH_TASKS": "djworkers"}

    def setup(self) -> None:
        try:
            from djworkers.tasks import compat
        except ImportError as exc:
            raise Unavailable(f"djworkers.tasks is not available ({exc})") from exc
        if not compat.AVAILABLE:
            raise Unavailable(compat.MISSING)
        django_setup(**self.env())
        from benchmarks.bench_app import dtasks

        self.tasks = dtasks

    def enqueuer(self, job: str):
        return getattr(self.tasks, job).enqueue

    def worker(self, threads: int, child, burst: bool = True):
        return child.manage("queue_consumer", "-t", str(threads), *(["--burst"] if burst else [])), self.env()

    def queued(self) -> int:
        from djworkers.queue import get_backend

        return len(get_backend())
