"""The periodic cache's status section: freshness of each function against its frequency."""

from __future__ import annotations

from typing import Any

from ..monitoring.status import StatusOptions, column, iso_time, section

TITLE = "Periodic cache (dumbwaiter)"


def dumbwaiter_section(options: StatusOptions) -> dict[str, Any]:
    from .api import status

    problems: list[str] = []
    rows = []
    try:
        entries = status()
    except Exception as exc:  # database down, bad settings: report, do not crash the health check
        return section("dumbwaiter", TITLE, [], [], [f"dumbwaiter: cannot read status: {type(exc).__name__}: {exc}"])
    for entry in entries:
        age = entry.get("age")
        frequency = entry.get("frequency")
        if isinstance(frequency, (int, float)):
            stale = age is None or age > options.stale_factor * frequency
        else:
            stale = bool(entry.get("stale", age is None))
        row = {
            "name": entry.get("name"),
            "frequency": frequency,
            "age": round(age, 1) if isinstance(age, (int, float)) else None,
            "stale": bool(stale) or age is None,
            "last_error": entry.get("last_error") or "",
            "last_error_at": iso_time(entry.get("last_error_at")),
            "running_on": entry.get("running_on") or "",
        }
        rows.append(row)
        if age is None:
            problems.append(f"dumbwaiter: {row['name']!r} has never been computed (is run_dumbwaiter running?)")
        elif row["stale"]:
            problems.append(f"dumbwaiter: {row['name']!r} is stale: last computed {age:.0f}s ago, every {frequency}s")
    notes = [] if rows else ['No functions in DJWORKERS["DUMBWAITER"]["FUNCTIONS"].']
    columns = [
        column("name", "Function"),
        column("frequency", "Every (s)"),
        column("age", "Age (s)"),
        column("stale", "Stale"),
        column("last_error", "Last error"),
        column("last_error_at", "Last error at"),
        column("running_on", "Running on"),
    ]
    return section("dumbwaiter", TITLE, columns, rows, problems, notes)
