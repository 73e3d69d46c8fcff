"""The Redis backend under real ``queue_consumer`` processes and real signals (Q6, Q9, Q10).

Consumers are subprocesses (tests.utils.spawn) talking to the private
redis-server; jobs (tests/redisapp/commands.py) report their runs to Redis
with INCR, so exactly-once is checked per job key. The failed-job store is
the test database, hence ``transaction=True``.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from djworkers.messages import Message, encode
from djworkers.models import FailedJob
from djworkers.queue import get_backend
from djworkers.queue.api import reset_backends
from djworkers.queue.backends.redis_scripts import QueueKeys
from djworkers.serializers.signing import sign
from tests.redisapp import commands as jobs
from tests.testapp import commands as testapp_jobs
from tests.testapp.models import Churnable
from tests.utils import run, spawn, stop, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EMPTY = {"ready": 0, "scheduled": 0, "in_flight": 0}


def djworkers_settings(url: str, lease: float = 2) -> dict:
    return {
        # heartbeats well inside the lease, so only a dead consumer loses its jobs
        "WORKER": {"SHUTDOWN_TIMEOUT": 15, "HEARTBEAT_INTERVAL": 0.5},
        "QUEUE": {"BACKEND": "redis", "CONNECTION": url, "LEASE_SECONDS": lease},
    }


def consumer_settings(url: str, lease: float = 2) -> dict:
    return {
        "INSTALLED_APPS": [*django_settings.INSTALLED_APPS, "tests.redisapp"],
        "DJWORKERS": djworkers_settings(url, lease),
    }


@pytest.fixture
def queue(redis_server, redis):
    """This process enqueues to the private Redis; yields the backend of queue "default"."""
    with override_settings(DJWORKERS=djworkers_settings(redis_server.url)):
        reset_backends()
        yield get_backend(["default"])
        reset_backends()


@pytest.fixture
def consumers(tmp_path):
    """Start consumers; any still running at the end is killed (and its log shown on failure)."""
    started: list = []

    def start(url: str, *args: str, lease: float = 2, name: str = "consumer"):
        log = tmp_path / f"{name}-{len(started)}.log"
        process = spawn(["queue_consumer", "--no-periodic", *args], settings=consumer_settings(url, lease), log=log)
        process.log = log
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def log_of(process) -> str:
    return process.log.read_text(errors="replace")[-4000:]


def wait_ready(process, workers: int = 1, timeout: float = 60) -> None:
    """Until the consumer's ``workers`` Worker loops have logged that they started."""
    wait_until(
        lambda: (
            process.log.read_text(errors="replace").count("Worker started") >= workers or process.poll() is not None
        ),
        timeout=timeout,
    )
    assert process.poll() is None, log_of(process)


def runs(redis, keys: list[str]) -> list[int]:
    values = redis.mget([jobs.RUNS + key for key in keys])
    return [int(v) if v is not None else 0 for v in values]


def test_readme_example_end_to_end_with_burst(queue, redis_server):
    """Q1/Q6: the djutils README example (a model instance and data) through Redis; --burst exits."""
    instance = Churnable.objects.create(name="thing")
    handle = testapp_jobs.churn_data(instance, "some data", 3)
    assert queue.stats() == {**EMPTY, "ready": 1}
    result = run(
        ["queue_consumer", "--no-periodic", "--burst"], settings=consumer_settings(redis_server.url), timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    instance.refresh_from_db()
    assert instance.results == "SOME DATAx3", handle
    assert queue.stats() == EMPTY


def test_killed_consumer_job_runs_again(queue, redis_server, redis, consumers):
    """Q6: a consumer takes a 10 s job and is SIGKILLed; another consumer runs it once the
    2 s lease expires, to completion (the opposite of a job stuck "running" for ever)."""
    first = consumers(redis_server.url, name="first")
    jobs.incr(redis_server.url, "crash", 10.0, mark_start=True)
    wait_until(lambda: redis.llen(jobs.STARTED + "crash") or first.poll() is not None, timeout=90)
    assert first.poll() is None, log_of(first)
    stop(first, signal.SIGKILL)
    assert redis.get(jobs.RUNS + "crash") is None
    assert queue.stats() == {**EMPTY, "in_flight": 1}  # leased to a dead consumer

    second = consumers(redis_server.url, name="second")
    wait_until(lambda: redis.get(jobs.RUNS + "crash") or second.poll() is not None, timeout=90)
    assert redis.get(jobs.RUNS + "crash") == b"1", log_of(second)
    starters = [int(pid) for pid in redis.lrange(jobs.STARTED + "crash", 0, -1)]
    assert starters == [first.pid, second.pid]
    assert stop(second) == 0, log_of(second)
    assert queue.stats() == EMPTY


def test_exactly_once_under_contention_with_forked_processes(queue, redis_server, redis, consumers):
    """Q6: 2,000 jobs, three consumer processes (one consumer forking two with --processes,
    one on its own), no kills: every job ran exactly once, and both forked children did
    work on their own sockets (redis-py pools reconnect after fork)."""
    forking = consumers(redis_server.url, "--processes", "2", "-t", "2", "--prefetch", "8", name="forking")
    single = consumers(redis_server.url, "-t", "2", name="single")
    wait_ready(forking, workers=2)
    wait_ready(single)
    keys = [f"k{n}" for n in range(2000)]
    for key in keys:
        jobs.incr(redis_server.url, key, 0.002)
    wait_until(
        lambda: (
            sum(1 for v in runs(redis, keys) if v) == len(keys)
            or forking.poll() is not None
            or single.poll() is not None
        ),
        timeout=240,
        interval=0.5,
    )
    assert stop(forking) == 0, log_of(forking)
    assert stop(single) == 0, log_of(single)
    counts = runs(redis, keys)
    assert [k for k, c in zip(keys, counts, strict=True) if c != 1] == []
    pids = {int(pid) for pid in redis.smembers(jobs.PIDS)}
    assert single.pid in pids and forking.pid not in pids  # the supervisor runs no jobs
    assert len(pids - {single.pid}) == 2, "both forked children should have run jobs"
    assert queue.stats() == EMPTY
    assert "Traceback" not in log_of(forking) + log_of(single)


def test_paused_server_consumers_recover_and_nothing_is_lost(queue, redis_server, redis, consumers):
    """Q6: SIGSTOP the server for 3 s under load (consumers' calls time out after 1 s),
    SIGCONT: the consumers carry on, and every job, before and after, runs."""
    url = redis_server.url + "?socket_timeout=1"
    first = consumers(url, "-t", "2", lease=5)
    second = consumers(url, "-t", "2", lease=5)
    keys = [f"p{n}" for n in range(300)]
    for key in keys[:200]:
        jobs.incr(redis_server.url, key, 0.01)
    wait_until(lambda: sum(runs(redis, keys[:200])) >= 30, timeout=90)
    redis_server.pause()
    time.sleep(3)
    redis_server.resume()
    for key in keys[200:]:
        jobs.incr(redis_server.url, key, 0.01)
    wait_until(lambda: all(runs(redis, keys)), timeout=120, interval=0.5)
    assert first.poll() is None and second.poll() is None
    wait_until(lambda: queue.stats() == EMPTY, timeout=30)
    assert stop(first) == 0, log_of(first)
    assert stop(second) == 0, log_of(second)


def test_restarted_server_consumers_reconnect(queue, redis_server, redis, consumers):
    """Q6: the server restarts (no persistence: its data is gone); running consumers
    reconnect, reload their scripts, and run jobs enqueued afterwards."""
    process = consumers(redis_server.url, "-t", "2")
    jobs.incr(redis_server.url, "before")
    wait_until(lambda: redis.get(jobs.RUNS + "before"), timeout=90)
    redis_server.restart()
    client = redis_server.client()
    keys = [f"r{n}" for n in range(50)]
    deadline = time.monotonic() + 30
    while True:  # the producer may also meet the restart: one retry after a dropped socket
        try:
            for key in keys:
                jobs.incr(redis_server.url, key)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    wait_until(lambda: all(runs(client, keys)), timeout=90, interval=0.5)
    assert process.poll() is None
    assert stop(process) == 0, log_of(process)


def test_poison_frames_pushed_into_the_list_are_quarantined(queue, redis_server, redis, consumers):
    """Q6/Q10: frames LPUSHed straight into the Redis list (forged signature, random bytes,
    signed garbage, unknown job) end as FailedJobs with their reason; the next job runs."""
    with override_settings(SECRET_KEY="somebody-else's-key"):
        forged = encode(Message(name=jobs.incr.name, args=(redis_server.url, "forged")))
    garbage = os.urandom(64)
    malformed = sign(b"pickle\n" + b"\x80\x05 not a pickle")
    unknown = encode(Message(name="no.such.job", args=(1,)))
    ready = QueueKeys.for_queue("default").ready
    for frame in (forged, garbage, malformed, unknown):
        redis.lpush(ready, frame)
    jobs.incr(redis_server.url, "after-poison")
    process = consumers(redis_server.url)
    wait_until(lambda: redis.get(jobs.RUNS + "after-poison") or process.poll() is not None, timeout=90)
    assert redis.get(jobs.RUNS + "after-poison") == b"1", log_of(process)
    assert redis.get(jobs.RUNS + "forged") is None
    wait_until(lambda: FailedJob.objects.count() >= 4, timeout=30)
    rows = {bytes(f.raw): f for f in FailedJob.objects.all()}
    assert set(rows) == {forged, garbage, malformed, unknown}
    assert {(f.door, f.backend) for f in rows.values()} == {("queue", "redis")}
    assert rows[forged].reason == "bad-signature"
    assert rows[garbage].reason == "bad-signature"
    assert rows[malformed].reason == "malformed"
    assert rows[unknown].reason == "unknown-job"
    wait_until(lambda: queue.stats() == EMPTY, timeout=30)
    assert stop(process) == 0, log_of(process)


def test_retries_go_through_the_scheduled_set(queue, redis_server, redis, consumers):
    """Q10 on Redis: a flaky job is retried (atomically swapped for a delayed frame) until it
    succeeds; an always-failing one ends as a FailedJob after its retries; nothing is left."""
    from tests.testapp.models import JobEvent, JobRun

    testapp_jobs.flaky("flaky-redis", 2)
    testapp_jobs.always_fails("doomed-redis")
    process = consumers(redis_server.url, "-t", "2")
    wait_until(
        lambda: (
            (
                JobRun.objects.filter(key="flaky-redis").exists()
                and FailedJob.objects.filter(name=testapp_jobs.always_fails.name).exists()
            )
            or process.poll() is not None
        ),
        timeout=90,
    )
    assert JobRun.objects.filter(key="flaky-redis").count() == 1, log_of(process)
    assert JobEvent.objects.filter(key="flaky-redis", event="attempt").count() == 3
    failed = FailedJob.objects.get(name=testapp_jobs.always_fails.name)
    assert failed.attempts == 3 and "nothing will help" in failed.traceback
    assert (failed.door, failed.backend) == ("queue", "redis")
    wait_until(lambda: queue.stats() == EMPTY, timeout=30)
    assert stop(process) == 0, log_of(process)
