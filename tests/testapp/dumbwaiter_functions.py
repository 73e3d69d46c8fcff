"""Functions the dumbwaiter tests configure (by dotted path, as users do)."""

from __future__ import annotations

import datetime
import decimal
import os
import time


def stamp(path: str, label: str = "run", seconds: float = 0.0) -> float:
    """Append ``label start`` to ``path``, optionally work for ``seconds``, append ``label end``.

    ``O_APPEND`` writes of one short line are atomic, so several processes can
    share the file.
    """
    started = time.time()
    with open(path, "a") as handle:
        handle.write(f"{label} start {started:.3f} {os.getpid()}\n")
    if seconds:
        time.sleep(seconds)
        with open(path, "a") as handle:
            handle.write(f"{label} end {time.time():.3f} {os.getpid()}\n")
    return started


def echo(value):
    return value


def add(a, b, scale=1):
    return (a + b) * scale


def rich_value():
    """A value with types that only pickle keeps exactly."""
    return {
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "amount": decimal.Decimal("1.10"),
        "pair": (1, 2),
        "set": frozenset({3}),
    }


def json_value():
    """A value made only of JSON types: identical after a JSON round-trip."""
    return {"count": 3, "names": ["a", "b"], "nested": {"ok": True, "none": None, "pi": 3.5}}


class Boom(Exception):
    pass


def explode(message: str = "kaboom"):
    raise Boom(message)


_calls = {"n": 0}


def flaky():
    """Fails on every second call (in-process counter)."""
    _calls["n"] += 1
    if _calls["n"] % 2 == 0:
        raise Boom(f"call {_calls['n']}")
    return _calls["n"]


def unpicklable():
    return lambda: None


not_callable = 42


import threading  # noqa: E402

release_event = threading.Event()


def wait_for_release(timeout: float = 30.0) -> bool:
    """Blocks until a test sets ``release_event`` (a "hanging" function the test can end)."""
    return release_event.wait(timeout)
