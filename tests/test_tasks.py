"""django.tasks backends, fast and in-process (T1): flags, queue validation, checks, the memory queue
run by an in-process worker, status, admin, and importing without django.tasks.

The real-consumer tests are in tests/test_tasks_processes.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from djworkers.queue.api import build_backend, reset_backends
from djworkers.tasks import compat
from djworkers.tasks.checks import check
from tests.utils import ROOT

needs_tasks = pytest.mark.skipif(not compat.AVAILABLE, reason=compat.MISSING)

MEMORY = {"QUEUE": {"BACKEND": "memory"}, "STATS": {"ENABLED": False}}


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_package_imports_without_django_tasks(tmp_path):
    """T1: on Django 5.2 without the backport, ``djworkers.tasks`` imports and E701 names what to install
    (simulated: a path hook hides both django.tasks and django_tasks from a fresh interpreter)."""
    script = """
import sys, importlib.abc
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "django.tasks" or name.startswith(("django.tasks.", "django_tasks")):
            raise ImportError("hidden: " + name)
sys.meta_path.insert(0, Hide())
import os, django
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
from django.conf import settings
django.setup()
import djworkers.tasks as t
from djworkers.tasks import compat
assert not compat.AVAILABLE
from django.test.utils import override_settings
with override_settings(TASKS={"default": {"BACKEND": "djworkers.tasks.DatabaseBackend"}}):
    from djworkers.tasks.checks import check
    print([m.id for m in check()], [m.msg for m in check()][0])
try:
    t.DatabaseBackend
except Exception as exc:
    print(type(exc).__name__)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert "['djworkers.E701']" in done.stdout and "django-tasks>=0.12" in done.stdout
    assert "DjworkersImproperlyConfigured" in done.stdout


@pytest.mark.parametrize(
    "entry, expected",
    [
        ({"BACKEND": "djworkers.tasks.NoSuchBackend"}, ["djworkers.E702"]),
        ({"BACKEND": "djworkers.tasks.TaskBackend", "QUEUES": []}, ["djworkers.E703"]),
        ({"BACKEND": "djworkers.tasks.TaskBackend", "QUEUES": "default"}, ["djworkers.E703"]),
        ({"BACKEND": "djworkers.tasks.TaskBackend", "OPTIONS": {"RETRIES": 3}}, ["djworkers.E704"]),
        ({"BACKEND": "djworkers.tasks.TaskBackend", "OPTIONS": {"ENQUEUE_ON_COMMIT": "yes"}}, ["djworkers.E704"]),
        ({"BACKEND": "djworkers.tasks.RedisBackend"}, ["djworkers.E705"]),  # the queue is "database"
        ({"BACKEND": "djworkers.tasks.DatabaseBackend", "QUEUES": ["default", "mail"]}, []),
        ({"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}, []),  # not ours
    ],
)
def test_misconfigured_tasks_entries_are_check_errors(entry, expected):
    """T1: a misconfigured djworkers ``TASKS`` entry is a djworkers check error (E702-E705), naming it."""
    with override_settings(TASKS={"default": entry}):
        messages = list(check())
    assert ids(messages) == expected
    assert all("TASKS['default']" in m.msg for m in messages)


def test_checks_run_through_manage_py_check():
    """T1: the door's checks are part of ``manage.py check`` (the door seam)."""
    from django.core.checks import run_checks

    with override_settings(TASKS={"default": {"BACKEND": "djworkers.tasks.RedisBackend"}}):
        assert "djworkers.E705" in ids(run_checks())


@needs_tasks
def test_backend_flags_and_queue_validation():
    """T1: what the backend supports, honestly; ``queue_name`` must be one of the alias's QUEUES."""
    from djworkers.tasks import DatabaseBackend
    from tests.tasksapp import tasks

    with override_settings(TASKS={"default": {"BACKEND": "djworkers.tasks.DatabaseBackend", "QUEUES": ["a"]}}):
        backend = compat.task_backends()["default"]
        assert isinstance(backend, DatabaseBackend)
        assert backend.supports_defer and backend.supports_priority
        assert backend.supports_get_result and backend.supports_async_task
        with pytest.raises(compat.InvalidTask, match="Queue 'default' is not valid"):
            compat.base.Task(func=tasks.record.func, queue_name="default")


@needs_tasks
@pytest.mark.django_db(transaction=True)  # the worker's thread writes through its own connection
def test_memory_queue_runs_tasks_in_process():
    """T1: enqueue, an in-process worker over the same queue, get_result: statuses READY -> SUCCESSFUL,
    attempts, worker ids, a context task's own id, an async task, a failure with its traceback."""
    from djworkers.runtime.worker import Worker
    from tests.tasksapp import tasks

    with override_settings(DJWORKERS=MEMORY, TASKS={"default": {"BACKEND": "djworkers.tasks.TaskBackend"}}):
        reset_backends()
        try:
            meaning = tasks.calculate_meaning_of_life.enqueue()
            context = tasks.with_context.enqueue(3)
            summed = tasks.add_async.enqueue(1, 2)
            failed = tasks.fail.enqueue("here")
            assert meaning.status == "READY" and meaning.task.priority == 10
            assert tasks.calculate_meaning_of_life.get_result(meaning.id).status == "READY"
            from djworkers.queue.api import get_backend

            Worker(get_backend(), threads=1, burst=True).run()
            meaning.refresh()
            assert meaning.status == "SUCCESSFUL" and meaning.return_value == 42
            assert meaning.attempts == 1 and meaning.worker_ids[0]
            assert tasks.with_context.get_result(context.id).return_value["id"] == context.id
            assert tasks.add_async.get_result(summed.id).return_value == 3
            failed.refresh()
            assert failed.status == "FAILED" and failed.errors[0].exception_class is ValueError
            with pytest.raises(compat.exceptions.TaskResultDoesNotExist):
                tasks.fail.get_result("0" * 32)
        finally:
            reset_backends()


@needs_tasks
@pytest.mark.django_db(transaction=True)
def test_database_enqueue_writes_the_record_and_the_job_in_one_transaction(monkeypatch):
    """T1: on the database backend a task's READY record and its job are one transaction: a job
    that cannot be written leaves no READY record behind (get_result would have said READY for
    ever), and a written task has both."""
    from djworkers.queue import api
    from djworkers.queue.models import QueueJob
    from djworkers.results.models import JobResult
    from tests.tasksapp import tasks

    settings = {"QUEUE": {"BACKEND": "database"}, "STATS": {"ENABLED": False}}
    with override_settings(DJWORKERS=settings, TASKS={"default": {"BACKEND": "djworkers.tasks.DatabaseBackend"}}):
        reset_backends()
        try:
            real = api.enqueue_message

            def broken(message, **options):
                raise RuntimeError("the queue table is gone")

            monkeypatch.setattr(api, "enqueue_message", broken)
            with pytest.raises(RuntimeError):
                tasks.calculate_meaning_of_life.enqueue()
            assert JobResult.objects.count() == 0 and QueueJob.objects.count() == 0
            monkeypatch.setattr(api, "enqueue_message", real)
            result = tasks.calculate_meaning_of_life.enqueue()
            assert list(JobResult.objects.values_list("job_id", "status")) == [(result.id, "queued")]
            assert QueueJob.objects.count() == 1
        finally:
            reset_backends()


@needs_tasks
@pytest.mark.django_db
def test_eager_queue_runs_at_enqueue():
    """T1: under ``QUEUE["ALWAYS_EAGER"]`` enqueue runs the task at once; errors land in the result."""
    from tests.tasksapp import tasks

    eager = {**MEMORY, "QUEUE": {"BACKEND": "memory", "ALWAYS_EAGER": True}}
    with override_settings(DJWORKERS=eager, TASKS={"default": {"BACKEND": "djworkers.tasks.TaskBackend"}}):
        reset_backends()
        try:
            assert tasks.calculate_meaning_of_life.enqueue().return_value == 42
            assert tasks.fail.enqueue("now").status == "FAILED"
        finally:
            reset_backends()


@pytest.mark.django_db
def test_status_has_a_tasks_section():
    """T1 + X4: ``djworkers_status`` reports each djworkers TASKS alias and queue."""
    tasks_setting = {"default": {"BACKEND": "djworkers.tasks.DatabaseBackend", "QUEUES": ["default", "mail"]}}
    with override_settings(TASKS=tasks_setting):
        out = StringIO()
        call_command("djworkers_status", "--json", stdout=out, stderr=StringIO())
    [section] = [s for s in json.loads(out.getvalue())["sections"] if s["door"] == "tasks"]
    assert [(row["alias"], row["queue"]) for row in section["rows"]] == [("default", "default"), ("default", "mail")]
    assert section["rows"][0]["failed"] == 0


@needs_tasks
@pytest.mark.django_db(transaction=True)  # the worker's thread writes through its own connection
def test_results_visible_in_the_admin(client, django_user_model):
    """T1: database results are listed in the admin with the task's path, status and attempts."""
    from djworkers.runtime.worker import Worker
    from tests.tasksapp import tasks

    user = django_user_model.objects.create_superuser("boss", "boss@example.com", None)
    client.force_login(user)
    with override_settings(TASKS={"default": {"BACKEND": "djworkers.tasks.DatabaseBackend"}}):
        reset_backends()
        try:
            result = tasks.calculate_meaning_of_life.enqueue()
            Worker(build_backend(), threads=1, burst=True).run()
        finally:
            reset_backends()
    page = client.get("/admin/djworkers/jobresult/").content.decode()
    assert result.id in page and "task tests.tasksapp.tasks.calculate_meaning_of_life" in page
    assert "succeeded" in page


@needs_tasks
@pytest.mark.django_db(transaction=True)
def test_aenqueue_and_aget_result():
    """T1: the async twins: ``await task.aenqueue()`` and ``await task.aget_result(id)``."""
    import asyncio

    from djworkers.queue.api import get_backend
    from djworkers.runtime.worker import Worker
    from tests.tasksapp import tasks

    with override_settings(DJWORKERS=MEMORY, TASKS={"default": {"BACKEND": "djworkers.tasks.TaskBackend"}}):
        reset_backends()
        try:
            result = asyncio.run(tasks.add_async.aenqueue(4, 5))
            assert result.status == "READY"
            Worker(get_backend(), threads=1, burst=True).run()
            fetched = asyncio.run(tasks.add_async.aget_result(result.id))
            assert fetched.status == "SUCCESSFUL" and fetched.return_value == 9
        finally:
            reset_backends()
