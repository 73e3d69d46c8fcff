"""The benchmark harness works end to end (``python -m benchmarks --quick``).

It asserts nothing about speed (performance is measured, never asserted in a
timed test: see docs/performance.rst); it fails when a scenario crashes, when the harness
cannot build the peers' venv, or when the results files are not written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    os.environ.get("DJWORKERS_TEST_DB") == "postgres",
    reason="the harness makes its own SQLite and PostgreSQL databases: the SQLite pass of the suite covers it",
)
def test_quick_run_completes_and_writes_results(tmp_path):
    """Every scenario runs for every contender in --quick mode and the results name them all, on every
    supported Python (the Django 6-only pin broke `make test` on 3.11)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_SETTINGS")}
    # Building benchmarks/.venv-peers on a fresh machine downloads the peers: allow for it.
    process = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert process.returncode == 0, f"stdout:\n{process.stdout[-4000:]}\nstderr:\n{process.stderr[-4000:]}"

    results = json.loads((tmp_path / "latest.json").read_text())
    markdown = (tmp_path / "latest.md").read_text()
    names = [scenario["name"] for scenario in results["scenarios"]]
    assert names[:9] == [
        "enqueue",
        "drain",
        "latency",
        "database",
        "dumbwaiter",
        "scale-memory",
        "scale-processes",
        "backlog",
        "guarantees",
    ]
    assert results["errors"] == []
    assert results["meta"]["load_average"]["start"], "the load average is part of the record"
    for scenario in results["scenarios"]:
        measured = [row for row in scenario["rows"] if row["metrics"]]
        assert measured, f"{scenario['name']}: no contender produced a number"
        assert f"`{scenario['name']}`" in markdown
        for row in scenario["rows"]:
            # a row is either measured or says why not; never silently empty
            assert row["metrics"] or row["unavailable"], f"{scenario['name']}: {row['contender']} has nothing"
            if row["metrics"]:  # the load each measurement started under is recorded
                assert row["machine"]["load1"], f"{scenario['name']}: {row['contender']} has no load record"
    by_name = {scenario["name"]: scenario for scenario in results["scenarios"]}
    # cost beside the rates, for djworkers and the raw ceilings alike
    for scenario, metric in (
        ("drain", "cpu_us_per_job"),
        ("enqueue", "cpu_us_per_enqueue"),
        ("database", "cpu_us_per_job"),
        ("scale-processes", "cpu_us_per_job"),
        ("backlog", "first_cpu_us_per_job"),
    ):
        for row in by_name[scenario]["rows"]:
            if row["metrics"]:
                assert row["metrics"][metric]["median"] > 0, f"{scenario}: {row['contender']} has no {metric}"
    database = {row["contender"] for row in by_name["database"]["rows"] if row["metrics"]}
    assert "raw sqlite" in database  # the raw claim-INCR-delete ceiling
    backlog = {row["contender"]: row for row in by_name["backlog"]["rows"]}
    assert backlog["djworkers database (sqlite)"]["metrics"]["last_over_first"]["median"] > 0
    assert any(target["scenario"] == "backlog" for target in results["targets"])
    if sys.version_info < (3, 12):
        # Python 3.11 gets Django 5.2 (benchmarks/requirements.txt markers); django.tasks is
        # Django 6, so django-tasks-db is reported unavailable with the reason instead of failing the run.
        tasks_rows = [
            row
            for item in results["scenarios"]
            for row in item["rows"]
            if row["contender"].startswith("django-tasks-db")
        ]
        assert tasks_rows and all("Python >= 3.12" in row["unavailable"] for row in tasks_rows)
    # the peers the issue names were all measured, and the raw ceilings
    drained = {row["contender"] for row in by_name["drain"]["rows"] if row["metrics"]}
    for peer in (
        "huey, 1 thread",
        "rq, 1 thread",
        "dramatiq, 1 thread",
        "celery (solo), 1 thread",
        "celery (threads), 4 threads",
        "raw redis, 1 thread",
        "raw zmq, 1 thread",
    ):
        assert peer in drained
    # issue #11: the result round trip, djworkers beside Huey (polling and BLPOP) and RQ
    round_trips = {row["contender"]: row for row in by_name["results"]["rows"] if row["metrics"]}
    assert {"djworkers", "huey", "huey (notify_result)", "rq"} <= set(round_trips)
    assert round_trips["djworkers"]["metrics"]["p99_ms"]["median"] > 0


METER_CHECK = r"""
import subprocess, sys, time
from pathlib import Path

from benchmarks.child import TreeCpu

marker = Path(sys.argv[1])
burn = (
    "import time, pathlib, sys\n"
    "t = time.process_time()\n"
    "while time.process_time() - t < 0.4: pass\n"
    "pathlib.Path(sys.argv[1]).touch()\n"
    "time.sleep(30)\n"
)
# a supervisor: it starts its worker after the meter's first reading, as queue_consumer --processes does
parent = subprocess.Popen(
    [sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1], sys.argv[2]])",
     burn, str(marker)]
)
meter = TreeCpu([parent])
meter.REFRESH = 3600.0  # no listing by time: only a fresh reading finds the worker
try:
    start = meter.read()
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    stale, fresh = meter.read() - start, meter.read(fresh=True) - start
    print(f"{stale:.3f} {fresh:.3f}")
finally:
    for process in meter.known.values():
        try:
            process.kill()
        except Exception:
            pass
    parent.kill()
"""


def test_the_reading_that_opens_a_measurement_sees_workers_forked_since(tmp_path):
    """The CPU meter lists a worker's process tree at most every half second; the reading taken at the
    first job must list it afresh. It did not: a supervisor's workers forked after the meter's first
    reading were missing from it, so their start-up CPU landed inside the measurement, and a short
    one (--quick, `--processes 2`) measured no CPU at all. Runs with the peers' venv (psutil), which
    the quick run above builds."""
    from benchmarks import venv

    python = venv.python()
    if not python.exists():
        pytest.skip("benchmarks/.venv-peers is built by test_quick_run_completes_and_writes_results")
    process = subprocess.run(
        [str(python), "-c", METER_CHECK, str(tmp_path / "burnt")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    stale, fresh = (float(value) for value in process.stdout.split())
    assert stale < 0.2, "without a fresh listing the worker is not counted (the test's premise)"
    assert fresh >= 0.3, f"a fresh reading counts the worker's CPU: {process.stdout}"
