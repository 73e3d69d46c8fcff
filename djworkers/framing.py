"""The frame a new job travels in: the core's signed envelope, made without the per-call lookups.

:func:`djworkers.messages.encode` looks up the serializer, the pickle protocol
and the signing key on every call and needs a :class:`~djworkers.messages.Message`
(a frozen dataclass) first: together about half of a ztask ``.delay()`` and a
third of a queue command's enqueue, before the write. A :class:`Framer` takes
the serializer and protocol from the settings once (its owner drops it when
settings change: the ztask client with its socket, the queue door with its
backends) and writes the same envelope dict
:func:`~djworkers.messages.encode` writes, signed by the same signer, so workers
decode it with :func:`~djworkers.messages.decode` like any other frame (the
signature is :func:`~djworkers.serializers.signing.sign`'s, as for every frame).
Anything unusual (an argument the serializer refuses) goes through
:func:`~djworkers.messages.encode`, for its error message.
"""

from __future__ import annotations

import functools
import pickle
import time

from .messages import ENVELOPE_VERSION, Message, encode, new_id
from .serializers import get_serializer
from .serializers.pickle import PickleSerializer
from .serializers.signing import sign


class Framer:
    """Envelopes for one queue name, serialized with the settings of its creation, signed by the core signer."""

    def __init__(self, queue: str):
        from . import conf

        self.queue = queue
        serializer = get_serializer()
        self.prefix = serializer.name.encode("utf-8") + b"\n"
        self.serializer = serializer
        self.dumps = serializer.dumps
        if type(serializer) is PickleSerializer:
            # PickleSerializer.dumps reads the protocol setting per call; read it here, once.
            protocol = conf.get("PICKLE_PROTOCOL") if serializer.protocol is None else serializer.protocol
            self.dumps = functools.partial(pickle.dumps, protocol=protocol)

    def frame(
        self, name: str, args: tuple, kwargs: dict, eta: float | None, options: dict | None = None
    ) -> tuple[str, float, bytes]:
        """``(id, enqueued_at, frame)`` for a new message: what ``encode(Message(...))`` gives."""
        message_id = new_id()
        enqueued_at = time.time()
        envelope = {
            "v": ENVELOPE_VERSION,
            "id": message_id,
            "name": name,
            "args": list(args),
            "kwargs": kwargs,
            "queue": self.queue,
            "attempt": 0,
            "eta": eta,
            "enqueued_at": enqueued_at,
            "options": options or {},
        }
        try:
            payload = self.dumps(envelope)
        except Exception:
            # encode() names the argument the serializer refuses (and raises SerializationError).
            message = self.message(name, args, kwargs, eta, message_id, enqueued_at, options)
            return message_id, enqueued_at, encode(message, self.serializer)
        return message_id, enqueued_at, sign(self.prefix + payload)

    def message(
        self,
        name: str,
        args: tuple,
        kwargs: dict,
        eta: float | None,
        message_id: str,
        at: float,
        options: dict | None = None,
    ) -> Message:
        """The :class:`Message` a frame carries (for signals, logs and in-process runs)."""
        return Message(
            name,
            tuple(args),
            dict(kwargs),
            self.queue,
            message_id,
            eta=eta,
            enqueued_at=at,
            options=dict(options or {}),
        )


__all__ = ["Framer"]
