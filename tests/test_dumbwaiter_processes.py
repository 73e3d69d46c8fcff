"""run_dumbwaiter as users run it: real processes, real signals, real time (D2, D3, D6).

Functions append ``label start|end <time> <pid>`` lines to a file
(tests/testapp/dumbwaiter_functions.stamp), which is what the assertions read.
Timing bounds are ranges, because the machine running the suite is shared.
"""

from __future__ import annotations

import signal
import time
from itertools import pairwise
from pathlib import Path

import pytest

from djworkers.dumbwaiter.locks import MIN_LEASE
from tests.utils import spawn, stop, wait_until

F = "tests.testapp.dumbwaiter_functions"

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def runner_settings(functions, **dumbwaiter) -> dict:
    return {
        "DJWORKERS": {
            "WORKER": {"SHUTDOWN_TIMEOUT": 10, "HEARTBEAT_INTERVAL": 1},
            "DUMBWAITER": {"FUNCTIONS": functions, **dumbwaiter},
        }
    }


def stamp_fn(name: str, path: Path, frequency: float = 1, seconds: float = 0.0) -> dict:
    return {"function": f"{F}.stamp", "name": name, "frequency": frequency, "args": [str(path), name, seconds]}


def read(path: Path) -> list[tuple[str, str, float, int]]:
    """(label, "start"|"end", time, pid) per line."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        label, kind, when, pid = line.split()
        rows.append((label, kind, float(when), int(pid)))
    return rows


def starts(rows, label: str) -> list[float]:
    return [t for (lab, kind, t, _pid) in rows if lab == label and kind == "start"]


def intervals(rows, label: str) -> list[tuple[float, float]]:
    s = starts(rows, label)
    e = [t for (lab, kind, t, _pid) in rows if lab == label and kind == "end"]
    return list(zip(s, e, strict=False))  # a run still going has a start and no end yet


def started(logfile: Path) -> bool:
    return logfile.exists() and "run_dumbwaiter started" in logfile.read_text()


def start_runner(tmp_path: Path, settings: dict, name: str = "runner", extra: tuple[str, ...] = ()):
    logfile = tmp_path / f"{name}.log"
    process = spawn(
        ["run_dumbwaiter", "--logfile", str(logfile), *extra], settings=settings, log=tmp_path / f"{name}.out"
    )
    return process, logfile


def test_schedule_first_run_at_start_then_every_period(tmp_path):
    """D2: frequency 1 s over 5 s gives 5-6 runs, the first at start, on a fixed schedule; SIGTERM stops cleanly."""
    out = tmp_path / "stamps"
    process, logfile = start_runner(
        tmp_path,
        runner_settings(
            [
                stamp_fn("every1", out, 1),
                stamp_fn("hourly", out, 3600),
                {"function": f"{F}.explode", "name": "failing", "frequency": 1, "max_saved": 3},
            ]
        ),
    )
    try:
        wait_until(lambda: starts(read(out), "every1"), timeout=30)
        first = starts(read(out), "every1")[0]
        time.sleep(max(0.0, first + 5.0 - time.time()) + 0.3)
        rows = read(out)
    finally:
        code = stop(process)
    assert code == 0, (tmp_path / "runner.out").read_text()
    within = [t for t in starts(rows, "every1") if first <= t <= first + 5.0]
    assert 5 <= len(within) <= 6, within
    # Fixed schedule: after the first run, runs start right after whole seconds (no drift).
    late = [t % 1.0 for t in within[1:]]
    assert max(late) < 0.5, late
    # "First run at start": the hourly function ran once, straight away, not at the next hour.
    hourly = starts(rows, "hourly")
    assert len(hourly) == 1 and abs(hourly[0] - first) < 2.0, (hourly, first)
    assert "run_dumbwaiter stopped" in logfile.read_text()
    # D4: the raising neighbour was logged and recorded (capped at max_saved) and changed nothing else.
    from djworkers.dumbwaiter.models import CachedError

    assert CachedError.objects.filter(function_id="failing").count() == 3
    assert "Boom: kaboom" in logfile.read_text()


def test_threaded_slow_function_does_not_delay_neighbour(tmp_path):
    """D3: a 3 s function every 1 s never delays a fast neighbour, and is itself never run twice at once."""
    out = tmp_path / "stamps"
    process, logfile = start_runner(
        tmp_path,
        runner_settings(
            [
                stamp_fn("slow", out, 1, seconds=3.0),
                stamp_fn("fast", out, 1, seconds=0.05),
            ],
            THREADED=True,
        ),
    )
    try:
        wait_until(lambda: starts(read(out), "fast"), timeout=30)
        first = starts(read(out), "fast")[0]
        time.sleep(max(0.0, first + 5.0 - time.time()) + 0.3)
        rows = read(out)
    finally:
        code = stop(process)
    # Graceful SIGTERM: the slow run in progress was allowed to finish.
    assert code == 0
    final = read(out)
    assert len(starts(final, "slow")) == len(intervals(final, "slow")), final
    fast = [t for t in starts(rows, "fast") if t <= first + 5.0]
    assert 5 <= len(fast) <= 6, fast
    gaps = [b - a for a, b in pairwise(fast)]
    assert max(gaps) < 1.6, gaps
    slow = intervals(rows, "slow")
    assert 1 <= len(slow) <= 3, slow
    for (_s1, e1), (s2, _e2) in pairwise(slow):
        assert s2 >= e1, f"slow started again while running: {slow}"
    assert "still running" in logfile.read_text()


def test_unthreaded_runs_functions_one_at_a_time(tmp_path):
    """D3: THREADED = False (here the legacy DUMBWAITER_THREADED) runs functions serially."""
    out = tmp_path / "stamps"
    settings = runner_settings([])
    settings["DJWORKERS"].pop("DUMBWAITER")
    settings["DUMBWAITER_FUNCTION_LIST"] = [
        stamp_fn("slow", out, 1, seconds=1.5),
        stamp_fn("fast", out, 1, seconds=0.2),
    ]
    settings["DUMBWAITER_THREADED"] = False
    process, _logfile = start_runner(tmp_path, settings)
    try:
        wait_until(lambda: len(intervals(read(out), "fast")) >= 2, timeout=40)
        rows = read(out)
    finally:
        stop(process)
    spans = sorted(intervals(rows, "slow") + intervals(rows, "fast"))
    assert len(spans) >= 3
    for (_s1, e1), (s2, _e2) in pairwise(spans):
        assert s2 >= e1, f"two functions overlapped in unthreaded mode: {spans}"


def test_once_runs_named_function_and_exits(tmp_path):
    """D2: --once NAME runs just that function once and exits 0; an unknown name is a clear error."""
    from djworkers.dumbwaiter.models import CachedValue
    from tests.utils import run

    out = tmp_path / "stamps"
    settings = runner_settings([stamp_fn("a", out, 60), stamp_fn("b", out, 60)])
    result = run(["run_dumbwaiter", "--once", "b"], settings=settings)
    assert result.returncode == 0, result.stderr
    assert [r[0] for r in read(out)] == ["b"]
    assert list(CachedValue.objects.values_list("function_id", flat=True)) == ["b"]
    bad = run(["run_dumbwaiter", "--once", "c"], settings=settings)
    assert bad.returncode != 0 and "'c'" in bad.stderr and "'a', 'b'" in bad.stderr
    failing = run(["run_dumbwaiter", "--once"], settings=runner_settings([{"function": f"{F}.explode", "name": "x"}]))
    assert failing.returncode == 1 and "1 function(s) failed: x" in failing.stderr


def three_runners_share_the_work(tmp_path, dumbwaiter_settings: dict) -> None:
    out = tmp_path / "stamps"
    settings = runner_settings([stamp_fn("shared", out, 1)], **dumbwaiter_settings)
    runners = [start_runner(tmp_path, settings, name=f"r{i}", extra=("--loglevel", "debug")) for i in range(3)]
    try:
        wait_until(lambda: all(started(log) for _p, log in runners), timeout=60)
        t0 = time.time()
        time.sleep(5.5)
        rows = read(out)
        # Period starts in [t0, t0 + 5.5] are 5 or 6 whole seconds; each run lands a few ms after one.
        window = [t for t in starts(rows, "shared") if t0 <= t <= t0 + 5.5]
        # D6: once per period in total, not once per process (that would be 15-18).
        assert 5 <= len(window) <= 6, window
        # Over the whole run too: about one run per elapsed second, never one per process.
        every = starts(rows, "shared")
        assert len(every) <= (every[-1] - every[0]) + 2, f"more runs than periods: {rows}"
        # Kill the runner that computed the last period, without warning.
        victim_pid = rows[-1][3]
        victim = next(p for p, _log in runners if p.pid == victim_pid)
        killed_at = time.time()
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        wait_until(lambda: [t for t in starts(read(out), "shared") if t > killed_at + 0.05], timeout=15)
        after = [t for t in starts(read(out), "shared") if t > killed_at + 0.05]
        # The victim may die holding the function's run lease (MIN_LEASE, 3 s, for a 1 s period): the
        # next run is another runner's once that lease ran out, at the next period start, i.e. within
        # MIN_LEASE + one period; plus slack for a loaded machine (seen: 3.97 s at load 5 on 2 cores).
        assert after[0] - killed_at < MIN_LEASE + 1 + 1.5, (killed_at, after)
        wait_until(lambda: len([t for t in starts(read(out), "shared") if t > killed_at]) >= 3, timeout=15)
        pids = {pid for (_l, _k, t, pid) in read(out) if t > killed_at + 0.05}
        assert victim_pid not in pids
        # --loglevel debug: the runners that lost a period say so.
        assert any("claimed by another runner" in log.read_text() for _p, log in runners)
    finally:
        for process, _log in runners:
            if process.poll() is None:
                stop(process)


def test_three_runners_compute_once_per_period_database_lock(tmp_path):
    """D6: three runners coordinated by the database; the killed holder's work is taken over within 2 periods."""
    three_runners_share_the_work(tmp_path, {})


def test_three_runners_compute_once_per_period_redis_lock(tmp_path, redis):
    """D6: the same with LOCK = "redis" (a private redis-server)."""
    url = redis.connection_pool.connection_kwargs
    three_runners_share_the_work(tmp_path, {"LOCK": "redis", "CONNECTION": f"redis://{url['host']}:{url['port']}/0"})


def test_admin_refresh_now_is_computed_by_the_runner(tmp_path, admin_client, settings):
    """D8: "Refresh now" in the admin only records a request: the function is not called in
    the web request (no stamp from this process); a real run_dumbwaiter picks it up within
    a couple of seconds, under its lease, and the stored value is the new one."""
    from django.urls import reverse

    from djworkers import dumbwaiter
    from djworkers.dumbwaiter.models import CachedFunction

    out = tmp_path / "stamps"
    config = runner_settings([stamp_fn("hourly", out, 3600)])
    settings.DJWORKERS = config["DJWORKERS"]
    process, logfile = start_runner(tmp_path, config)
    try:
        wait_until(lambda: starts(read(out), "hourly"), timeout=30)  # the run at start
        # the stored history (this process's cache is not the runner's)
        wait_until(lambda: dumbwaiter.get_history("hourly"), timeout=10)
        first = dumbwaiter.get_history("hourly")[0].value
        row = CachedFunction.objects.get(name="hourly")
        asked = time.time()
        response = admin_client.post(
            reverse("admin:djworkers_cachedfunction_changelist"),
            {"action": "refresh_now", "_selected_action": [row.pk]},
            follow=True,
        )
        assert "Refresh requested for hourly" in response.content.decode()
        wait_until(lambda: len(starts(read(out), "hourly")) >= 2, timeout=10)
        second_start = starts(read(out), "hourly")[1]
        assert second_start - asked < 3.0, (asked, second_start)
        wait_until(lambda: len(dumbwaiter.get_history("hourly")) == 2, timeout=10)
        newest = dumbwaiter.get_history("hourly")[0].value
        assert newest > first and abs(newest - second_start) < 0.01
        time.sleep(1.5)  # taken once: no third run
        rows = read(out)
    finally:
        code = stop(process)
    assert code == 0, (tmp_path / "runner.out").read_text()
    assert len(starts(rows, "hourly")) == 2
    assert {pid for (_l, _k, _t, pid) in rows} == {process.pid}  # never in the web process
    assert "Refreshing 'hourly' on request" in logfile.read_text()
