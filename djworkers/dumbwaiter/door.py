"""The periodic cache's descriptor: what the core needs to know about this door."""

from __future__ import annotations

from typing import Any

from ..doors import Door, WorkerCommand


def _has_functions() -> bool:
    from .. import conf

    return bool(conf.section("DUMBWAITER")["FUNCTIONS"])


class DumbwaiterDoor(Door):
    name = "dumbwaiter"
    title = "Periodic cache (dumbwaiter)"
    settings_section = "DUMBWAITER"
    defaults = {
        "FUNCTIONS": [],
        "THREADED": True,
        "DEFAULT_FREQUENCY": 300,
        "DEFAULT_SAVED": 10,
        "SERIALIZER": None,
        "CACHE_ALIAS": "default",
        "LOCK": "database",
        "CONNECTION": None,
    }
    legacy_settings = {
        "DUMBWAITER_FUNCTION_LIST": "FUNCTIONS",
        "DUMBWAITER_SERIALIZER": "SERIALIZER",
        "DUMBWAITER_THREADED": "THREADED",
        "DUMBWAITER_DEFAULT_SAVED": "DEFAULT_SAVED",
        "DUMBWAITER_DEFAULT_FREQUENCY": "DEFAULT_FREQUENCY",
    }
    models_module = "djworkers.dumbwaiter.models"
    admin_module = "djworkers.dumbwaiter.admin"

    def check(self):
        from .checks import check

        return check()

    def status(self, options) -> dict[str, Any]:
        from .status_section import dumbwaiter_section

        return dumbwaiter_section(options)

    def workers(self):
        return (
            WorkerCommand(
                "dumbwaiter",
                ("run_dumbwaiter",),
                'when DJWORKERS["DUMBWAITER"]["FUNCTIONS"] is not empty',
                _has_functions,
            ),
        )


door = DumbwaiterDoor()
