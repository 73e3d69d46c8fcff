"""The front door's second part under real ``queue_consumer`` subprocesses (Q14, Q15).

Database backend (SQLite, or PostgreSQL with ``DJWORKERS_TEST_DB=postgres``) and
Redis (the private redis-server). Jobs are tests/testapp/commands.py; they write
to the test database, which the consumers share, hence ``transaction=True``.
The memory backend cannot cross processes: its consumer-loop tests are in
tests/test_queue_front_door.py.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.test import override_settings

from djworkers.queue import cancel, get_backend
from djworkers.queue.api import reset_backends
from tests.testapp import commands
from tests.testapp.models import Churnable, JobEvent, JobRun
from tests.utils import run, spawn, stop, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAST_POLL = ["-d", "0.05", "-m", "0.2"]


def queue_section(kind: str, request) -> dict:
    if kind == "redis":
        return {"BACKEND": "redis", "CONNECTION": request.getfixturevalue("redis_server").url}
    return {"BACKEND": "database"}


@pytest.fixture(params=["database", "redis"])
def queue(request):
    """Enqueue to the backend of this kind; yields the subprocess settings for consumers."""
    section = {**queue_section(request.param, request), "LEASE_SECONDS": 2}
    djworkers = {"WORKER": {"SHUTDOWN_TIMEOUT": 15, "HEARTBEAT_INTERVAL": 0.5}, "QUEUE": section}
    with override_settings(DJWORKERS=djworkers):
        reset_backends()
        backend = get_backend(["default"])
        backend.flush()
        yield {"INSTALLED_APPS": list(django_settings.INSTALLED_APPS), "DJWORKERS": djworkers}
        backend.flush()
        reset_backends()


@pytest.fixture
def consumers(tmp_path):
    started: list = []

    def start(settings: dict, *args: str):
        log = tmp_path / f"consumer-{len(started)}.log"
        process = spawn(["queue_consumer", *FAST_POLL, "--no-periodic", *args], settings=settings, log=log)
        process.log = log
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def ran(*keys: str) -> set[str]:
    return set(JobRun.objects.filter(key__in=keys).values_list("key", flat=True))


def test_cancelled_jobs_never_run(queue, consumers):
    """Q14: a queued and a delayed job cancelled before a consumer starts never run; their
    neighbours do. A running job cannot be cancelled (False) and runs to the end."""
    cancelled_now = commands.record_run("cancelled-queued")
    kept = commands.record_run("kept-queued")
    cancelled_later = commands.record_run.schedule(("cancelled-delayed",), delay=1.5)
    kept_later = commands.record_run.schedule(("kept-delayed",), delay=1.5)
    assert cancelled_now.cancel() and cancel(cancelled_later.id)
    running = commands.slow_job("slow", 2)
    process = consumers(queue, "-t", "2")
    wait_until(lambda: JobEvent.objects.filter(key="slow", event="started").exists(), timeout=60)
    assert running.cancel() is False
    wait_until(
        lambda: ran("kept-queued", "kept-delayed", "slow") == {"kept-queued", "kept-delayed", "slow"}, timeout=60
    )
    time.sleep(1.0)  # time enough for a cancelled job to (wrongly) run
    assert stop(process) == 0, process.log.read_text()
    assert not ran("cancelled-queued", "cancelled-delayed")
    assert kept.cancel() is False and kept_later.cancel() is False  # finished
    stats = get_backend(["default"]).stats()
    assert stats["ready"] + stats["scheduled"] + stats["in_flight"] == 0


def test_higher_priority_runs_first_in_a_consumer(queue):
    """Q14: one job thread, one job fetched at a time: the higher priority job enqueued last
    runs first; equal priorities run in enqueue order."""
    for n in range(3):
        commands.record_run(f"normal-{n}")
    commands.record_run.schedule(("urgent",), priority=7)
    commands.record_run.schedule(("background",), priority=-1)
    result = run(
        ["queue_consumer", *FAST_POLL, "--no-periodic", "--burst", "-t", "1", "--prefetch", "1"],
        settings=queue,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    order = list(JobRun.objects.order_by("id").values_list("key", flat=True))
    assert order == ["urgent", "normal-0", "normal-1", "normal-2", "background"]


def test_enqueue_on_commit_waits_for_the_commit(queue, consumers):
    """Q15: with a consumer running, a job enqueued with on_commit inside atomic() is not
    visible before the commit (it could not see its row yet), runs after the commit and
    finds the row; a rolled-back block leaves no job at all."""
    process = consumers(queue)

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        with transaction.atomic():
            doomed = Churnable.objects.create(name="doomed")
            commands.churn_data.schedule((doomed, "never", 1), on_commit=True)
            raise Rollback
    with transaction.atomic():
        instance = Churnable.objects.create(name="committed")
        handle = commands.churn_data.schedule((instance, "data", 2), on_commit=True)
        assert handle.id  # known before the commit
        time.sleep(1.0)  # the consumer is polling; nothing may reach it yet
        assert get_backend(["default"]).stats()["ready"] == 0
    wait_until(lambda: Churnable.objects.get(pk=instance.pk).results == "DATAx2", timeout=60)
    time.sleep(0.5)
    assert stop(process) == 0, process.log.read_text()
    log = process.log.read_text()
    assert "DoesNotExist" not in log and "doomed" not in log
    stats = get_backend(["default"]).stats()
    assert stats["ready"] + stats["scheduled"] + stats["in_flight"] == 0
