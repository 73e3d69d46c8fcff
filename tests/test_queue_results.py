"""Async jobs, results, time limits and the delivery cap under real consumers (Q11, Q12, Q13, Q16).

Every test runs twice: on the database backend (SQLite, or PostgreSQL with
``DJWORKERS_TEST_DB=postgres``: LISTEN/NOTIFY for waiting on results) and on
Redis (a private redis-server). Consumers are ``queue_consumer`` subprocesses;
the jobs (tests/testapp/commands.py) report to the shared test database, hence
``transaction=True``.
"""

from __future__ import annotations

import dataclasses
import os
import time

import pytest
from django.test import override_settings

from djworkers.exceptions import RemoteJobError, ResultTimeout
from djworkers.models import FailedJob
from djworkers.queue import get_result
from djworkers.queue.api import reset_backends
from djworkers.results import get_store
from djworkers.results.models import JobResult
from tests.testapp import commands
from tests.testapp.models import JobEvent, JobRun
from tests.utils import log_of, run, spawn, stop, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Fast polling for SQLite (PostgreSQL and Redis wake on their own).
FAST_POLL = ["-d", "0.05", "-m", "0.2"]


@dataclasses.dataclass
class Env:
    kind: str
    djworkers: dict
    tmp_path: object

    def settings(self, **queue) -> dict:
        djworkers = {**self.djworkers, "QUEUE": {**self.djworkers["QUEUE"], **queue}}
        return {"DJWORKERS": djworkers}

    def burst(self, *args: str, expect: int | None = 0, **queue):
        result = run(
            ["queue_consumer", *FAST_POLL, "--no-periodic", "--burst", *args],
            settings=self.settings(**queue),
            timeout=120,
        )
        if expect is not None:
            assert result.returncode == expect, result.stdout + result.stderr
        return result

    def consumer(self, *args: str, name: str = "consumer", **queue):
        log = self.tmp_path / f"{name}.log"
        process = spawn(
            ["queue_consumer", *FAST_POLL, "--no-periodic", *args], settings=self.settings(**queue), log=log
        )
        process.log = log
        return process


@pytest.fixture(params=["database", "redis"])
def env(request, tmp_path):
    queue: dict = {"LEASE_SECONDS": 2}
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        request.getfixturevalue("redis")  # flushed
        queue.update(BACKEND="redis", CONNECTION=server.url)
    djworkers = {"WORKER": {"SHUTDOWN_TIMEOUT": 15, "HEARTBEAT_INTERVAL": 0.5}, "QUEUE": queue}
    with override_settings(DJWORKERS=djworkers):
        reset_backends()
        yield Env(request.param, djworkers, tmp_path)
        reset_backends()


# -- Q11: async def commands ----------------------------------------------------------------------
def test_async_command_runs_to_completion(env):
    """Q11: an ``async def`` @queue_command runs (its side effect is visible), not just "succeeds"."""
    handle = commands.async_record("async-ok")
    result = env.burst()
    assert "was never awaited" not in result.stderr
    assert JobRun.objects.filter(key="async-ok").exists()
    assert handle.get(timeout=10) == "ASYNC-OK"
    assert FailedJob.objects.count() == 0


def test_async_command_that_raises_is_retried_and_recorded(env, consumers):
    """Q11: an ``async def`` command that raises is retried, then recorded in the failed-job store."""
    handle = commands.async_fails("async-bad")
    consumers.append(env.consumer())
    failed = wait_until(lambda: FailedJob.objects.filter(job_id=handle.id).first(), timeout=30)
    assert failed.exception == "ValueError" and "on purpose" in failed.error
    assert JobEvent.objects.filter(key="async-bad", event="attempt").count() == 2  # retried once
    with pytest.raises(ValueError, match="on purpose"):
        handle.get(timeout=5)


# -- Q12: results -------------------------------------------------------------------------------
def test_get_returns_the_value_from_a_consumer(env, consumers):
    """Q12: get() waits for a consumer subprocess and returns the value; any process can ask by id."""
    handle = commands.add_numbers(2, 3)
    assert handle.status == "queued"
    consumers.append(env.consumer())
    started = time.monotonic()
    assert handle.get(timeout=30) == 5
    assert time.monotonic() - started < 30
    assert handle.status == "succeeded"
    again = get_result(handle.id)
    assert again.get() == 5 and again.name == commands.add_numbers.name
    record = again.record()
    assert record.attempts == 1 and record.worker and record.started_at <= record.finished_at
    assert record.enqueued_at <= record.started_at


def test_get_times_out_on_a_job_that_never_runs(env):
    """Q12: get(timeout=0.5) with no consumer raises ResultTimeout, a TimeoutError, promptly."""
    handle = commands.add_numbers(1, 1)
    started = time.monotonic()
    with pytest.raises(ResultTimeout) as caught:
        handle.get(timeout=0.5)
    assert isinstance(caught.value, TimeoutError)
    assert 0.5 <= time.monotonic() - started < 3
    assert handle.status == "queued"


def test_exception_round_trips_with_its_type(env):
    """Q12: the job's own exception class comes back from get(); one that cannot be pickled
    comes back as RemoteJobError with its type name, message and traceback."""
    ledger = commands.raises_ledger_error("L1")
    strange = commands.raises_unpicklable("U1")
    env.burst()
    with pytest.raises(commands.LedgerError, match="ledger L1 does not balance"):
        ledger.get(timeout=10)
    assert ledger.status == "failed"
    with pytest.raises(RemoteJobError) as caught:
        strange.get(timeout=10)
    assert caught.value.type_name == "tests.testapp.commands.UnpicklableError"
    assert caught.value.message == "U1: cannot travel"
    assert "raise UnpicklableError" in caught.value.traceback


def test_results_expire_after_the_ttl(env, consumers):
    """Q12: a result is kept RESULT_TTL seconds, then gone; the consumer purges expired rows."""
    with override_settings(DJWORKERS=env.settings(RESULT_TTL=1)["DJWORKERS"]):
        reset_backends()
        handle = commands.add_numbers(20, 22)
        consumers.append(env.consumer(RESULT_TTL=1))
        assert handle.get(timeout=30) == 42
        stop(consumers[0])
        time.sleep(1.3)
        assert handle.status == "queued"  # nothing stored any more
        with pytest.raises(ResultTimeout):
            handle.get(timeout=0.2)
        if env.kind == "redis":
            assert not get_store().client.exists(f"djworkers:result:{handle.id}")
        else:
            assert JobResult.objects.filter(job_id=handle.id).exists()  # expired, not purged yet
            env.burst(RESULT_TTL=1)  # a consumer purges on its first tick
            assert not JobResult.objects.filter(job_id=handle.id).exists()


def test_nothing_is_written_without_results(env):
    """Q12: a job that did not ask for its result writes nothing to the result store."""
    handle = commands.record_run("no-result")
    env.burst()
    assert JobRun.objects.filter(key="no-result").exists()
    assert get_store().load(handle.id) is None
    if env.kind == "database":
        assert JobResult.objects.count() == 0


# -- Q13: time limits -------------------------------------------------------------------------------
def test_timeout_fails_the_job_and_the_consumer_keeps_serving(env, consumers):
    """Q13: timeout=1 on a job sleeping 30 s: failed with "timed out" within seconds (its lease is
    not renewed for ever), and the one-thread consumer goes on with the next job."""
    commands.hangs("stuck", 30)
    consumers.append(env.consumer("-t", "1"))
    wait_until(lambda: JobEvent.objects.filter(key="stuck", event="started").exists(), timeout=30)
    started = time.monotonic()
    failed = wait_until(lambda: FailedJob.objects.filter(reason="timed-out").first(), timeout=10)
    assert time.monotonic() - started < 6
    assert failed.name == commands.hangs.name and "timed out after 1s" in failed.error
    commands.record_run("after-timeout")
    wait_until(lambda: JobRun.objects.filter(key="after-timeout").exists(), timeout=15)
    assert not JobRun.objects.filter(key="stuck").exists()
    assert consumers[0].poll() is None, log_of(consumers[0])


def test_timeout_with_processes_replaces_the_child(env, consumers):
    """Q13: with --processes 2 the child stuck in a timed-out job is replaced by a new one."""
    commands.hangs("stuck-child", 30)
    supervisor = env.consumer("--processes", "2", "--prefetch", "1")
    consumers.append(supervisor)
    event = wait_until(lambda: JobEvent.objects.filter(key="stuck-child", event="started").first(), timeout=30)
    wait_until(lambda: FailedJob.objects.filter(reason="timed-out").exists(), timeout=10)

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(lambda: gone(event.pid), timeout=30)
    wait_until(lambda: log_of(supervisor).count("started worker process") >= 3, timeout=15)
    for n in range(4):
        commands.record_run(f"after-child-{n}")
    wait_until(lambda: JobRun.objects.filter(key__startswith="after-child-").count() == 4, timeout=20)
    assert supervisor.poll() is None, log_of(supervisor)
    assert stop(supervisor) == 0, log_of(supervisor)


# -- Q16: a cap on deliveries -------------------------------------------------------------------------
def test_job_killing_its_consumer_ends_as_poison(env):
    """Q16: a job calling os._exit(1) kills every consumer that runs it; after MAX_DELIVERIES
    such deliveries the next consumer records it as poison, with the count, instead of running it."""
    limit = 2
    commands.exits_hard("poison")
    for _ in range(10):
        env.burst(expect=None, MAX_DELIVERIES=limit, LEASE_SECONDS=1)
        if FailedJob.objects.exists():
            break
        time.sleep(1.1)  # the dead consumer's lease runs out
    failed = FailedJob.objects.get()
    assert failed.name == commands.exits_hard.name
    assert failed.reason == "poison" and failed.exception == "PoisonJob"
    assert f"delivered {limit + 1} times" in failed.error and "MAX_DELIVERIES" in failed.error
    assert JobEvent.objects.filter(key="poison", event="attempt").count() == limit
    assert env.burst(MAX_DELIVERIES=limit, LEASE_SECONDS=1).returncode == 0  # nothing left
