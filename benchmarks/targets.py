"""The performance targets the issues set, checked against each run's results.

Each target compares djworkers' row with another row of the same scenario
through the harness's ratio (djworkers' advantage; > 1 = djworkers better) and
states the threshold the issue asks for. The report lists each as met or
missed, and lists every peer that beat djworkers: losses are said plainly.
"""

from __future__ import annotations

from typing import Any

#: (scenario, djworkers row, other row, minimum ratio, what the issue says[, metric]); the ratio is on
#: the scenario's main metric unless a metric is named (e.g. CPU per job, where lower is better)
TARGETS: list[tuple] = [
    (
        "drain",
        "djworkers, 1 thread",
        "huey, 1 thread",
        2.0,
        "Redis drain, one consumer process ≥ 2× Huey's RedisHuey consumer",
    ),
    ("drain", "djworkers, 1 thread", "raw redis, 1 thread", 0.5, "Redis drain ≥ 0.5× a raw redis-py BRPOP + INCR loop"),
    (
        "database",
        "djworkers database (postgres)",
        "django-tasks-db (postgres)",
        2.0,
        "database backend on PostgreSQL drains ≥ 2× django-tasks-db's db_worker",
    ),
    (
        "enqueue",
        "djworkers",
        "raw redis",
        1 / 1.5,
        "enqueue of one job costs ≤ 1.5× a raw redis-py LPUSH (rate ≥ 0.67× raw)",
    ),
    (
        "dumbwaiter",
        "get_value (locmem)",
        "cache.get (locmem)",
        1 / 1.2,
        "get_value on a warm LocMem cache costs ≤ 1.2× cache.get (ratio ≥ 0.83)",
    ),
    (
        "dumbwaiter",
        "get_value (redis)",
        "cache.get (redis)",
        1 / 1.2,
        "get_value on a warm Redis cache costs ≤ 1.2× cache.get (ratio ≥ 0.83)",
    ),
    (
        "slacker",
        "thread worker (sqlite, persistent)",
        "run_in_executor (sqlite, persistent)",
        1 / 1.3,
        "an offloaded primary-key lookup through the thread worker costs ≤ 1.3× loop.run_in_executor",
    ),
    (
        "dumbwaiter",
        "get_value (locmem)",
        "database query (postgres)",
        5.0,
        "get_value well under a database query (taken here as ≥ 5× cheaper than a PostgreSQL query)",
    ),
    (
        "drain",
        "djworkers, 1 thread",
        "raw redis, 1 thread",
        0.8,
        "Redis drain at 1 thread ≥ 0.8× the raw BRPOP + INCR loop's rate",
    ),
    (
        "drain",
        "djworkers, 1 thread",
        "raw redis, 1 thread",
        1 / 1.3,
        "Redis drain at 1 thread ≤ 1.3× the raw loop's CPU per job",
        "cpu_us_per_job",
    ),
    ("enqueue", "djworkers", "raw redis", 0.8, "one-by-one enqueue ≥ 0.8× a raw LPUSH of a frame of the same size"),
    ("enqueue", "djworkers", "huey", 1.0, "one-by-one enqueue ≥ 1.0× Huey"),
    ("latency", "djworkers", "huey", 1.0, "latency p50 ≤ Huey's"),
    (
        "database",
        "djworkers database (sqlite)",
        "raw sqlite",
        0.8,
        "database backend (SQLite) at 1 thread ≥ 0.8× the raw claim-INCR-delete loop",
    ),
    (
        "database",
        "djworkers database (postgres)",
        "raw postgres",
        0.8,
        "database backend (PostgreSQL) at 1 thread ≥ 0.8× the raw claim-INCR-delete loop",
    ),
    (
        "backlog",
        "djworkers database (sqlite)",
        "raw sqlite",
        0.8,
        "database backend (SQLite) ≥ 0.8× the raw loop at 100,000 deep (first 10%)",
    ),
    (
        "backlog",
        "djworkers database (postgres)",
        "raw postgres",
        0.8,
        "database backend (PostgreSQL) ≥ 0.8× the raw loop at 100,000 deep (first 10%)",
    ),
    (
        "tasks",
        "djworkers.tasks (postgres)",
        "django-tasks-db (postgres)",
        5.0,
        "T1: django.tasks through djworkers on PostgreSQL drains ≥ 5× django-tasks-db's db_worker",
    ),
    (
        "tasks",
        "djworkers.tasks (postgres)",
        "djworkers queue door (postgres)",
        0.8,
        "T1: django.tasks drain ≥ 0.8× the queue door's on the same database (the adapter costs little)",
    ),
    (
        "tasks",
        "djworkers.tasks (redis)",
        "djworkers queue door (redis)",
        0.8,
        "T1: django.tasks drain ≥ 0.8× the queue door's on Redis",
    ),
    # slacker (issue 14): the same bound on PostgreSQL, where each pool thread's connection is a server process.
    (
        "slacker",
        "thread worker (postgres, persistent)",
        "run_in_executor (postgres, persistent)",
        1 / 1.3,
        "an offloaded primary-key lookup through the thread worker costs ≤ 1.3× loop.run_in_executor (PostgreSQL)",
    ),
    # -- gearman (issue #13) --
    (
        "gearman",
        "djworkers submit (background)",
        "raw pygearman submit (background)",
        0.9,
        "Gearman background submit rate ≥ 0.9× raw pygearman",
    ),
    (
        "gearman",
        "djworkers round trip (foreground)",
        "raw pygearman round trip (foreground)",
        0.9,
        "Gearman foreground round-trip rate ≥ 0.9× raw pygearman",
    ),
    # -- ztask (issue #12) --
    (
        "ztask",
        ".delay()",
        "raw pyzmq client, signed pickle per call",
        0.5,
        "Z1: .delay() rate ≥ 0.5× a raw pyzmq send of the same payload (serialized and signed per call)",
    ),
    (
        "ztask",
        "ztaskd (sqlite)",
        "djworkers database backend (sqlite)",
        0.8,
        "Z3: ztaskd's drain of 20,000 INCR jobs ≥ 0.8× the database backend's on SQLite",
    ),
    (
        "ztask",
        "ztaskd (postgres)",
        "djworkers database backend (postgres)",
        0.8,
        "Z3: ztaskd's drain of 20,000 INCR jobs ≥ 0.8× the database backend's on PostgreSQL",
    ),
]

#: (scenario, row, metric, low, high, what the issue says): a figure that must lie in [low, high]
BOUNDS: list[tuple[str, str, str, float, float, str]] = [
    (
        "backlog",
        row,
        "last_over_first",
        1 / 1.3,
        1.3,
        f"{row}, 100,000 queued: the last 10% drains within 1.3× of the first 10%'s rate",
    )
    for row in ("djworkers redis", "djworkers database (sqlite)", "djworkers database (postgres)")
]


def _row(results: dict[str, Any], scenario: str, contender: str) -> tuple[dict | None, dict | None]:
    for item in results["scenarios"]:
        if item["name"] == scenario:
            for row in item["rows"]:
                if row["contender"] == contender:
                    return item, row
            return item, None
    return None, None


def _median(row: dict, metric: str) -> float | None:
    return row["metrics"].get(metric, {}).get("median") if row else None


def check(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured ratio and ``status``: met, missed or not measured."""
    out = []
    for scenario, mine, other, minimum, text, *named in TARGETS:
        item, dj_row = _row(results, scenario, mine)
        _, other_row = _row(results, scenario, other)
        status, value = "not measured", None
        if item and dj_row and other_row:
            metric = named[0] if named else item["ratio_metric"]
            higher = next(m["higher_is_better"] for m in item["metrics"] if m["name"] == metric)
            a, b = _median(dj_row, metric), _median(other_row, metric)
            if a and b:
                value = a / b if higher else b / a
                status = "met" if value >= minimum else "missed"
        out.append(
            {
                "target": text,
                "scenario": scenario,
                "djworkers": mine,
                "other": other,
                "minimum": round(minimum, 3),
                "ratio": value,
                "status": status,
            }
        )
    for scenario, mine, metric, low, high, text in BOUNDS:
        _, row = _row(results, scenario, mine)
        value = _median(row, metric)
        status = "not measured" if value is None else "met" if low <= value <= high else "missed"
        out.append(
            {
                "target": text,
                "scenario": scenario,
                "djworkers": mine,
                "other": "",
                "minimum": round(low, 3),
                "maximum": high,
                "ratio": value,
                "status": status,
            }
        )
    return out


def losses(results: dict[str, Any]) -> list[str]:
    """One sentence per peer row that beat djworkers' row of its group (ceilings excluded)."""
    sentences = []
    for item in results["scenarios"]:
        metric = item["ratio_metric"]
        unit = next(m["unit"] for m in item["metrics"] if m["name"] == metric)
        for row in item["rows"]:
            if row["role"] != "peer" or row["ratio"] is None or row["ratio"] >= 1.0:
                continue
            sentences.append(
                f"{item['name']} ({row['group'] or 'all'}): {row['contender']} beats djworkers, "
                f"{_median(row, metric):,.2f} {unit} on {metric}: djworkers does {row['ratio']:.2f}× as well "
                f"(the peer is {1 / row['ratio']:.2f}× better)."
            )
    return sentences
