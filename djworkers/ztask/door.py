"""The ztask door's descriptor: what the core needs to know about this door."""

from __future__ import annotations

from typing import Any

from ..doors import Door, WorkerCommand

#: The name recorded on messages, failed jobs, statistics and signals.
DOOR = "ztask"


def _tasks_registered() -> bool:
    from ..registry import registry

    return bool(registry.by_door(DOOR))


class ZtaskDoor(Door):
    name = DOOR
    title = "ztask"
    settings_section = "ZTASK"
    defaults = {
        "URL": "tcp://127.0.0.1:5555",
        "ALWAYS_EAGER": False,
        "DISABLED": False,
        "RETRY_COUNT": 5,
        "RETRY_AFTER": 5.0,
        "ON_LOAD": (),
        "WORKER_URLS": (),
        "SEND_TIMEOUT": 2.0,
        "ON_UNREACHABLE": "raise",
    }
    legacy_settings = {
        "ZTASKD_URL": "URL",
        "ZTASKD_ALWAYS_EAGER": "ALWAYS_EAGER",
        "ZTASKD_DISABLED": "DISABLED",
        "ZTASKD_RETRY_COUNT": "RETRY_COUNT",
        "ZTASKD_RETRY_AFTER": "RETRY_AFTER",
        "ZTASKD_ON_LOAD": "ON_LOAD",
        "ZTASKD_WORKER_URLS": "WORKER_URLS",
    }
    autodiscover = ("tasks",)
    models_module = "djworkers.ztask.models"
    admin_module = "djworkers.ztask.admin"

    def enqueue(self, message) -> None:
        """Replay (admin, ``djworkers_failed --replay``): push the message to a ztaskd again."""
        from .client import client

        client().send(message)

    def check(self):
        from .checks import check

        return check()

    def status(self, options) -> dict[str, Any]:
        from .status_section import ztask_section

        return ztask_section(options)

    def workers(self):
        return (
            WorkerCommand("ztaskd", ("ztaskd", "--noreload"), "when @task functions are registered", _tasks_registered),
        )


door = ZtaskDoor()
