"""Shared timing, alternation and statistics for every scenario.

A scenario (one small module in :mod:`benchmarks.scenarios`) declares its
contenders and metrics, and a ``measure`` function that runs *inside a child
process* of the peers' venv (:mod:`benchmarks.child`). The harness runs every
contender once per repetition, rotating the order each repetition (A B C, B C A,
C A B ...) so slow drift of a shared machine spreads over everyone, and keeps
every sample: the report gives the median and the range.

Before each measurement the harness waits (bounded) for a quiet machine and
records the load it starts under (:func:`benchmarks.services.wait_for_quiet`);
rows with a sample taken while the machine was still busy are flagged.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .services import wait_for_quiet
from .venv import ROOT

RESULT_PREFIX = "BENCH-RESULT "


@dataclasses.dataclass(frozen=True)
class Metric:
    """One number a scenario reports; ``higher_is_better`` orients the ratios."""

    name: str
    unit: str
    higher_is_better: bool = True
    digits: int = 0


@dataclasses.dataclass(frozen=True)
class Contender:
    """One thing measured in a scenario: djworkers, a peer, or a raw ceiling.

    ``group`` pairs rows for ratios: djworkers' row of a group is compared with
    every other row of the same group (e.g. "1 thread" with "1 thread").
    """

    name: str
    role: str  # "djworkers" | "peer" | "ceiling" | "part" (a piece of djworkers' path, for its cost)
    group: str = ""
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    note: str = ""


class Scenario:
    """Base class: subclasses set the class attributes and implement ``contenders`` and ``measure``."""

    name: str = ""
    title: str = ""
    description: str = ""
    metrics: tuple[Metric, ...] = ()
    #: the metric ratios are computed on (default: the first)
    ratio_metric: str = ""
    #: fixed repetitions (e.g. 1 for a trajectory); None = the run's
    repetitions: int | None = None

    def contenders(self, run: RunContext) -> list[Contender]:
        raise NotImplementedError

    def measure(self, contender: str, params: dict[str, Any], child: Any) -> dict[str, float]:
        """Run one measurement of ``contender`` in the child process; return metric -> value."""
        raise NotImplementedError

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)

    @property
    def main_metric(self) -> Metric:
        return self.metric(self.ratio_metric) if self.ratio_metric else self.metrics[0]


class Unavailable(Exception):
    """Raised in a child when a contender cannot run here (missing door, server, package): not a crash."""


@dataclasses.dataclass
class RunContext:
    """What the orchestrator knows about this run; scenarios read counts from it."""

    quick: bool
    repetitions: int
    python: Path
    env: dict[str, str]
    log_dir: Path
    postgres: bool
    postgres_reason: str = ""
    timeout: float = 600.0
    #: seconds to wait at most for a quiet machine before each measurement (0: just record the load)
    quiet_wait: float = 60.0

    def count(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclasses.dataclass
class Samples:
    contender: Contender
    values: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)
    unavailable: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: the machine before each measurement (wait_for_quiet's record)
    machine: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def run_child(run: RunContext, scenario: str, contender: Contender) -> dict[str, Any]:
    """Run one measurement in a fresh child of the peers' venv; return its JSON result."""
    log_path = run.log_dir / f"{scenario}--{contender.name.replace(' ', '_').replace('/', '_')}.log"
    payload = json.dumps(
        {"scenario": scenario, "contender": contender.name, "params": contender.params, "quick": run.quick}
    )
    with open(log_path, "a") as log:
        log.write(f"\n==== {time.strftime('%H:%M:%S')} {scenario} / {contender.name}\n")
        log.flush()
        try:
            process = subprocess.run(
                [str(run.python), "-m", "benchmarks.child"],
                input=payload,
                text=True,
                stdout=subprocess.PIPE,
                stderr=log,
                env=run.env,
                cwd=ROOT,
                timeout=run.timeout,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {run.timeout:.0f}s (log: {log_path})"}
    for line in reversed(process.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    return {"error": f"child exited {process.returncode} without a result (log: {log_path})"}


def rotated(items: list, shift: int) -> list:
    if not items:
        return items
    shift %= len(items)
    return items[shift:] + items[:shift]


def measurement_count(run: RunContext, scenario: Scenario) -> int:
    return len(scenario.contenders(run)) * min(run.repetitions, scenario.repetitions or run.repetitions)


def run_scenario(run: RunContext, scenario: Scenario, tick: Callable[[str], None]) -> list[Samples]:
    contenders = scenario.contenders(run)
    samples = {c.name: Samples(c) for c in contenders}
    repetitions = min(run.repetitions, scenario.repetitions or run.repetitions)
    for repetition in range(repetitions):
        for contender in rotated(contenders, repetition):
            sample = samples[contender.name]
            tick(f"{scenario.name}: {contender.name}")
            if sample.unavailable:
                continue
            machine = wait_for_quiet(run.quiet_wait, window=0.5 if run.quiet_wait else 0.1)
            result = run_child(run, scenario.name, contender)
            if "unavailable" not in result:
                sample.machine.append(machine)
            if "unavailable" in result:
                sample.unavailable = result["unavailable"]
            elif "error" in result:
                sample.errors.append(result["error"])
            else:
                for key, value in result.get("metrics", {}).items():
                    if value is not None:  # e.g. no CPU reading when a worker exited before it was read
                        sample.values.setdefault(key, []).append(value)
                sample.extra.update(result.get("extra", {}))
    return list(samples.values())


def summarize(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def machine_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The load of a row's samples: 1-minute load averages, busy shares, how many were under load."""
    return {
        "load1": [r["load1"] for r in records],
        "busy": [r["busy"] for r in records],
        "waited_s": round(sum(r["waited"] for r in records), 1),
        "under_load": sum(1 for r in records if r["under_load"]),
    }


def ratio(djworkers: float, other: float, higher_is_better: bool) -> float | None:
    """How many times better djworkers is than ``other`` (>1: djworkers better)."""
    if not djworkers or not other:
        return None
    return djworkers / other if higher_is_better else other / djworkers


def scenario_result(scenario: Scenario, samples: list[Samples]) -> dict[str, Any]:
    """The JSON form of one scenario: per contender the summaries, and ratios against djworkers."""
    main = scenario.main_metric
    rows = []
    djworkers_by_group: dict[str, float] = {}
    for sample in samples:
        if sample.contender.role == "djworkers" and sample.values.get(main.name):
            djworkers_by_group.setdefault(sample.contender.group, statistics.median(sample.values[main.name]))
    for sample in samples:
        contender = sample.contender
        row: dict[str, Any] = {
            "contender": contender.name,
            "role": contender.role,
            "group": contender.group,
            "note": contender.note,
            "metrics": {k: summarize(v) for k, v in sample.values.items()},
            "errors": sample.errors,
            "unavailable": sample.unavailable,
            "extra": sample.extra,
            "machine": machine_summary(sample.machine),
        }
        mine = row["metrics"].get(main.name, {}).get("median")
        dj = djworkers_by_group.get(contender.group)
        row["ratio"] = ratio(dj, mine, main.higher_is_better) if (dj and mine) else None
        rows.append(row)
    return {
        "name": scenario.name,
        "title": scenario.title,
        "description": scenario.description,
        "metrics": [dataclasses.asdict(m) for m in scenario.metrics],
        "ratio_metric": main.name,
        "rows": rows,
    }


def child_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith(("DJANGO_", "DJWORKERS_TEST"))}
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.pop("VIRTUAL_ENV", None)
    return env


def python_version() -> str:
    return sys.version.split()[0]
