"""The Gearman door's descriptor: what the core needs to know about this door."""

from __future__ import annotations

from typing import Any

from ..doors import Door, WorkerCommand


def in_use() -> bool:
    """Gearman jobs are registered, or the project configured the door (new or old settings)."""
    from django.conf import settings

    from .decorators import gearman_jobs

    user = getattr(settings, "DJWORKERS", None) or {}
    return bool(gearman_jobs()) or "GEARMAN" in user or hasattr(settings, "GEARMAN_SERVERS")


def _worker_wanted() -> bool:
    """``djworkers_run --all`` starts the worker when jobs exist and a gearmand answers."""
    from . import library, server_admin
    from .decorators import gearman_jobs

    if not gearman_jobs():
        return False
    try:
        return any(server_admin.answers(server) for server in library.configured_servers())
    except Exception:
        return False


class GearmanDoor(Door):
    name = "gearman"
    title = "Gearman"
    settings_section = "GEARMAN"
    defaults = {
        "SERVERS": ["127.0.0.1:4730"],
        "JOB_NAME": None,
        "RETRIES": 0,
        "RETRY_DELAY": 10.0,
        "RETRY_BACKOFF": 2.0,
        "RETRY_MAX_DELAY": 3600.0,
    }
    legacy_settings = {
        "GEARMAN_SERVERS": "SERVERS",
        "GEARMAN_JOB_NAME": "JOB_NAME",
    }
    autodiscover = ("gearman_jobs",)

    def enqueue(self, message) -> None:
        """Replay: the job goes back to gearmand as a background job."""
        from .client import default_client

        options = {k: v for k, v in message.options.items() if k not in ("foreground", "no_retry")}
        default_client().submit_message(message.replace(options=options), background=True)

    def check(self):
        from .checks import check

        return check()

    def status(self, options) -> dict[str, Any] | None:
        if not in_use():
            return None
        from .status_section import gearman_section

        return gearman_section(options)

    def workers(self):
        return (
            WorkerCommand(
                "gearman",
                ("gearman_worker",),
                'when @gearman_job jobs are registered and a gearmand of DJWORKERS["GEARMAN"]["SERVERS"] answers',
                _worker_wanted,
            ),
        )


door = GearmanDoor()
