"""The django.tasks door's descriptor (T1): checks, status, admin; ``queue_consumer`` runs its jobs.

It has no settings section of its own: backends are configured in Django's
``TASKS`` setting, and the queue underneath by ``DJWORKERS["QUEUE"]``. Nor a
worker command: the queue's consumer runs the tasks.
"""

from __future__ import annotations

from typing import Any

from ..doors import Door


class TasksDoor(Door):
    name = "tasks"
    title = "Django tasks"
    #: imports ``djworkers.tasks`` (registers the shim job) and each app's ``tasks.py`` (validates its tasks)
    autodiscover = ("tasks",)
    admin_module = "djworkers.tasks.admin"

    def enqueue(self, message) -> None:
        from ..queue.api import enqueue_message

        enqueue_message(message)

    def check(self):
        from .checks import check

        return check()

    def status(self, options) -> dict[str, Any] | None:
        from .status_section import tasks_section

        return tasks_section(options)


door = TasksDoor()
