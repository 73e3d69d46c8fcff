"""The queue front door (djutils.queue heritage).

::

    from djworkers.queue import queue_command, periodic_command, crontab

    @queue_command
    def churn_data(instance, payload): ...

    churn_data(obj, data)          # enqueued; returns a JobHandle at once

See docs/queue.rst for the full guide.
"""

from ..registry import autodiscover
from .api import (
    JobHandle,
    QueueCommand,
    acancel,
    build_backend,
    cancel,
    enqueue,
    enqueue_many,
    enqueue_message,
    get_backend,
    get_result,
    invoker,
    queue_command,
)
from .crontab import crontab
from .periodic import Scheduler, periodic_command

__all__ = [
    "JobHandle",
    "QueueCommand",
    "Scheduler",
    "acancel",
    "autodiscover",
    "build_backend",
    "cancel",
    "crontab",
    "enqueue",
    "enqueue_many",
    "enqueue_message",
    "get_backend",
    "get_result",
    "invoker",
    "periodic_command",
    "queue_command",
]
