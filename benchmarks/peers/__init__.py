"""Per-peer drivers: how each contender enqueues and how its worker is started.

``get(name)`` returns a configured driver for the names the scenarios use.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import Peer


def _factories() -> dict[str, Callable[[], Peer]]:
    from .djworkers_queue import DjworkersQueue
    from .djworkers_tasks import DjworkersTasks
    from .queues import RQ, Celery, Dramatiq, Huey
    from .raw import RawRedis, RawRedisHeld, RawZmq
    from .raw_db import RawDatabase
    from .tasks_db import TasksDb

    return {
        "djworkers": DjworkersQueue,
        "djworkers database (sqlite)": lambda: DjworkersQueue("database", "sqlite"),
        "djworkers database (postgres)": lambda: DjworkersQueue("database", "postgres"),
        "huey": Huey,
        "rq": RQ,
        "rq (SimpleWorker)": lambda: RQ(simple=True),
        "dramatiq": Dramatiq,
        "celery": Celery,
        "celery (solo)": lambda: Celery("solo"),
        "celery (threads)": lambda: Celery("threads"),
        "django-tasks-db (sqlite)": lambda: TasksDb("sqlite"),
        "django-tasks-db (postgres)": lambda: TasksDb("postgres"),
        "djworkers.tasks (sqlite)": lambda: DjworkersTasks("database", "sqlite"),
        "djworkers.tasks (postgres)": lambda: DjworkersTasks("database", "postgres"),
        "djworkers.tasks (redis)": lambda: DjworkersTasks("redis"),
        "raw redis": RawRedis,
        "raw redis (held connection)": RawRedisHeld,
        "raw zmq": RawZmq,
        "raw sqlite": lambda: RawDatabase("sqlite"),
        "raw postgres": lambda: RawDatabase("postgres"),
    }


def get(name: str) -> Peer:
    """A driver for ``name``, set up in this process."""
    peer = _factories()[name]()
    peer.setup()
    return peer
