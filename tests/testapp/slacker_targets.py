"""What the slacker tests postpone: importable by the endpoint's server process too."""

from __future__ import annotations

import time


class Foo:
    """The original tornado-slacker test class: a name, a chainable method, a property."""

    def __init__(self, name: str):
        self._name = name
        self.name_accessed = False

    def create_bar(self) -> Foo:
        self.bar = Foo(self._name + " bar")
        return self

    def get_name(self) -> str:
        return self._name

    def xy(self, x, y) -> str:
        return f"{x}-{y}"

    @property
    def name(self) -> str:
        self.name_accessed = True
        return self._name


class Unpicklable(Exception):
    """Pickles, but cannot be unpickled: ``__init__`` needs two arguments, ``args`` holds one."""

    def __init__(self, left: str, right: str):
        super().__init__(f"{left} and {right}")


def sleep_then(seconds: float, value=None):
    time.sleep(seconds)
    return value


def raise_unpicklable():
    raise Unpicklable("cannot", "travel")


def raise_value_error(text: str):
    raise ValueError(text)


calls: list[str] = []


def record(value: str) -> str:
    """Remembers being called (in the process that ran it), to prove nothing ran early."""
    calls.append(value)
    return value


def query_and_return_connection():
    """Runs a query, then hands back this thread's connection wrapper (thread worker only: no pickling)."""
    from django.contrib.auth.models import User
    from django.db import connections

    User.objects.count()
    return connections["default"]


def close_connection():
    from django.db import connections

    connections["default"].close()


def raise_timeout():
    raise TimeoutError("the chain's own socket timed out")
