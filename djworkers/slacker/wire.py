"""Chains and results as signed bytes, for the ``http`` and ``queue`` workers (S5).

A chain frame is ``sign(b"slacker-chain\\n" + timestamp + b"\\n" + pickle(chain))``
with the core signer (:mod:`djworkers.serializers.signing`, the project key).
The timestamp sits outside the pickle but under the signature, so the endpoint
checks the signature *and* the age before anything is unpickled. The first
line separates these frames from queue messages (whose first line names a
serializer), so one kind cannot be passed off as the other.

A result frame is ``sign(b"slacker-result\\n" + pickle(outcome))``; the caller
verifies it too before unpickling what the server sent.
"""

from __future__ import annotations

import functools
import pickle
import time
import traceback
from typing import TYPE_CHECKING, Any

from ..exceptions import BadSignature, MalformedMessage, SerializationError
from ..serializers.signing import sign, unsign
from .chain import Chain
from .exceptions import ChainExpired, RemoteError

if TYPE_CHECKING:
    from django.db.models.query import QuerySet

CHAIN_KIND = b"slacker-chain"
RESULT_KIND = b"slacker-result"

#: An outcome is ("ok", value) or ("error", exception); both pickle.
Outcome = tuple[str, Any]


def encode_chain(chain: Chain, now: float | None = None) -> bytes:
    """Sign ``chain`` with the time it was sent."""
    stamp = repr(time.time() if now is None else now).encode("ascii")
    return sign(CHAIN_KIND + b"\n" + stamp + b"\n" + _dumps(chain, "chain"))


def decode_chain(frame: bytes, max_age: float, now: float | None = None) -> Chain:
    """The chain in ``frame`` if its signature verifies and it is younger than ``max_age``.

    Raises :class:`~djworkers.exceptions.BadSignature` (forged, unsigned),
    :class:`ChainExpired` (too old, or from the future beyond ``max_age``) or
    :class:`~djworkers.exceptions.MalformedMessage`; none of them unpickles.
    """
    body = unsign(frame)
    kind, _, rest = body.partition(b"\n")
    stamp, sep, payload = rest.partition(b"\n")
    if kind != CHAIN_KIND or not sep:
        raise MalformedMessage("not a slacker chain frame", raw=bytes(frame))
    try:
        sent = float(stamp.decode("ascii"))
    except ValueError as exc:
        raise MalformedMessage("chain frame has no timestamp", raw=bytes(frame)) from exc
    age = (time.time() if now is None else now) - sent
    if not -max_age <= age <= max_age:
        raise ChainExpired(f'the chain was signed {age:.1f}s ago; DJWORKERS["SLACKER"]["MAX_AGE"] allows {max_age}s')
    chain = pickle.loads(payload)  # signed by the project key and fresh
    if not isinstance(chain, Chain):
        raise MalformedMessage(f"the frame holds a {type(chain).__qualname__}, not a chain", raw=bytes(frame))
    return chain


def run_chain(chain: Chain) -> Outcome:
    """Run ``chain`` here and capture its value or its exception (the remote side)."""
    try:
        return ("ok", evaluate(chain.execute()))
    except Exception as exc:
        return ("error", exc)


def evaluate(value: Any) -> Any:
    """Fetch a lazy QuerySet's rows here, in the worker, not later in the event loop.

    A chain like ``postpone(User).objects.filter(...)[:5]`` ends on an
    unevaluated QuerySet; the caller gets it back with its rows cached.
    """
    if isinstance(value, _queryset_class()):
        len(value)  # fills the result cache
    return value


@functools.cache
def _queryset_class() -> type[QuerySet]:
    # Imported on first use: this module loads before Django's apps are ready.
    from django.db.models.query import QuerySet

    return QuerySet


def _dumps(value: Any, what: str) -> bytes:
    try:
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        described = value.describe() if isinstance(value, Chain) else type(value).__qualname__
        raise SerializationError(
            f"Cannot send the postponed {what} {described}: it does not pickle "
            f"({type(exc).__name__}: {exc}). The http and queue workers need "
            "picklable roots and arguments; the thread worker does not."
        ) from exc


def encode_result(outcome: Outcome) -> bytes:
    """Sign an outcome. A value or exception that does not pickle becomes a :class:`RemoteError`."""
    status, value = outcome
    if status == "error":
        return sign(RESULT_KIND + b"\n" + pickle.dumps(("error", portable_exception(value)), pickle.HIGHEST_PROTOCOL))
    try:
        payload = pickle.dumps(("ok", value), pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        error = RemoteError(
            "djworkers.slacker.UnpicklableResult",
            f"the chain returned a {type(value).__qualname__}, which cannot be pickled: {exc}",
        )
        payload = pickle.dumps(("error", error), pickle.HIGHEST_PROTOCOL)
    return sign(RESULT_KIND + b"\n" + payload)


def decode_result(frame: bytes) -> Outcome:
    """Verify and unpickle a result frame."""
    body = unsign(frame)
    kind, sep, payload = body.partition(b"\n")
    if kind != RESULT_KIND or not sep:
        raise BadSignature("not a slacker result frame", raw=bytes(frame))
    outcome = pickle.loads(payload)
    if not (isinstance(outcome, tuple) and len(outcome) == 2 and outcome[0] in ("ok", "error")):
        raise MalformedMessage("the result frame holds no outcome", raw=bytes(frame))
    return outcome


def portable_exception(exc: BaseException) -> BaseException:
    """``exc`` itself if it survives a pickle round trip, else a :class:`RemoteError`.

    Either way the remote traceback travels along: as a note on the exception
    (shown under the local traceback) or as :attr:`RemoteError.traceback`.
    """
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        copy = pickle.loads(pickle.dumps(exc, pickle.HIGHEST_PROTOCOL))
        if type(copy) is not type(exc):
            raise TypeError("the exception came back as another type")
    except Exception:
        kind = type(exc)
        return RemoteError(f"{kind.__module__}.{kind.__qualname__}", str(exc), text)
    copy.__cause__ = copy.__context__ = None
    copy.add_note(f"Remote traceback (djworkers.slacker):\n{text}")
    return copy
