"""Replaying failed jobs: the code behind the admin action and ``djworkers_failed``."""

from __future__ import annotations

import logging

from ..doors import get_door
from ..exceptions import DjworkersImproperlyConfigured, InvalidMessage
from ..messages import decode, encode
from .executor import Executor, Outcome

logger = logging.getLogger("djworkers.replay")


class ReplayError(Exception):
    """This failed job cannot be replayed (e.g. a quarantined frame)."""


def replay(failed, *, inline: bool = False) -> str:
    """Send ``failed`` (a FailedJob) back to its door's transport, or run it here with ``inline``.

    The attempt count starts again from zero. The row is deleted once the job is
    safely handed over (or, inline, once it ran; a new failure records a new
    row). Returns a short description of what happened.
    """
    if failed.quarantined:
        raise ReplayError(
            f"Failed job {failed.pk} is a quarantined frame ({failed.reason}); it is never "
            "deserialized, so it cannot be replayed. Inspect or delete it."
        )
    try:
        message = decode(bytes(failed.raw))
    except InvalidMessage as exc:
        raise ReplayError(f"Failed job {failed.pk} no longer decodes: {exc}") from exc
    message = message.replace(attempt=0, eta=None)
    if not inline:
        try:
            door = get_door(failed.door)
        except (ImportError, DjworkersImproperlyConfigured) as exc:
            raise ReplayError(
                f"Failed job {failed.pk}: the doors cannot be loaded ({exc}); "
                "replay it with --inline or fix DJWORKERS['DOORS']."
            ) from exc
        if door is None:
            raise ReplayError(
                f"Failed job {failed.pk} came from the {failed.door!r} door, which is not installed; "
                "replay it with --inline to run it here."
            )
        if door.replayable:
            door.enqueue(message)
            failed.delete()
            return f"re-enqueued {message.describe()} on {door.name}"
    # Inline runs once (no retries here); if it fails again, the new FailedJob keeps
    # the frame without the "no_retry" marker, so a later replay retries normally.
    result = Executor(failed.door, failed.backend).run(
        message.replace(options={**message.options, "no_retry": True}), raw=encode(message)
    )
    if result.outcome is Outcome.RETRY:
        # Only when its new failure could not be recorded: keep this row, or the job is gone.
        raise ReplayError(
            f"Failed job {failed.pk} failed again and the failed-job store could not record it; it is kept here."
        )
    failed.delete()
    return f"ran {message.describe()} here: {result.outcome.value}"
