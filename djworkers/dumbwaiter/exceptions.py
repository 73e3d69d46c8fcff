"""Errors raised by the dumbwaiter read API.

Both subclass :class:`LookupError`, so ``except LookupError`` catches "no such
value" in either form, while code that wants to tell a typo from a function that
has not run yet can catch the precise class.
"""

from __future__ import annotations


class UnknownFunction(LookupError):
    """The name is not in ``DJWORKERS["DUMBWAITER"]["FUNCTIONS"]`` (a typo, usually).

    The old django-dumbwaiter crashed with an unrelated error here; the message
    now lists the names that are configured.
    """

    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = sorted(known)
        listed = ", ".join(repr(n) for n in self.known) or "none"
        super().__init__(
            f"No dumbwaiter function named {name!r} is configured in "
            f'DJWORKERS["DUMBWAITER"]["FUNCTIONS"]. Configured names: {listed}.'
        )


class NotComputedYet(LookupError):
    """The function is configured but no value has been stored yet.

    Values are only ever computed by ``manage.py run_dumbwaiter`` (never inside a
    request), so this means the runner has not run the function successfully
    yet. Pass ``default=`` to :func:`~djworkers.dumbwaiter.get_value` to get a
    fallback value instead.
    """

    def __init__(self, name: str):
        self.name = name
        super().__init__(
            f"The dumbwaiter function {name!r} has no stored value yet: is "
            "`manage.py run_dumbwaiter` running, and does the function succeed? "
            "Pass default=... to get_value() to get a fallback instead of this error."
        )


class AlreadyRunning(RuntimeError):
    """``refresh()`` / ``--once``: the function is being computed right now (here or by another runner)."""
