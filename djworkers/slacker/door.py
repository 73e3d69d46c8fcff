"""The slacker's descriptor: what the core needs to know about this door."""

from __future__ import annotations

from typing import Any

from ..doors import Door, WorkerCommand


def _tornado_command() -> tuple[str, ...]:
    from .. import conf

    command = conf.section("SLACKER")["TORNADO_COMMAND"]
    return tuple(command) if isinstance(command, (list, tuple)) else ()


class SlackerDoor(Door):
    name = "slacker"
    title = "Offloaded chains (slacker)"
    settings_section = "SLACKER"
    defaults = {
        "WORKER": "thread",
        "SERVER": "http://127.0.0.1:8000/slacker/",
        "MAX_AGE": 60.0,
        "TIMEOUT": 30.0,
        "THREADS": 10,
        "HTTP_MAX_CLIENTS": 10,
        "TORNADO_COMMAND": None,
        "QUEUE": None,
    }
    legacy_settings = {"SLACKER_SERVER": "SERVER"}
    # The queue worker's job (djworkers/slacker/jobs.py), so every consumer knows it.
    autodiscover = ("slacker.jobs",)

    def check(self):
        from .checks import check

        return check()

    def status(self, options) -> dict[str, Any]:
        from .status_section import slacker_section

        return slacker_section(options)

    def workers(self):
        command = _tornado_command()
        if not command:
            return ()
        return (WorkerCommand("tornado", command, 'when DJWORKERS["SLACKER"]["TORNADO_COMMAND"] is set'),)


door = SlackerDoor()
