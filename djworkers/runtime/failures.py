"""Recording failed jobs and quarantined frames: the one failed-job store."""

from __future__ import annotations

import logging

from ..exceptions import InvalidMessage
from ..messages import Message

logger = logging.getLogger("djworkers.failures")

ARGUMENTS_REPR_LIMIT = 2000


def _arguments_repr(message: Message) -> str:
    parts = [repr(a) for a in message.args] + [f"{k}={v!r}" for k, v in message.kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= ARGUMENTS_REPR_LIMIT else text[:ARGUMENTS_REPR_LIMIT] + "..."


def storable_text(value: str, limit: int | None = None) -> str:
    """A value every database stores: no NUL characters (PostgreSQL rejects them in
    text), at most ``limit`` characters (a CharField's max_length).

    A record that cannot be written keeps the job coming back (see the executor),
    so nothing about the job's own data may make the write fail.
    """
    value = value.replace("\x00", "\\x00")
    return value if limit is None or len(value) <= limit else value[: limit - 3] + "..."


def record_failure(
    message: Message,
    raw: bytes,
    *,
    door: str,
    backend: str = "",
    reason: str = "exception",
    exception: BaseException | None = None,
    traceback: str = "",
):
    """Store a job that failed for the last time. Returns the FailedJob."""
    from ..models import FailedJob

    return FailedJob.objects.create(
        job_id=storable_text(message.id, 64),
        name=storable_text(message.name, 255),
        queue=storable_text(message.queue, 100),
        door=storable_text(door, 50),
        backend=storable_text(backend, 50),
        reason=reason,
        raw=bytes(raw),
        arguments=storable_text(_arguments_repr(message)),
        exception=storable_text(type(exception).__qualname__, 255) if exception is not None else "",
        error=storable_text(str(exception)) if exception is not None else "",
        traceback=storable_text(traceback),
        attempts=message.attempt + 1,
    )


def quarantine(error: InvalidMessage, *, door: str, backend: str = "", queue: str = ""):
    """Store a frame that could not be decoded, with the reason. Never deserialized."""
    from ..models import FailedJob

    logger.error("Quarantined a frame from the %s door (%s, queue %r): %s", door, backend or "?", queue, error)
    return FailedJob.objects.create(
        door=storable_text(door, 50),
        backend=storable_text(backend, 50),
        queue=storable_text(queue, 100),
        reason=error.reason,
        raw=bytes(error.raw),
        exception=type(error).__qualname__,
        error=storable_text(error.detail),
    )
