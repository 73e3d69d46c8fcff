"""The runner's loop driven with a fake clock (D2, D3, D6): schedule, skips, claims and leases.

``Runner.loop(now)`` only decides and starts; here starting is recorded instead
of run (``RecordingRunner``), so each test controls when a run "finishes".
Claims and leases are real: the test database, or a private redis-server.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.core.cache import caches

from djworkers.dumbwaiter.config import current
from djworkers.dumbwaiter.locks import DatabaseCoordinator, RedisCoordinator, lease_seconds
from djworkers.dumbwaiter.models import CachedFunction
from djworkers.dumbwaiter.runner import Runner

F = "tests.testapp.dumbwaiter_functions"


class RecordingRunner(Runner):
    """Records what would start, and keeps it "running" until :meth:`finish`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.started: list[str] = []

    def _dispatch(self, spec, lease):
        import time

        from djworkers.dumbwaiter.runner import Running

        self.started.append(spec.name)
        with self._lock:
            self._running[spec.name] = Running(spec, lease, time.monotonic())

    def finish(self, name: str) -> None:
        with self._lock:
            self._running.pop(name)
        self.coordinator.release(name)


@pytest.fixture(autouse=True)
def functions(settings):
    caches["default"].clear()
    settings.DJWORKERS = {
        **settings.DJWORKERS,
        "DUMBWAITER": {
            "FUNCTIONS": [
                {"function": f"{F}.echo", "name": "ten", "args": [1], "frequency": 10},
                {"function": f"{F}.echo", "name": "three", "args": [3], "frequency": 3},
            ]
        },
    }


@pytest.fixture(params=["database", "redis"])
def coordinators(request, db):
    """A factory of coordinators for distinct runner processes ("host:1", "host:2", ...)."""
    if request.param == "database":
        yield lambda owner: DatabaseCoordinator(owner)
        return
    client = request.getfixturevalue("redis")
    kwargs = client.connection_pool.connection_kwargs
    url = f"redis://{kwargs['host']}:{kwargs['port']}/0"
    made = []

    def make(owner):
        made.append(RedisCoordinator(url, owner))
        return made[-1]

    yield make
    for coordinator in made:
        coordinator.close()


def runner(coordinators, owner="host:1", names=("ten",)) -> RecordingRunner:
    return RecordingRunner(current(), names=list(names), coordinator=coordinators(owner))


def test_first_run_at_start_then_on_period_boundaries(coordinators):
    """D2: runs at start, then at each multiple of the frequency; returns the time to the next boundary."""
    r = runner(coordinators)
    assert r.loop(1000.3) == pytest.approx(9.7)
    assert r.started == ["ten"]
    r.finish("ten")
    assert r.loop(1005.0) == pytest.approx(5.0)
    assert r.started == ["ten"]
    assert r.loop(1010.02) == pytest.approx(9.98)
    assert r.started == ["ten", "ten"]


def test_stall_skips_missed_periods(coordinators):
    """D2: after a stall only the current period runs, not every missed one."""
    r = runner(coordinators)
    r.loop(1000.0)
    r.finish("ten")
    assert r.loop(1075.5) == pytest.approx(4.5)  # periods 101-106 were missed
    assert r.started == ["ten", "ten"]
    r.finish("ten")
    r.loop(1076.0)
    assert r.started == ["ten", "ten"]


def test_next_wake_is_the_nearest_function(coordinators):
    r = runner(coordinators, names=("ten", "three"))
    assert r.loop(1000.5) == pytest.approx(1.5)  # "three": next boundary at 1002 (334 * 3)
    assert sorted(r.started) == ["ten", "three"]


def test_overrunning_run_is_not_started_again(coordinators, caplog):
    """D2: a run still going when its next period starts is skipped (with a warning), not doubled."""
    r = runner(coordinators)
    r.loop(1000.0)
    with caplog.at_level(logging.WARNING, logger="djworkers.dumbwaiter"):
        r.loop(1010.0)
    assert r.started == ["ten"]
    assert "'ten' is still running" in caplog.text
    r.finish("ten")
    r.loop(1020.0)
    assert r.started == ["ten", "ten"]


def test_several_runners_one_run_per_period(coordinators):
    """D6: of three runners reaching the same period, exactly one computes it."""
    runners = [runner(coordinators, f"host:{i}") for i in range(3)]
    for period in range(5):
        now = 2000.0 + 10 * period + 0.1 * period
        for r in runners:
            r.loop(now)
        assert sum(len(r.started) for r in runners) == period + 1
        for r in runners:
            if r.running:
                r.finish("ten")


def test_overrun_is_not_started_by_another_runner(coordinators, caplog):
    """D6: runner 2 wins the next period while runner 1 still runs the function: it must not start it."""
    r1, r2 = runner(coordinators, "host:1"), runner(coordinators, "host:2")
    r1.loop(3000.0)
    assert r1.started == ["ten"]
    with caplog.at_level(logging.WARNING, logger="djworkers.dumbwaiter"):
        r2.loop(3010.0)
        r1.loop(3010.0)
    assert r2.started == [] and r1.started == ["ten"]
    assert "still running on host:1" in caplog.text
    r1.finish("ten")
    r2.loop(3020.0)
    assert r2.started == ["ten"]


def test_lease_of_a_dead_runner_expires(coordinators):
    """D6: a runner killed mid-run leaves a lease; once it expires another runner carries on."""
    r1, r2 = runner(coordinators, "host:1"), runner(coordinators, "host:2")
    r1.loop(4000.0)  # r1 "dies" here without releasing
    r2.loop(4010.0)
    assert r2.started == []
    expire(r1.coordinator, "ten")
    r2.loop(4020.0)
    assert r2.started == ["ten"]


def expire(coordinator, name: str) -> None:
    """Make ``name``'s lease run out now (what waiting lease_seconds() would do)."""
    if isinstance(coordinator, RedisCoordinator):
        coordinator.client.pexpire(coordinator._key(name), 1)
        import time

        time.sleep(0.01)
    else:
        CachedFunction.objects.filter(name=name).update(running_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))


def test_keep_leases_extends_running_functions(coordinators):
    """D6: a long run keeps its lease alive, so it does not expire under a slow function."""
    r1, r2 = runner(coordinators, "host:1"), runner(coordinators, "host:2")
    r1.loop(5000.0)
    expire(r1.coordinator, "ten")
    r1._running["ten"].leased_at -= 100  # due for renewal
    r1.keep_leases()
    r2.loop(5010.0)
    assert r2.started == []
    assert r2.coordinator.holder("ten") == "host:1"


def test_lease_length():
    assert lease_seconds(1) == 3 and lease_seconds(30) == 30 and lease_seconds(3600) == 60


@pytest.mark.django_db(transaction=True)
def test_hanging_function_is_abandoned_at_shutdown(settings):
    """X3: stop() waits SHUTDOWN_TIMEOUT for a hanging function, then releases its lease and reports it."""
    from tests.testapp import dumbwaiter_functions as funcs

    settings.DJWORKERS = {
        **settings.DJWORKERS,
        "DUMBWAITER": {
            "FUNCTIONS": [
                {"function": f"{F}.wait_for_release", "name": "hang", "frequency": 1},
            ]
        },
    }
    funcs.release_event.clear()
    r = Runner(current(), coordinator=DatabaseCoordinator("host:1"))
    try:
        r.loop(6000.0)
        assert r.running == ["hang"]
        assert r.stop(timeout=0.3) == 1
        assert CachedFunction.objects.get(name="hang").running_until is None
    finally:
        funcs.release_event.set()
        thread = r._running.get("hang")
        if thread and thread.thread:
            thread.thread.join(10)


def test_redis_claim_outlives_a_long_period(redis):
    """D6: a Redis claim key lives at least two periods, so a runner started late in a long period
    cannot claim it again after the key expired."""
    kwargs = redis.connection_pool.connection_kwargs
    coordinator = RedisCoordinator(f"redis://{kwargs['host']}:{kwargs['port']}/0", "host:1")
    try:
        assert coordinator.claim("daily", 5, 86400)
        assert redis.ttl("djworkers:tick:dumbwaiter:daily:5") > 86400
        assert not RedisCoordinator.claim(coordinator, "daily", 5, 86400)
    finally:
        coordinator.close()
