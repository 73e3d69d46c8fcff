"""Offload blocking code from an event loop (S1–S5): ``await postpone(User).objects.get(pk=1)``.

The modern form of tornado-slacker: :func:`postpone` records a chain, awaiting
it runs the chain on a worker (``local``, ``thread``, ``http``, ``queue``) and
returns the value. See ``docs/slacker.rst``.
"""

from .chain import Chain, Postponed, chain_of, postpone
from .exceptions import ChainRefused, RemoteError, SlackerError, SlackerHTTPError, SlackerTimeout
from .runner import run

__all__ = [
    "Chain",
    "ChainRefused",
    "Postponed",
    "RemoteError",
    "SlackerError",
    "SlackerHTTPError",
    "SlackerTimeout",
    "chain_of",
    "postpone",
    "run",
]
