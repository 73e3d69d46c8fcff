"""The queue's descriptor: what the core needs to know about this door."""

from __future__ import annotations

from typing import Any

from ..doors import Door, WorkerCommand


class QueueDoor(Door):
    name = "queue"
    title = "Queue"
    settings_section = "QUEUE"
    defaults = {
        "BACKEND": "database",
        "NAME": "default",
        "CONNECTION": None,
        "ALWAYS_EAGER": False,
        "LEASE_SECONDS": 30,
        "RETRIES": 0,
        "RETRY_DELAY": 10.0,
        "RETRY_BACKOFF": 2.0,
        "RETRY_MAX_DELAY": 3600.0,
        "PERIODIC": True,
        "NOTIFY": True,
        "ENQUEUE_ON_COMMIT": None,
        "RESULTS": False,
        "RESULT_TTL": 86400.0,
        "TIMEOUT": None,
        "MAX_DELIVERIES": 5,
    }
    legacy_settings = {
        "QUEUE_BACKEND": "BACKEND",
        "QUEUE_CLASS": "BACKEND",
        "QUEUE_CONNECTION": "CONNECTION",
        "QUEUE_NAME": "NAME",
        "QUEUE_ALWAYS_EAGER": "ALWAYS_EAGER",
    }
    autodiscover = ("commands",)
    models_module = "djworkers.queue.models"

    def enqueue(self, message) -> None:
        from .api import enqueue_message

        enqueue_message(message)

    def check(self):
        from .checks import check

        return check()

    def status(self, options) -> dict[str, Any]:
        from .status_section import queue_section

        return queue_section(options)

    def workers(self):
        return (WorkerCommand("queue", ("queue_consumer",), "always"),)


door = QueueDoor()
