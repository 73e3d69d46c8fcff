"""What awaiting a postponed chain can raise besides the chain's own exceptions (S4, S5)."""

from __future__ import annotations


class SlackerError(Exception):
    """A chain could not be run: the worker, the endpoint or the network failed."""


class SlackerTimeout(SlackerError, TimeoutError):
    """No result within the timeout (``DJWORKERS["SLACKER"]["TIMEOUT"]`` or ``timeout=``)."""


class SlackerHTTPError(SlackerError):
    """The endpoint answered with an HTTP error, or could not be reached.

    ``code`` is the HTTP status (599 when no response came: refused, reset).
    """

    def __init__(self, message: str, code: int = 599):
        self.code = code
        super().__init__(message)


class ChainRefused(SlackerHTTPError):
    """The endpoint answered 403: the chain's signature did not verify or it was too old."""


class ChainExpired(SlackerError):
    """A chain older than ``DJWORKERS["SLACKER"]["MAX_AGE"]`` (raised by the endpoint side)."""


class RemoteError(SlackerError):
    """An exception raised by the chain that could not travel back with its own type.

    Keeps what can be kept: ``type_name`` (``"module.QualName"``), ``message``
    and the remote ``traceback`` text.
    """

    def __init__(self, type_name: str, message: str, traceback: str = ""):
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        super().__init__(type_name, message, traceback)

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}"
