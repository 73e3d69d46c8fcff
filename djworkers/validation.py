"""Number rules for settings, job options and checks, in one place.

A bool is an int in Python, but ``RETRIES = True`` is a mistake, not 1: every
rule here refuses bools. Command-line options have their argparse twins in
:mod:`djworkers.runtime.cli`.
"""

from __future__ import annotations

from typing import Any


def is_number(value: Any) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    """An int, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_positive(value: Any) -> bool:
    """A number > 0 (seconds, intervals, factors)."""
    return is_number(value) and value > 0


def is_at_least(value: Any, minimum: float, *, whole: bool = False) -> bool:
    """A number (an int with ``whole``) >= ``minimum``."""
    return (is_whole(value) if whole else is_number(value)) and value >= minimum
