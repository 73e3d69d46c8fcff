"""django.tasks on djworkers with real ``queue_consumer`` subprocesses (T1).

The examples of Django's Tasks documentation (mail with ``run_after``, priority,
a result fetched by id in another process, an exception in ``result.errors``)
on both backends: database (SQLite, or PostgreSQL with ``DJWORKERS_TEST_DB=postgres``)
and Redis (a private redis-server). Tasks live in tests/tasksapp/tasks.py, which
no one registers and no installed app imports: the consumer finds them by path.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import signal
from pathlib import Path

import django
import pytest
from django.db import transaction
from django.test import override_settings

from djworkers.queue.api import reset_backends
from djworkers.tasks import compat
from tests.utils import log_of, run, spawn, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not compat.AVAILABLE, reason=compat.MISSING),
]

FAST_POLL = ["-d", "0.05", "-m", "0.2"]
BACKENDS = {"database": "djworkers.tasks.DatabaseBackend", "redis": "djworkers.tasks.RedisBackend"}


@dataclasses.dataclass
class Env:
    kind: str
    settings: dict
    tmp_path: Path

    def consumer(self, *args: str, name: str = "consumer", **queue):
        settings = dict(self.settings)
        if queue:
            djworkers = settings["DJWORKERS"]
            settings["DJWORKERS"] = {**djworkers, "QUEUE": {**djworkers["QUEUE"], **queue}}
        log = self.tmp_path / f"{name}.log"
        process = spawn(["queue_consumer", *FAST_POLL, "--no-periodic", *args], settings=settings, log=log)
        process.log = log
        return process

    def burst(self, *args: str):
        result = run(
            ["queue_consumer", *FAST_POLL, "--no-periodic", "--burst", *args], settings=self.settings, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result


@pytest.fixture(params=["database", "redis"])
def env(request, tmp_path):
    queue: dict = {"LEASE_SECONDS": 2}
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        request.getfixturevalue("redis")  # flushed
        queue.update(BACKEND="redis", CONNECTION=server.url)
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    settings = {
        "DJWORKERS": {
            "WORKER": {"SHUTDOWN_TIMEOUT": 15, "HEARTBEAT_INTERVAL": 0.5},
            "QUEUE": queue,
            "STATS": {"ENABLED": False},
        },
        "TASKS": {"default": {"BACKEND": BACKENDS[request.param], "QUEUES": ["default", "other"]}},
        **_file_mail_settings(mail_dir),
    }
    with override_settings(**settings):
        reset_backends()
        yield Env(request.param, settings, tmp_path)
        reset_backends()


def _file_mail_settings(mail_dir: Path) -> dict:
    """Mail written to files in ``mail_dir``: through ``MAILERS`` on Django 6.1 and later,
    which deprecates ``EMAIL_BACKEND``; through ``EMAIL_BACKEND`` before it."""
    backend = "django.core.mail.backends.filebased.EmailBackend"
    if django.VERSION >= (6, 1):
        return {"MAILERS": {"default": {"BACKEND": backend, "OPTIONS": {"file_path": str(mail_dir)}}}}
    return {"EMAIL_BACKEND": backend, "EMAIL_FILE_PATH": str(mail_dir)}


def test_mail_task_with_run_after(env, consumers):
    """T1, Django's docs example: ``email_users.using(run_after=...)`` waits, then a consumer sends the
    mail (file-based backend: the consumer's side effect, seen here) and the result says how many went."""
    from tests.tasksapp.tasks import email_users

    run_after = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2)
    result = email_users.using(run_after=run_after).enqueue(
        emails=["someone@example.com"], subject="You have a message", message="Hello there!"
    )
    assert result.status == "READY" and result.task.run_after == run_after
    consumers.append(env.consumer())
    mail_dir = env.tmp_path / "mail"
    # the text, not only the file: a read between the file's creation and its write sees nothing
    wait_until(lambda: any("You have a message" in mail.read_text() for mail in mail_dir.iterdir()), timeout=30)
    [mail] = mail_dir.iterdir()
    assert mail.stat().st_mtime >= run_after.timestamp() - 0.05, "the task ran before its run_after"
    wait_until(lambda: (result.refresh(), result.is_finished)[1], timeout=20)
    assert result.status == "SUCCESSFUL" and result.return_value == 1, log_of(consumers[0])
    assert result.attempts == 1 and len(result.worker_ids) == 1
    assert result.enqueued_at <= result.started_at <= result.finished_at


def test_priority_orders_tasks(env, tmp_path):
    """T1: higher ``priority`` runs first (one consumer thread drains a backlog)."""
    from tests.tasksapp.tasks import record

    order = tmp_path / "order.txt"
    for priority, label in ((-10, "low"), (0, "normal"), (50, "high"), (0, "normal2")):
        record.using(priority=priority).enqueue(str(order), label)
    env.burst("--threads", "1", "--prefetch", "1")
    assert order.read_text().split() == ["high", "normal", "normal2", "low"]


def test_result_fetched_by_id_in_another_process(env):
    """T1: the id is all another process needs: a subprocess enqueues, a consumer runs, we read it."""
    from tests.tasksapp.tasks import calculate_meaning_of_life

    script = "from tests.tasksapp.tasks import calculate_meaning_of_life as t; print('ID=' + t.enqueue().id)"
    produced = run(["shell", "-c", script], settings=env.settings)
    assert produced.returncode == 0, produced.stderr
    result_id = produced.stdout.split("ID=")[1].split()[0]
    assert calculate_meaning_of_life.get_result(result_id).status == "READY"
    env.burst()
    result = calculate_meaning_of_life.get_result(result_id)
    assert result.status == "SUCCESSFUL" and result.return_value == 42
    assert result.task.priority == 10 and result.task.queue_name == "default"
    if env.kind == "redis":  # nothing blocks on a task's result: no waiters' token was left (Q12)
        from djworkers.queue.api import get_backend

        assert get_backend().client.exists(f"djworkers:result:{result_id}:done") == 0


def test_exception_surfaces_in_errors(env):
    """T1: a task that raises is FAILED; ``errors`` has the exception class and the traceback."""
    from tests.tasksapp.tasks import fail

    result = fail.enqueue("boom")
    env.burst()
    result.refresh()
    assert result.status == "FAILED"
    with pytest.raises(ValueError, match="failed"):
        _ = result.return_value
    [error] = result.errors
    assert error.exception_class is ValueError
    assert "task failed: boom" in error.traceback and "tasksapp/tasks.py" in error.traceback


def test_context_async_and_other_queue(env):
    """T1: ``takes_context`` tasks get their own result; ``async def`` tasks run; a second queue named in
    QUEUES is served by ``queue_consumer --queue other``, beside the queue's own jobs."""
    from tests.tasksapp.tasks import add_async, with_context

    context = with_context.enqueue(7)
    summed = add_async.using(queue_name="other").enqueue(2, 3)
    env.burst("--queue", "default", "--queue", "other")
    context.refresh()
    summed.refresh()
    assert context.return_value == {"id": context.id, "attempt": 1, "value": 7, "status": "RUNNING"}
    assert summed.status == "SUCCESSFUL" and summed.return_value == 5


def test_enqueue_on_commit_pattern(env):
    """T1: Django's recommended ``transaction.on_commit(lambda: task.enqueue(...))``: nothing is queued on
    rollback; with ``QUEUE["ENQUEUE_ON_COMMIT"]`` a plain enqueue inside ``atomic`` waits for the commit."""
    from tests.tasksapp.tasks import record

    path = env.tmp_path / "commit.txt"
    with transaction.atomic():
        transaction.on_commit(lambda: record.enqueue(str(path), "committed"))
    try:
        with transaction.atomic():
            transaction.on_commit(lambda: record.enqueue(str(path), "rolled-back"))
            raise RuntimeError
    except RuntimeError:
        pass
    djworkers = env.settings["DJWORKERS"]
    with override_settings(DJWORKERS={**djworkers, "QUEUE": {**djworkers["QUEUE"], "ENQUEUE_ON_COMMIT": True}}):
        reset_backends()
        try:
            with transaction.atomic():
                dropped = record.enqueue(str(path), "setting-rolled-back")
                raise RuntimeError
        except RuntimeError:
            pass
        with pytest.raises(compat.exceptions.TaskResultDoesNotExist):
            record.get_result(dropped.id)
        with transaction.atomic():
            kept = record.enqueue(str(path), "setting-committed")
    reset_backends()
    env.burst()
    assert sorted(path.read_text().split()) == ["committed", "setting-committed"]
    assert record.get_result(kept.id).status == "SUCCESSFUL"


def test_killed_consumer_task_is_retried_not_left_running(env, consumers):
    """T1 + Q16: a consumer SIGKILLed mid-task leaves the result RUNNING only until the lease runs out;
    the next consumer runs the task again and it ends SUCCESSFUL."""
    from tests.tasksapp.tasks import stall_once

    marker = env.tmp_path / "stalled"
    result = stall_once.enqueue(str(marker))
    first = env.consumer(name="first")
    consumers.append(first)
    wait_until(marker.exists, timeout=30)
    wait_until(lambda: (result.refresh(), result.status == "RUNNING")[1], timeout=10)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    consumers.append(env.consumer(name="second"))
    wait_until(lambda: (result.refresh(), result.is_finished)[1], timeout=40)
    assert result.status == "SUCCESSFUL" and result.return_value == "second run", log_of(consumers[-1])


def test_task_that_kills_every_consumer_is_failed_with_a_reason(env, consumers):
    """T1 + Q16: past ``QUEUE["MAX_DELIVERIES"]`` a task whose consumer dies each time is FAILED, with
    the reason in ``errors`` (djworkers.exceptions.PoisonJob), never RUNNING for ever."""
    from tests.tasksapp.tasks import stall

    marker = env.tmp_path / "stall"
    result = stall.enqueue(str(marker))
    for round_ in range(2):  # MAX_DELIVERIES=1: the second delivery already is one too many
        if round_:
            marker.unlink(missing_ok=True)
        consumer = env.consumer(name=f"c{round_}", MAX_DELIVERIES=1, LEASE_SECONDS=1)
        consumers.append(consumer)
        if round_ == 0:
            wait_until(marker.exists, timeout=30)
            os.killpg(consumer.pid, signal.SIGKILL)
            consumer.wait()
    wait_until(lambda: (result.refresh(), result.is_finished)[1], timeout=40)
    assert result.status == "FAILED"
    assert result.errors[-1].exception_class_path == "djworkers.exceptions.PoisonJob"
    assert "MAX_DELIVERIES" in result.errors[-1].traceback
