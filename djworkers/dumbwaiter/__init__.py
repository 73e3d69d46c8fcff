"""Periodic cache ("dumbwaiter"): expensive functions computed by a runner, read cheaply.

Declare functions in ``DJWORKERS["DUMBWAITER"]["FUNCTIONS"]``, run
``manage.py run_dumbwaiter``, and read results anywhere::

    from djworkers import dumbwaiter

    count = dumbwaiter.get_value("count", default=0)

See docs/dumbwaiter.rst. Requests never compute: values come from Django's cache,
falling back to the database.
"""

from .api import aget_value, get_age, get_errors, get_history, get_value, refresh, request_refresh, status
from .exceptions import AlreadyRunning, NotComputedYet, UnknownFunction

__all__ = [
    "get_value",
    "aget_value",
    "get_age",
    "get_history",
    "get_errors",
    "status",
    "refresh",
    "request_refresh",
    "UnknownFunction",
    "NotComputedYet",
    "AlreadyRunning",
]
