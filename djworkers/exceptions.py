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
        super().__init__(
            f"The {backend} queue backend cannot reach {location} ({setting}): {detail}"
        )
