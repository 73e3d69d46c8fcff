"""The job envelope every transport carries, and its encoding to signed bytes.

A :class:`Message` names a registered job and holds its arguments. Transports
move the bytes from :func:`encode` without looking inside; workers call
:func:`decode`, which verifies the signature first and raises an
:class:`~djworkers.exceptions.InvalidMessage` (carrying the raw bytes) for
anything that is not a well-formed, correctly signed envelope.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import time
from typing import Any

from .exceptions import MalformedMessage, SerializationError
from .serializers import BUILTIN, Serializer, get_serializer
from .serializers import configured as configured_serializer
from .serializers.signing import sign, unsign

ENVELOPE_VERSION = 1


#: Ids drawn ahead from one ``os.urandom`` call: a system call per id cost more than the rest of
#: :func:`new_id` (and, on virtual machines, slows the code that runs after it). A deque's
#: ``popleft`` hands each id to one thread; a forked child empties it, so parent and child
#: never share an id.
_ids: collections.deque[str] = collections.deque()
_IDS_PER_DRAW = 64
os.register_at_fork(after_in_child=_ids.clear)


def new_id() -> str:
    """A random 32-hex-digit id (what ``uuid4().hex`` gives, without building a UUID)."""
    try:
        return _ids.popleft()
    except IndexError:
        drawn = os.urandom(16 * _IDS_PER_DRAW).hex()
        _ids.extend(drawn[i : i + 32] for i in range(32, len(drawn), 32))
        return drawn[:32]


@dataclasses.dataclass(frozen=True)
class Message:
    """One job to run: which job, its arguments, and where it is in its life."""

    name: str
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    queue: str = "default"
    id: str = dataclasses.field(default_factory=new_id)
    attempt: int = 0
    eta: float | None = None
    enqueued_at: float = dataclasses.field(default_factory=time.time)
    options: dict = dataclasses.field(default_factory=dict)

    def replace(self, **changes: Any) -> Message:
        return dataclasses.replace(self, **changes)

    def next_attempt(self, eta: float | None) -> Message:
        """The same job, one attempt later, due at ``eta``."""
        return self.replace(attempt=self.attempt + 1, eta=eta)

    @property
    def is_due(self) -> bool:
        return self.eta is None or self.eta <= time.time()

    def describe(self) -> str:
        return f"{self.name}[{self.id}]"


#: Message's fields, in order; a decoded envelope that fills every one skips ``__init__``.
_FIELDS = tuple(field.name for field in dataclasses.fields(Message))
_TRUSTED_BUILD = not hasattr(Message, "__post_init__")


def _from_fields(fields: dict[str, Any]) -> Message:
    """A :class:`Message` from field values :func:`decode` has already converted and checked.

    A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__``:
    a quarter of a decode for nine fields. When ``fields`` names every field (and
    Message has no ``__post_init__``) the instance's ``__dict__`` is filled at
    once, which gives the same object; otherwise the ordinary constructor runs.
    """
    if _TRUSTED_BUILD and len(fields) == len(_FIELDS):
        message = object.__new__(Message)
        message.__dict__.update(fields)
        return message
    return Message(**fields)


def _envelope(message: Message) -> dict[str, Any]:
    return {
        "v": ENVELOPE_VERSION,
        "id": message.id,
        "name": message.name,
        "args": list(message.args),
        "kwargs": dict(message.kwargs),
        "queue": message.queue,
        "attempt": message.attempt,
        "eta": message.eta,
        "enqueued_at": message.enqueued_at,
        "options": dict(message.options),
    }


def _culprit(serializer: Serializer, message: Message) -> str:
    """Name the first argument the serializer refuses, for a useful error."""
    for index, value in enumerate(message.args):
        try:
            serializer.dumps(value)
        except Exception:
            return f"positional argument {index} of type {type(value).__qualname__}"
    for key, value in message.kwargs.items():
        try:
            serializer.dumps(value)
        except Exception:
            return f"keyword argument {key!r} of type {type(value).__qualname__}"
    return "an option or the envelope itself"


def encode(message: Message, serializer: Serializer | str | None = None) -> bytes:
    """Serialize and sign ``message``.

    Raises :class:`SerializationError` naming the job and the argument's type
    when an argument cannot be serialized, so the caller learns at enqueue time.
    """
    if serializer is None or isinstance(serializer, str):
        serializer = get_serializer(serializer)
    try:
        payload = serializer.dumps(_envelope(message))
    except Exception as exc:
        raise SerializationError(
            f"Cannot enqueue job {message.name!r}: {_culprit(serializer, message)} "
            f"cannot be serialized with the {serializer.name!r} serializer ({exc})."
        ) from exc
    return sign(serializer.name.encode("utf-8") + b"\n" + payload)


def seal(payload: Any, serializer: Serializer | str | None = None) -> bytes:
    """Serialize and sign any value in the frame layout of :func:`encode`.

    The result store keeps job results this way, so a result is as tamper-proof
    as a message and there is one signer.
    """
    if serializer is None:
        serializer = configured_serializer()
    elif isinstance(serializer, str):
        serializer = get_serializer(serializer)
    return sign(serializer.name.encode("utf-8") + b"\n" + serializer.dumps(payload))


def unseal(raw: bytes) -> Any:
    """Verify and deserialize a frame made by :func:`seal` (or :func:`encode`)."""
    body = unsign(raw)  # raises BadSignature before anything is deserialized
    name, sep, payload = body.partition(b"\n")
    if not sep:
        raise MalformedMessage("frame has no serializer name", raw=bytes(raw))
    serializer_name = name.decode("utf-8", "replace")
    try:
        serializer = BUILTIN[serializer_name]() if serializer_name in BUILTIN else get_serializer()
        if serializer.name != serializer_name:
            raise MalformedMessage(
                f"frame was written with serializer {serializer_name!r}, which is not configured",
                raw=bytes(raw),
            )
        return serializer.loads(payload)
    except MalformedMessage:
        raise
    except Exception as exc:
        raise MalformedMessage(f"payload cannot be decoded: {exc}", raw=bytes(raw)) from exc


def decode(raw: bytes) -> Message:
    """Verify and decode a frame made by :func:`encode`."""
    data = unseal(raw)
    try:
        if not isinstance(data, dict) or data.get("v") != ENVELOPE_VERSION:
            raise ValueError("not a version-1 envelope")
        return _from_fields(
            {
                "name": str(data["name"]),
                "args": tuple(data["args"]),
                "kwargs": dict(data["kwargs"]),
                "queue": str(data["queue"]),
                "id": str(data["id"]),
                "attempt": int(data["attempt"]),
                "eta": None if data["eta"] is None else float(data["eta"]),
                "enqueued_at": float(data["enqueued_at"]),
                "options": dict(data.get("options") or {}),
            }
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedMessage(f"envelope is invalid: {exc}", raw=bytes(raw)) from exc
