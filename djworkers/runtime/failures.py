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


def record_failure(
    message: Message,
    raw: bytes,
    *,
    transport: str,
    reason: str = "exception",
    exception: BaseException | None = None,
    traceback: str = "",
):
    """Store a job that failed for the last time. Returns the FailedJob."""
    from ..models import FailedJob

    return FailedJob.objects.create(
        job_id=message.id,
        name=message.name,
        queue=message.queue,
        transport=transport,
        reason=reason,
        raw=bytes(raw),
        arguments=_arguments_repr(message),
        exception=type(exception).__qualname__ if exception is not None else "",
        error=str(exception) if exception is not None else "",
        traceback=traceback,
        attempts=message.attempt + 1,
    )


def quarantine(error: InvalidMessage, *, transport: str, queue: str = ""):
    """Store a frame that could not be decoded, with the reason. Never deserialized."""
    from ..models import FailedJob

    logger.error("Quarantined a frame from %s (queue %r): %s", transport, queue, error)
    return FailedJob.objects.create(
        transport=transport,
        queue=queue,
        reason=error.reason,
        raw=bytes(error.raw),
        exception=type(error).__qualname__,
        error=error.detail,
    )
