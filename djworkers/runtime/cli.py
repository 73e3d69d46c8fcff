"""argparse ``type=`` validators shared by every management command.

Each rejects bad input with a message naming what was expected, which Django
turns into a CommandError (``manage.py cmd --threads 0`` -> "must be at least 1").
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def number(
    kind: type, *, minimum: float, inclusive: bool = True, what: str = "a number", hint: str = ""
) -> Callable[[str], int | float]:
    """A validator parsing ``kind`` (int or float) that is >= ``minimum`` (> when not ``inclusive``)."""

    def parse(value: str) -> int | float:
        try:
            parsed = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from None
        if parsed < minimum or (not inclusive and parsed == minimum):
            if kind is int and inclusive:
                bound = "must be 0 or more" if minimum == 0 else f"must be at least {minimum:g}"
            else:
                bound = f"must be {'>=' if inclusive else 'more than'} {minimum:g}"
            raise argparse.ArgumentTypeError(f"{bound}{hint}, got {parsed:g}")
        return parsed

    parse.__name__ = f"{what.replace(' ', '_')}"
    return parse


positive_int = number(int, minimum=1, what="a whole number")
non_negative_int = number(int, minimum=0, what="a whole number")
positive_float = number(float, minimum=0, inclusive=False)
seconds = number(float, minimum=0, inclusive=False, what="a number of seconds", hint=" seconds")
backoff_factor = number(float, minimum=1, hint=" (1 = poll at a constant --delay)")
