"""What a Gearman caller can catch (G5)."""

from __future__ import annotations


class GearmanError(Exception):
    """Base class of the Gearman door's errors."""


class GearmanJobError(GearmanError):
    """The job raised on the worker. ``remote_type`` and ``remote_message`` say what it raised.

    ``remote_traceback`` is the worker's traceback text (for logs; it is not re-raised).
    """

    def __init__(self, name: str, remote_type: str, remote_message: str, remote_traceback: str = ""):
        self.name = name
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback
        super().__init__(f"Gearman job {name!r} raised {remote_type}: {remote_message}")


class GearmanTimeout(GearmanError, TimeoutError):
    """No answer within ``poll_timeout`` seconds (the job may still run on a worker)."""


class GearmanUnavailable(GearmanError, ConnectionError):
    """No gearmand of ``DJWORKERS["GEARMAN"]["SERVERS"]`` accepted the job."""
