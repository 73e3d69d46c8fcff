"""Every exception djworkers raises on purpose, in one place."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class DjworkersImproperlyConfigured(ImproperlyConfigured):
    """A ``DJWORKERS`` setting (or a legacy flat setting) is wrong."""


class JobNotRegistered(LookupError):
    """A message names a job that no installed app registered."""

    def __init__(self, name: str, known: list[str] | None = None):
        self.name = name
        hint = f" Known jobs: {', '.join(sorted(known))}." if known else ""
        super().__init__(
            f"No job named {name!r} is registered. Is the module defining it listed in "
            f"INSTALLED_APPS (commands.py, tasks.py, gearman_jobs.py are autodiscovered)?{hint}"
        )


class DuplicateJob(ValueError):
    """Two different callables tried to register under one name."""


class InvalidMessage(Exception):
    """A frame could not be turned into a message.

    Carries the raw bytes and a short machine-readable ``reason`` so the frame can
    be quarantined (stored as a FailedJob) instead of dropped.
    """

    reason = "invalid"

    def __init__(self, detail: str, raw: bytes = b""):
        self.detail = detail
        self.raw = raw
        super().__init__(f"{self.reason}: {detail}")


class BadSignature(InvalidMessage):
    """The frame's HMAC does not verify with any configured key. Never deserialized."""

    reason = "bad-signature"


class MalformedMessage(InvalidMessage):
    """The signature verified but the payload is not a valid envelope."""

    reason = "malformed"


class SerializationError(TypeError):
    """Job arguments cannot be serialized; raised at enqueue time, naming the job."""


class JobTimeout(Exception):
    """A job ran past its time limit (``timeout=`` or ``QUEUE["TIMEOUT"]``). Recorded as "timed out"."""


class ResultError(Exception):
    """Base class of the errors raised by a job handle's ``get()``/``status``."""


class ResultsNotEnabled(ResultError):
    """The job was enqueued without a stored result (``result=True`` / ``QUEUE["RESULTS"]``)."""


class ResultTimeout(ResultError, TimeoutError):
    """``get(timeout=...)`` ran out before the job finished."""


class JobCancelled(ResultError):
    """``get()`` on a job that was cancelled before it ran."""


class RemoteJobError(ResultError):
    """The job raised an exception that could not be carried back as itself.

    ``type_name``, ``message`` and ``traceback`` hold what the worker saw.
    """

    def __init__(self, type_name: str, message: str, traceback: str = ""):
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        super().__init__(f"{type_name}: {message}")


class PoisonJob(Exception):
    """A job handed out more than ``QUEUE["MAX_DELIVERIES"]`` times, its consumer dying each time."""


class BackendUnavailable(ConnectionError):
    """A queue backend's server cannot be reached (refused, timed out, connection lost).

    The message names the backend, where it was trying to connect (passwords
    hidden) and the setting that says so; the original error is chained
    (``__cause__``). A subclass of the built-in :class:`ConnectionError`, so
    code that already catches that keeps working.
    """

    def __init__(self, backend: str, location: str, setting: str, detail: str):
        self.backend = backend
        self.location = location
        self.setting = setting
        super().__init__(f"The {backend} queue backend cannot reach {location} ({setting}): {detail}")
