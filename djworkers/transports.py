"""Where a message can be sent again: transport name -> enqueue function.

Replay (admin action, ``djworkers_failed --replay``) reads a FailedJob's
``transport`` and hands the decoded message back to that transport's enqueue
function, imported lazily from :data:`ENQUEUERS`. Each front door that has a
transport adds one line here.
"""

from __future__ import annotations

from collections.abc import Callable


from .loading import load_object
from .messages import Message

#: transport name -> dotted path of ``enqueue(message: Message) -> None``.
ENQUEUERS: dict[str, str] = {
    "queue": "djworkers.queue.api.enqueue_message",
}


def enqueuer(transport: str) -> Callable[[Message], None] | None:
    path = ENQUEUERS.get(transport)
    return load_object(path, f"djworkers.transports.ENQUEUERS[{transport!r}]") if path else None
