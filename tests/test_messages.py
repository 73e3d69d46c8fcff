"""The job envelope: every field survives encoding; signed-but-wrong frames are MalformedMessage.

Why: every transport carries these bytes; a field lost in the round trip (eta,
attempt) silently breaks retries, and a frame that verifies but is not an
envelope must be quarantined with its bytes, not crash the worker.
"""

from __future__ import annotations

import datetime
import decimal
import pickle
import threading
import time
import uuid

import pytest

from djworkers.exceptions import InvalidMessage, MalformedMessage
from djworkers.messages import ENVELOPE_VERSION, Message, decode, encode, new_id
from djworkers.serializers.signing import sign
from tests.utils import in_forked_child


def test_defaults():
    before = time.time()
    message = Message("a.b")
    assert message.args == () and message.kwargs == {} and message.options == {}
    assert message.queue == "default"
    assert message.attempt == 0 and message.eta is None
    assert before <= message.enqueued_at <= time.time()
    assert len(message.id) == 32 and message.id != Message("a.b").id
    assert message.describe() == f"a.b[{message.id}]"


def test_every_field_round_trips_with_pickle():
    message = Message(
        "reports.build",
        args=(decimal.Decimal("1.10"), datetime.date(2026, 1, 2), uuid.UUID(int=7), b"\x00\xff", {1, 2}),
        kwargs={"nested": {"list": [1, (2, 3)]}, "none": None},
        queue="reports",
        attempt=3,
        eta=1_900_000_000.5,
        enqueued_at=1_800_000_000.25,
        options={"priority": 5, "unique": "k"},
    )
    assert decode(encode(message)) == message


def test_next_attempt_and_is_due():
    message = Message("a.b")
    assert message.is_due
    later = message.next_attempt(time.time() + 60)
    assert later.attempt == 1 and later.id == message.id and not later.is_due
    assert message.attempt == 0  # frozen: the original is untouched
    assert message.next_attempt(time.time() - 1).is_due


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"no serializer line", "frame has no serializer name"),
        (b"pickle\n" + b"not a pickle", "payload cannot be decoded"),
        (b"pickle\n" + pickle.dumps([1, 2, 3]), "not a version-1 envelope"),
        (b"pickle\n" + pickle.dumps({"v": ENVELOPE_VERSION + 1}), "not a version-1 envelope"),
        (b'json\n{"v": 1, "name": "a.b"}', "envelope is invalid"),
        (
            b'json\n{"v": 1, "id": "x", "name": "a", "args": [], "kwargs": [1], "queue": "q", '
            b'"attempt": 0, "eta": null, "enqueued_at": 1}',
            "envelope is invalid",
        ),
        (
            b'json\n{"v": 1, "id": "x", "name": "a", "args": [], "kwargs": {}, "queue": "q", '
            b'"attempt": "first", "eta": null, "enqueued_at": 1}',
            "envelope is invalid",
        ),
        (b"yaml\nname: a.b", "serializer 'yaml', which is not configured"),
    ],
    ids=[
        "no-newline",
        "garbage-pickle",
        "not-a-dict",
        "future-version",
        "missing-keys",
        "kwargs-not-a-dict",
        "attempt-not-int",
        "unknown-serializer",
    ],
)
def test_signed_but_malformed_frames(body, detail):
    frame = sign(body)
    with pytest.raises(MalformedMessage) as info:
        decode(frame)
    assert detail in str(info.value)
    assert info.value.raw == frame
    assert info.value.reason == "malformed"
    assert isinstance(info.value, InvalidMessage)


def test_decode_accepts_memoryview_and_bytearray():
    """Database drivers hand BinaryField values back as memoryview (PostgreSQL)."""
    message = Message("a.b", args=(1,))
    frame = encode(message)
    assert decode(memoryview(frame)) == message
    assert decode(bytearray(frame)) == message


def test_decoded_message_is_an_ordinary_frozen_message():
    """decode builds the Message without its __init__ (a quarter of a decode): the
    result must behave exactly like a constructed one (equal, frozen, replaceable, picklable)."""
    message = Message("a.b", args=(1, "x"), kwargs={"k": [2]}, queue="q", attempt=2, eta=5.0, options={"priority": 3})
    decoded = decode(encode(message))
    assert type(decoded) is Message
    assert decoded == message and repr(decoded) == repr(message)
    assert decoded.replace(attempt=3).attempt == 3 and decoded.next_attempt(9.0).eta == 9.0
    assert pickle.loads(pickle.dumps(decoded)) == message
    with pytest.raises(AttributeError):
        decoded.name = "other"  # type: ignore[misc]


def test_an_envelope_that_misses_a_field_is_built_with_the_constructor():
    """A field the envelope does not carry (added to Message later) gets its default."""
    from djworkers.messages import _from_fields

    built = _from_fields({"name": "a.b", "queue": "q"})
    assert built.queue == "q" and built.args == () and len(built.id) == 32


def test_ids_are_unique_across_threads_and_a_fork():
    """Ids drawn ahead (one os.urandom per batch) never repeat between threads, nor between a
    parent and its forked child (the child draws its own)."""
    new_id()  # the parent holds ids drawn ahead when it forks
    drawn: list[list[str]] = []
    threads = [threading.Thread(target=lambda: drawn.append([new_id() for _ in range(2000)])) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [i for batch in drawn for i in batch]
    assert len(set(ids)) == len(ids) == 8000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids[:50])
    child = in_forked_child(lambda: "".join(new_id() for _ in range(10)))
    parent = "".join(new_id() for _ in range(10))
    assert len(child) == 320 and child != parent
    assert not {child[i : i + 32] for i in range(0, 320, 32)} & {parent[i : i + 32] for i in range(0, 320, 32)}
