"""django-tasks-db: Django's ``django.tasks`` with the ORM backend, run by ``db_worker``."""

from __future__ import annotations

from ..harness import Unavailable
from .base import Peer, django_setup


class TasksDb(Peer):
    burst = True

    def __init__(self, db: str = "sqlite") -> None:
        self.db = db
        self.name = f"django-tasks-db ({db})"

    def env(self) -> dict[str, str]:
        return {"BENCH_DB": self.db}

    def setup(self) -> None:
        try:
            import django_tasks_db  # noqa: F401
        except ImportError as exc:
            import sys

            if sys.version_info < (3, 12):  # benchmarks/requirements.txt installs it only there
                raise Unavailable(
                    "django-tasks-db needs django.tasks (Django >= 6.0, Python >= 3.12); "
                    f"this run is on Python {sys.version_info[0]}.{sys.version_info[1]}"
                ) from exc
            raise Unavailable(f"django-tasks-db is not installed ({exc})") from exc
        django_setup(**self.env())
        from benchmarks.bench_app import dtasks

        self.tasks = dtasks

    def enqueuer(self, job: str):
        return getattr(self.tasks, job).enqueue

    def worker(self, threads: int, child, burst: bool = True):
        if threads != 1:
            raise Unavailable("db_worker runs one task at a time")
        # --batch: exit when nothing is left; --no-startup-delay: no random sleep before the first task
        options = ["--no-startup-delay", "--verbosity", "0"] + (["--batch"] if burst else [])
        return child.manage("db_worker", *options), self.env()

    def queued(self) -> int:
        from django_tasks_db.models import DBTaskResult

        return DBTaskResult.objects.ready().count()
