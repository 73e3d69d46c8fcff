"""djworkers' queue door: ``@queue_command`` jobs, ``queue_consumer --burst -t N``.

``backend`` is "redis" (the private Redis) or "database" (``db`` = "sqlite" or
"postgres", the run's throw-away database). Bulk enqueue writes encoded frames
through ``get_backend().write_many`` (pipelined on Redis, one INSERT on a DB).
"""

from __future__ import annotations

from ..harness import Unavailable
from .base import Peer, django_setup


class DjworkersQueue(Peer):
    burst = True

    def __init__(self, backend: str = "redis", db: str = "sqlite") -> None:
        self.backend = backend
        self.db = db
        self.name = "djworkers" if backend == "redis" else f"djworkers database ({db})"

    def env(self) -> dict[str, str]:
        return {"BENCH_QUEUE_BACKEND": self.backend, "BENCH_DB": self.db}

    def setup(self) -> None:
        try:
            import djworkers.queue as queue_door

            queue_door.queue_command  # noqa: B018  (the door's public API)
        except (ImportError, AttributeError) as exc:
            raise Unavailable(f"djworkers queue door not available yet ({exc})") from exc
        django_setup(**self.env())
        from benchmarks.bench_app import commands

        if getattr(commands, "incr", None) is None:
            raise Unavailable("djworkers.queue.queue_command is not importable")
        self.commands = commands
        self.queue_door = queue_door

    def enqueuer(self, job: str):
        return getattr(self.commands, job)

    def job_name(self, job: str) -> str:
        from djworkers.registry import registry

        handle = getattr(self.commands, job)
        name = getattr(handle, "name", None)
        if isinstance(name, str):
            return name
        target = getattr(handle, "__wrapped__", handle)
        for declared in registry:
            if declared.func is target or declared.func is handle:
                return declared.name
        raise RuntimeError(f"cannot find the registered name of benchmarks.bench_app.commands.{job}")

    def bulk(self, job: str, count: int) -> None:
        from djworkers.messages import Message, encode

        backend = self.queue_door.get_backend()
        name = self.job_name(job)
        queue = getattr(backend, "queues", ["default"])[0]
        for start in range(0, count, 1000):
            backend.write_many([encode(Message(name, queue=queue)) for _ in range(min(1000, count - start))])

    def worker(self, threads: int, child, burst: bool = True, processes: int = 1):
        command = child.manage("queue_consumer", "-t", str(threads), *(["--burst"] if burst else []))
        if processes > 1:
            command += ["--processes", str(processes)]
        return command, self.env()

    def queued(self) -> int:
        return len(self.queue_door.get_backend())
