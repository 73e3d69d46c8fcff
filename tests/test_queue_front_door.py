"""The queue front door's second part, in-process on every backend (Q11, Q14, Q15).

Each test runs on the memory, database (SQLite, or PostgreSQL with
``DJWORKERS_TEST_DB=postgres``) and Redis backends (the private redis-server of
tests/conftest.py). Jobs are taken with the backend's own ``fetch`` (what a
consumer does) or an in-process :class:`~djworkers.runtime.worker.Worker`;
tests/test_queue_front_door_processes.py repeats the key claims with real
``queue_consumer`` subprocesses.
"""

from __future__ import annotations

import threading

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import SynchronousOnlyOperation
from django.db import connection, transaction
from django.http import JsonResponse
from django.test import AsyncClient, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import path

from djworkers.messages import decode
from djworkers.queue import QueueCommand, cancel, get_backend, queue_command
from djworkers.queue.api import reset_backends
from djworkers.queue.models import QueueJob
from djworkers.runtime.worker import PollBackoff, Worker

BACKENDS = ["memory", "database", "redis"]


def queue_settings(kind: str, request) -> dict:
    if kind == "redis":
        url = request.getfixturevalue("redis_server").url
        return {"QUEUE": {"BACKEND": "redis", "CONNECTION": url}}
    if kind == "memory":
        return {"QUEUE": {"BACKEND": "memory", "CONNECTION": "test-front-door"}}
    return {"QUEUE": {"BACKEND": "database"}}


@pytest.fixture(params=BACKENDS)
def backend(request, clean_registry):
    """The shared backend of queues "default" and "other" on each kind, flushed around the test."""
    with override_settings(DJWORKERS=queue_settings(request.param, request)):
        reset_backends()
        backend = get_backend(["default", "other"])
        backend.flush()
        yield backend
        backend.flush()
        reset_backends()


def take(backend, limit: int = 100) -> list:
    """Lease and acknowledge everything due, as a consumer would; the decoded messages in order."""
    deliveries = backend.fetch(limit, 0)
    for delivery in deliveries:
        backend.ack(delivery)
    return [decode(d.raw) for d in deliveries]


def kind(backend) -> str:
    return {"MemoryBackend": "memory", "DatabaseBackend": "database", "RedisBackend": "redis"}[type(backend).__name__]


def waiting(backend) -> int:
    stats = backend.stats()
    return stats["ready"] + stats["scheduled"]


# -- priorities (Q14) -----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_higher_priority_runs_first(backend):
    """Q14: @queue_command(priority=...) and .schedule(priority=...) reach the backend; the
    highest priority is fetched first, equal priorities in enqueue order."""

    @queue_command
    def normal(n): ...

    @queue_command(priority=10)
    def urgent(n): ...

    @queue_command(priority=-5)
    def background(n): ...

    background(1)
    normal(2)
    urgent(3)
    normal.schedule((4,), priority=20)
    urgent.schedule((5,), priority=0)  # per-call override of the declared priority
    normal(6)
    assert [m.args[0] for m in take(backend)] == [4, 3, 2, 5, 6, 1]


@pytest.mark.parametrize("bad", ["high", 1.5, True, None, 40000, -40000])
def test_priority_is_validated_at_declaration(clean_registry, bad):
    """Q14: a priority that is not an int in the stored range fails where it is declared,
    naming the job; nothing is registered."""
    from djworkers.registry import registry

    with pytest.raises(ValueError, match=r"Job '.*bad_priority'.*priority must be an int"):

        @queue_command(priority=bad)
        def bad_priority(): ...

    assert not [name for name in registry.names() if name.endswith("bad_priority")]
    with pytest.raises(ValueError, match="BadCommand.*priority must be an int"):

        class BadCommand(QueueCommand):
            priority = bad


def test_per_call_priority_is_validated(clean_registry):
    @queue_command
    def job(): ...

    with pytest.raises(ValueError, match="priority must be an int"):
        job.schedule(priority="urgent")


# -- cancel (Q14) -----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_cancel_queued_and_delayed_jobs(backend):
    """Q14: handle.cancel() and djworkers.queue.cancel(id) remove a job that has not started
    (queued, or delayed); a second cancel returns False; the other jobs are untouched."""

    @queue_command
    def job(n): ...

    @queue_command(queue="other")
    def elsewhere(n): ...

    queued, delayed, kept, other = job(1), job.schedule((2,), delay=60), job(3), elsewhere(4)
    assert queued.cancel() is True
    assert cancel(delayed.id) is True
    assert cancel(other.id) is True  # found on its queue without being told which
    assert queued.cancel() is False and cancel(delayed.id) is False
    assert [m.id for m in take(backend)] == [kept.id]
    assert waiting(backend) == 0


@pytest.mark.django_db(transaction=True)
def test_cancel_of_a_started_or_finished_job_changes_nothing(backend):
    """Q14: once a consumer was handed the job (running, retrying) or it finished, cancel
    returns False and the job's state is unchanged."""

    @queue_command
    def job(n): ...

    handle = job(1)
    (delivery,) = backend.fetch(1, 0)
    assert handle.cancel() is False
    assert backend.stats()["in_flight"] == 1
    backend.retry(delivery, delivery.raw, 0)  # waiting for its retry: started already
    assert handle.cancel() is False
    (again,) = backend.fetch(1, 0)
    assert decode(again.raw).id == handle.id
    backend.ack(again)
    assert handle.cancel() is False
    assert cancel("no-such-job") is False


@pytest.mark.django_db(transaction=True)
def test_cancelled_job_never_runs_in_a_worker(backend):
    """Q14: an in-process Worker (the consumer loop) drains the queue: the cancelled job is
    dropped, the others run."""
    ran = []

    @queue_command
    def job(n):
        ran.append(n)

    _first, second, third = job(1), job(2), job(3)
    assert second.cancel()
    worker = Worker(backend, burst=True, exit_on_force=False, poll=PollBackoff(0.01, 1.5, 0.05), fetch_timeout=0.05)
    assert worker.run() == 0
    assert sorted(ran) == [1, 3]
    assert third.cancel() is False


# -- unique jobs and bulk (Q14) -----------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_unique_job_returns_the_queued_twin(backend):
    """Q14: while an identical unique job is queued, enqueueing returns its handle (same id);
    other arguments are another job; once the first started, a new one is queued."""

    @queue_command(unique=True)
    def sync_account(account_id, full=False): ...

    first = sync_account(7)
    assert sync_account(7).id == first.id
    assert sync_account(7, full=True).id != first.id
    assert sync_account.schedule((7,)).id == first.id
    assert waiting(backend) == 2
    (delivery, _) = backend.fetch(2, 0)
    assert decode(delivery.raw).id == first.id
    again = sync_account(7)  # the first one has started: this is a new job
    assert again.id != first.id
    assert sync_account(7).id == again.id


@pytest.mark.django_db(transaction=True)
def test_unique_key_function(backend):
    """Q14: unique=callable: the key function of the job's arguments decides what is a twin."""

    @queue_command(unique=lambda user_id, reason: user_id)
    def notify(user_id, reason): ...

    first = notify(1, "signup")
    assert notify(1, "another reason").id == first.id
    assert notify(2, "signup").id != first.id
    assert first.cancel()
    assert notify(1, "after cancel").id != first.id


def test_unique_must_be_bool_or_callable(clean_registry):
    with pytest.raises(TypeError, match="unique must be True, False or a key function"):

        @queue_command(unique="yes")
        def job(): ...


@pytest.mark.django_db(transaction=True)
def test_unique_enqueue_is_atomic_across_threads(backend):
    """Q14: eight threads enqueue the same unique job at once: one job is queued and every
    thread gets its id (the check and the write are one atomic step on every backend)."""

    @queue_command(unique=True)
    def rebuild(index_name): ...

    barrier = threading.Barrier(8)
    ids: list[str] = []
    errors: list[BaseException] = []

    def enqueue() -> None:
        try:
            barrier.wait()
            ids.append(rebuild("search").id)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            from django.db import connections

            connections.close_all()

    threads = [threading.Thread(target=enqueue) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(ids) == 8 and len(set(ids)) == 1
    assert waiting(backend) == 1


@pytest.mark.django_db(transaction=True)
def test_map_enqueues_in_one_round_trip(backend, monkeypatch):
    """Q14 bulk: f.map(items) writes every job with one backend call (one INSERT statement,
    one Redis script call) and returns a handle per job, in order."""

    @queue_command(priority=2)
    def resize(image_id, size=100): ...

    calls = []
    original = type(backend).write_jobs

    def counting(self, jobs, **kwargs):
        calls.append(len(jobs))
        return original(self, jobs, **kwargs)

    monkeypatch.setattr(type(backend), "write_jobs", counting)
    if kind(backend) == "redis":
        sent = []
        execute = backend.client.execute_command
        monkeypatch.setattr(
            backend.client, "execute_command", lambda *args, **kw: sent.append(args[0]) or execute(*args, **kw)
        )
    with CaptureQueriesContext(connection) as queries:
        handles = resize.map([1, 2, (3, 300)])
    assert calls == [3]
    if kind(backend) == "redis":
        assert sent == ["EVALSHA"]
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == (1 if kind(backend) == "database" else 0)
    messages = take(backend)
    assert [m.id for m in messages] == [h.id for h in handles]
    assert [m.args for m in messages] == [(1,), (2,), (3, 300)]
    assert handles[2].cancel() is False  # already taken above


@pytest.mark.django_db(transaction=True)
def test_queue_command_class_map_and_priority(backend):
    """Q14: the class form takes priority/unique as class attributes and has map()."""

    class Low(QueueCommand):
        priority = -1

        def execute(self): ...

    class High(QueueCommand):
        priority = 5
        unique = True

        def execute(self): ...

    Low.map(["a", "b"])
    first = High("x").enqueue()
    assert High("x").enqueue().id == first.id
    assert [m.name.rsplit(".", 1)[-1] for m in take(backend)] == ["High", "Low", "Low"]


# -- enqueue on commit (Q15) --------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_rolled_back_leaves_no_job(backend):
    """Q15: inside atomic(), on_commit=True writes nothing until the commit; a rollback drops
    the job. The handle has its id before the commit."""

    @queue_command
    def job(n): ...

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        with transaction.atomic():
            handle = job.schedule((1,), on_commit=True)
            assert handle.id
            assert waiting(backend) == 0
            raise Rollback
    assert waiting(backend) == 0
    with transaction.atomic():
        committed = job.schedule((2,), on_commit=True)
        assert waiting(backend) == 0
    assert [m.id for m in take(backend)] == [committed.id]


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_defaults_per_backend(backend, settings):
    """Q15: ENQUEUE_ON_COMMIT = None (the default) defers on Redis only: the database
    backend's INSERT is part of the transaction already, the memory backend is for tests
    (whose transaction never commits). on_commit=False and the setting override it."""

    @queue_command
    def job(n): ...

    with transaction.atomic():
        job(1)
        # visible inside the block: the database row through the same connection
        assert waiting(backend) == (0 if kind(backend) == "redis" else 1)
        job.schedule((2,), on_commit=False)
        assert waiting(backend) == (1 if kind(backend) == "redis" else 2)
    assert waiting(backend) == 2
    take(backend)

    settings.DJWORKERS = {"QUEUE": {**settings.DJWORKERS["QUEUE"], "ENQUEUE_ON_COMMIT": True}}
    deferred = get_backend(["default", "other"])
    with transaction.atomic():
        job(3)
        if kind(backend) != "database":  # the database backend's row is not committed anyway
            assert waiting(deferred) == 0
    assert [m.args for m in take(deferred)] == [(3,)]


# -- async callers (Q11) --------------------------------------------------------------------------
@queue_command(name="tests.front_door.from_async")
def from_async(n):
    """Registered at import: the async views below enqueue it."""


async def aenqueue_view(request):
    handle = await from_async.aenqueue(int(request.GET["n"]))
    return JsonResponse({"id": handle.id})


async def sync_call_view(request):
    try:
        handle = from_async(int(request.GET["n"]))
    except SynchronousOnlyOperation as exc:
        return JsonResponse({"error": str(exc)}, status=500)
    return JsonResponse({"id": handle.id})


async def cancel_view(request):
    handle = await from_async.aschedule((0,), delay=60)
    return JsonResponse({"cancelled": await handle.acancel()})


urlpatterns = [
    path("aenqueue/", aenqueue_view),
    path("sync/", sync_call_view),
    path("cancel/", cancel_view),
]


@pytest.fixture
def async_backend(request):
    """Like ``backend`` but without clean_registry: the views' job is registered at import."""
    with override_settings(DJWORKERS=queue_settings(request.param, request), ROOT_URLCONF=__name__):
        reset_backends()
        backend = get_backend(["default", "other"])
        backend.flush()
        yield backend
        backend.flush()
        reset_backends()


def get(url: str):
    return async_to_sync(AsyncClient().get)(url)


@pytest.mark.parametrize("async_backend", BACKENDS, indirect=True)
@pytest.mark.django_db(transaction=True)
def test_aenqueue_from_an_async_view(async_backend):
    """Q11: `await f.aenqueue(...)` from an async view (AsyncClient) enqueues on every backend,
    the database one included; `await handle.acancel()` works there too."""
    response = get("/aenqueue/?n=5")
    assert response.status_code == 200, response.content
    (message,) = take(async_backend)
    assert message.id == response.json()["id"] and message.args == (5,)
    assert get("/cancel/").json() == {"cancelled": True}
    assert waiting(async_backend) == 0


@pytest.mark.parametrize("async_backend", ["database"], indirect=True)
@pytest.mark.django_db(transaction=True)
def test_sync_call_from_async_names_aenqueue_on_the_database_backend(async_backend):
    """Q11: the plain call cannot use the database connection from async code: the error
    says to use aenqueue, and nothing is written."""
    response = get("/sync/?n=1")
    assert response.status_code == 500
    assert "await from_async.aenqueue(...)" in response.json()["error"]
    assert QueueJob.objects.count() == 0


@pytest.mark.parametrize("async_backend", ["redis", "memory"], indirect=True)
@pytest.mark.django_db(transaction=True)
def test_sync_call_from_async_still_works_without_the_database(async_backend):
    """Q11: backends that do not touch the Django connection keep the plain call working."""
    response = get("/sync/?n=2")
    assert response.status_code == 200, response.content
    assert [m.args for m in take(async_backend)] == [(2,)]


@pytest.mark.django_db(transaction=True)
def test_unique_on_other_databases_uses_the_portable_insert(monkeypatch):
    """Q14: databases other than PostgreSQL and SQLite take the ORM path (an INSERT that
    ignores the unique-key conflict, then a read of the key's holder); forced here on the
    test database."""
    from djworkers.queue.backends.base import TrackedFrame
    from djworkers.queue.backends.database import DatabaseBackend

    backend = DatabaseBackend(["default"])
    monkeypatch.setattr(backend, "vendor", "other")
    twins = [TrackedFrame(b"DJW1 a", "a", "k"), TrackedFrame(b"DJW1 b", "b", "k")]
    assert backend.write_jobs(twins) == ["a", "a"]
    assert QueueJob.objects.count() == 1
    (delivery,) = backend.fetch(5, 0)  # the ORM claim clears the key
    assert backend.write_jobs([TrackedFrame(b"DJW1 c", "c", "k")]) == ["c"]
    backend.ack(delivery)
