"""``crontab(minute=, hour=, day=, month=, day_of_week=)``: when a periodic job is due (Q8).

Each field takes ``*``, ``*/n``, ``a``, ``a-b``, ``a-b/n``, ``a/n`` and
comma-separated lists of those (``"0,30"``, ``"1-5,*/20"``), or an int.
Sunday is 0 in ``day_of_week`` (7 is accepted as Sunday too). As in cron and
Celery, ``day_of_week`` and ``month`` also take names, in any case, anywhere a
number goes: ``"mon-fri"``, ``"sat,sun"``, ``"jan-mar"``, ``"Dec"``, or the full
``"monday"``/``"january"``. A range ending on Sunday (``"fri-sun"``) means
Friday to Sunday. A bad expression or name raises :class:`ValueError` naming
the field when the crontab is built, i.e. when the module defining the
periodic job is imported.

As in djutils (and unlike Vixie cron), every field must match: with both
``day`` and ``day_of_week`` restricted, the job runs on days that satisfy both.
"""

from __future__ import annotations

import datetime
from typing import Any

#: field name -> (lowest, highest) value.
RANGES: dict[str, tuple[int, int]] = {
    "minute": (0, 59),
    "hour": (0, 23),
    "day": (1, 31),
    "month": (1, 12),
    "day_of_week": (0, 6),
}


_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)

#: field -> {lower-case name: value}: three-letter abbreviations (cron's) and full names (Celery's).
NAMES: dict[str, dict[str, int]] = {
    "day_of_week": {name: i for i, full in enumerate(_DAYS) for name in (full[:3], full)},
    "month": {name: i for i, full in enumerate(_MONTHS, start=1) for name in (full[:3], full)},
}


def _number(field: str, text: str, expression: Any) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    names = NAMES.get(field)
    if names is not None:
        value = names.get(text.lower())
        if value is not None:
            return value
        short = ", ".join(name for name in names if len(name) == 3)
        raise ValueError(f"crontab {field}={expression!r}: {text!r} is neither a number nor a name ({short})") from None
    raise ValueError(f"crontab {field}={expression!r}: {text!r} is not a number") from None


def parse_field(field: str, expression: Any) -> frozenset[int]:
    """The set of values ``expression`` allows for ``field`` (a key of :data:`RANGES`)."""
    low, high = RANGES[field]
    if field == "day_of_week":
        high = 7  # 7 = Sunday, folded to 0 below
    if isinstance(expression, bool) or not isinstance(expression, (int, str)):
        raise ValueError(f"crontab {field}={expression!r}: expected a string or an int")
    text = str(expression).replace(" ", "")
    if not text:
        raise ValueError(f"crontab {field}={expression!r}: empty expression")
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ValueError(f"crontab {field}={expression!r}: empty item in a list")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            step = _number(field, step_text, expression)
            if step < 1:
                raise ValueError(f"crontab {field}={expression!r}: step must be >= 1, got {step}")
        if base == "*":
            start, stop = low, RANGES[field][1]
        elif "-" in base:
            first, _, last = base.partition("-")
            start, stop = _number(field, first, expression), _number(field, last, expression)
            if field == "day_of_week" and stop == 0 and last.lower() in NAMES[field]:
                stop = 7  # "fri-sun": Sunday closes the week, as 7 does
            if start > stop:
                raise ValueError(f"crontab {field}={expression!r}: range {base} goes backwards")
        else:
            start = _number(field, base, expression)
            stop = RANGES[field][1] if slash else start
        for value in (start, stop):
            if not low <= value <= high:
                raise ValueError(
                    f"crontab {field}={expression!r}: {value} is out of range "
                    f"{low}-{RANGES[field][1] if field != 'day_of_week' else '6 (Sunday = 0 or 7)'}"
                )
        values.update(range(start, stop + 1, step))
    if field == "day_of_week" and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


class crontab:
    """A schedule matched against a minute: ``crontab(minute="*/15", hour="9-17", day_of_week="1-5")``."""

    def __init__(self, minute: Any = "*", hour: Any = "*", day: Any = "*", month: Any = "*", day_of_week: Any = "*"):
        self.expressions = {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": day_of_week}
        self.minutes = parse_field("minute", minute)
        self.hours = parse_field("hour", hour)
        self.days = parse_field("day", day)
        self.months = parse_field("month", month)
        self.days_of_week = parse_field("day_of_week", day_of_week)

    def matches(self, when: datetime.datetime) -> bool:
        """True if the minute ``when`` falls in is in the schedule (seconds are ignored)."""
        return (
            when.minute in self.minutes
            and when.hour in self.hours
            and when.day in self.days
            and when.month in self.months
            and (when.weekday() + 1) % 7 in self.days_of_week  # Python: Monday = 0; cron: Sunday = 0
        )

    __call__ = matches

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.expressions.items() if v != "*")
        return f"crontab({args})"
