"""The database result store writes a job's final record with the job's ack, in the consumer's next
claim (Q12): PostgreSQL in the claim's own statement, SQLite in its transaction. Runs on SQLite, and
on PostgreSQL under DJWORKERS_TEST_DB=postgres."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from djworkers.queue.backends.database import DatabaseBackend
from djworkers.queue.models import QueueJob
from djworkers.results import ResultRecord
from djworkers.results.models import JobResult
from tests.utils import in_other_thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backend():
    made = DatabaseBackend(("default",), notify=False)
    made.RESULT_DELAY = 5  # the flusher waits: what is written, a claim wrote
    yield made
    made.close()
    QueueJob.objects.all().delete()
    JobResult.objects.all().delete()


def _statuses() -> dict[str, str]:
    return dict(JobResult.objects.values_list("job_id", "status"))


def test_a_final_record_saved_soon_in_the_fetching_thread_goes_with_the_next_claim_before_the_ack(backend):
    """Q12: the consumer's thread writes a job's final record with the job's ack, in its next claim:
    nothing is written when the job ends, and after that claim both the result and the ack are in the
    database (never the ack alone)."""
    store = backend.result_store()
    backend.write(b"job")
    (delivery,) = backend.fetch(1, 0)
    store.save_soon(ResultRecord("j1", "succeeded", name="x", value=7))
    backend.ack_soon(delivery)
    assert _statuses() == {}  # not written yet: it rides on the next claim
    assert QueueJob.objects.count() == 1
    assert backend.fetch(1, 0) == []
    assert store.load("j1").value == 7
    assert _statuses() == {"j1": "succeeded"}
    assert QueueJob.objects.count() == 0  # acked in the same statement / transaction


@pytest.mark.parametrize("count", [2, 8, 9, 30])
def test_several_deferred_records_and_a_record_written_twice_keep_the_last(backend, count):
    """Q12: records of several jobs go in one claim (on PostgreSQL up to MAX_VALUES_ROWS as rows of
    VALUES, more as unnest arrays: both shapes here); a job whose record was deferred twice keeps
    the last."""
    from djworkers.results.database import MAX_VALUES_ROWS

    assert 2 <= MAX_VALUES_ROWS < 9
    store = backend.result_store()
    backend.fetch(1, 0)
    store.save_soon(ResultRecord("j0", "failed", name="x", error_type="E"))
    for index in range(1, count):
        store.save_soon(ResultRecord(f"j{index}", "succeeded", name="x", value=index))
    store.save_soon(ResultRecord("j0", "succeeded", name="x", value=0))
    backend.fetch(1, 0)
    assert _statuses() == {f"j{index}": "succeeded" for index in range(count)}
    assert [store.load(f"j{index}").value for index in range(count)] == list(range(count))
    row = JobResult.objects.get(job_id="j1")
    assert row.expires_at > store.expires_at() - 60  # the TTL as write() sets it


def test_a_final_record_saved_soon_elsewhere_is_written_at_once(backend):
    """Q12: only a thread that fetches from the backend (and claims again soon) defers; any other
    thread (a producer's, the worker's main thread) writes the final record at once."""
    store = backend.result_store()
    in_other_thread(store.save_soon, ResultRecord("j2", "failed", name="x", error_type="E"))
    assert _statuses() == {"j2": "failed"}


def test_a_deferred_record_no_claim_takes_is_written_by_the_flusher(backend):
    """Q12: a record no claim takes within RESULT_DELAY (the batch's next job runs long) is written
    by the backend's flusher thread."""
    from tests.utils import wait_until

    backend.RESULT_DELAY = 0.01
    store = backend.result_store()
    backend.write(b"job")
    (delivery,) = backend.fetch(4, 0)
    store.save_soon(ResultRecord("j3", "succeeded", name="x", value=3))
    backend.ack_soon(delivery)
    wait_until(lambda: _statuses() == {"j3": "succeeded"}, timeout=30)


def test_a_flusher_that_ended_is_started_again_by_the_next_deferred_record(backend):
    """Q12: the flusher's flag, once set, is left alone (no Event.set per claim), but a flusher
    that is no longer alive (it quit after a quiet minute, or died) is replaced, so a record no
    claim takes is still written."""
    import threading

    from tests.utils import wait_until

    backend.RESULT_DELAY = 0.01
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    backend._flusher = ended
    backend._flush_event.set()  # the flag is already up: only a live flusher would look at it
    store = backend.result_store()
    backend.write(b"job")
    (delivery,) = backend.fetch(4, 0)
    store.save_soon(ResultRecord("j4", "succeeded", name="x", value=4))
    backend.ack_soon(delivery)
    wait_until(lambda: _statuses() == {"j4": "succeeded"}, timeout=30)
    assert backend._flusher is not ended


def test_deferred_records_are_written_by_close_flush_and_ack(backend):
    """Q12: a stopping consumer writes what is deferred (close), so does an ack flush, and a plain
    ack() never deletes a job before the deferred records are written."""
    store = backend.result_store()
    backend.write(b"job")
    (delivery,) = backend.fetch(1, 0)
    store.save_soon(ResultRecord("j1", "succeeded", name="x", value=1))
    backend.ack(delivery)
    assert _statuses() == {"j1": "succeeded"}
    assert QueueJob.objects.count() == 0
    store.save_soon(ResultRecord("j2", "succeeded", name="x", value=2))
    backend.flush_acks()
    assert _statuses()["j2"] == "succeeded"
    store.save_soon(ResultRecord("j3", "succeeded", name="x", value=3))
    backend.close()
    assert _statuses()["j3"] == "succeeded"


def test_a_lost_claim_keeps_the_deferred_records_and_acks_for_the_next(backend, monkeypatch):
    """Q12: a claim statement that fails (server gone) loses neither the deferred records nor the
    acks: the next claim writes and deletes them, the record first."""
    store = backend.result_store()
    backend.write(b"job")
    (delivery,) = backend.fetch(1, 0)
    store.save_soon(ResultRecord("j1", "succeeded", name="x", value=1))
    backend.ack_soon(delivery)
    real = backend._exclusive

    def broken():
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(backend, "_exclusive", broken)
    with pytest.raises(OperationalError):
        backend.fetch(1, 0)
    assert _statuses() == {} and QueueJob.objects.count() == 1
    monkeypatch.setattr(backend, "_exclusive", real)
    assert backend.fetch(1, 0) == []
    assert _statuses() == {"j1": "succeeded"} and QueueJob.objects.count() == 0


@pytest.mark.skipif("not __import__('django.db').db.connection.vendor == 'postgresql'")
def test_postgresql_deferred_final_write_notifies_waiters(backend):
    """Q12: a record written inside the claim statement still NOTIFYs its job id (what ``get()``
    LISTENs for on PostgreSQL), though nothing reads the upsert's RETURNING."""
    import copy

    from django.db import connections

    from djworkers.results.database import CHANNEL

    base = connections["default"]

    store = backend.result_store()
    backend.fetch(1, 0)
    store.save_soon(ResultRecord("j9", "succeeded", name="x", value=9))
    listener = type(base)(copy.deepcopy(base.settings_dict), base.alias)
    try:
        listener.ensure_connection()
        listener.connection.autocommit = True
        listener.connection.execute(f"LISTEN {CHANNEL}")
        backend.fetch(1, 0)
        payloads = [notify.payload for notify in listener.connection.notifies(timeout=10, stop_after=1)]
    finally:
        listener.close()
    assert payloads == ["j9"]
    assert store.wait("j9", timeout=0).value == 9


@pytest.mark.django_db(transaction=False)
def test_deferred_records_inside_the_callers_transaction_go_through_its_connection():
    """Q12: a consumer inside ``transaction.atomic()`` (a TestCase) claims on the thread's Django
    connection (its cursor inlines the parameters, not prepared): the deferred records still go with
    the claim."""
    from django.db import connection

    assert connection.in_atomic_block
    backend = DatabaseBackend(("default",), notify=False)
    store = backend.result_store()
    backend.write(b"job")
    (delivery,) = backend.fetch(1, 0)
    store.save_soon(ResultRecord("j1", "succeeded", name="x", value=1))
    store.save_soon(ResultRecord("j2", "failed", name="x", error_type="E"))
    backend.ack_soon(delivery)
    assert _statuses() == {}
    assert backend.fetch(1, 0) == []
    assert _statuses() == {"j1": "succeeded", "j2": "failed"} and QueueJob.objects.count() == 0
    assert store.load("j1").value == 1
    store.save_soon(ResultRecord("j3", "succeeded", name="x", value=3))  # one record: the other shape
    assert backend.fetch(1, 0) == []
    assert store.load("j3").value == 3


def test_purge_deletes_every_expired_record_and_only_those(backend):
    """Q12: the purge narrows its scan with ``created_at`` (indexed, set by the first write only) and
    deletes by ``expires_at``: an old record rewritten lately stays, as does one not yet expired; an
    expired one goes whatever its age, and so does a row from before ``created_at`` existed (0)."""
    import time

    store = backend.result_store()
    now, ttl = time.time(), store.ttl
    rows = {
        "old-expired": (now - ttl - 10, now - 10),
        "old-rewritten-lately": (now - ttl - 3600, now + ttl - 5),
        "fresh": (now - 5, now + ttl - 5),
        "pre-migration-expired": (0.0, now - 1),
        "pre-migration-live": (0.0, now + 60),
    }
    JobResult.objects.bulk_create(
        JobResult(job_id=job_id, status="succeeded", frame=b"x", created_at=created, expires_at=expires)
        for job_id, (created, expires) in rows.items()
    )
    assert store.purge() == 2
    assert set(_statuses()) == {"old-rewritten-lately", "fresh", "pre-migration-live"}


def test_a_rewritten_record_keeps_the_time_of_its_first_write(backend):
    """Q12: ``created_at`` is set by a record's first write and kept by every later one (the column
    the purge's index is on never changes: on PostgreSQL the rewrite is then a HOT update), while
    ``expires_at`` moves with each write."""
    store = backend.result_store()
    store.write("j1", "queued", ResultRecord("j1", "queued").seal())
    first = JobResult.objects.get(job_id="j1")
    assert first.expires_at - first.created_at == pytest.approx(store.ttl)
    backend.fetch(1, 0)
    store.save_soon(ResultRecord("j1", "succeeded", name="x", value=1))
    backend.fetch(1, 0)  # the claim writes it (PostgreSQL: in its statement; SQLite: in its transaction)
    final = JobResult.objects.get(job_id="j1")
    assert final.status == "succeeded" and final.created_at == first.created_at
    assert final.expires_at >= first.expires_at


@pytest.mark.skipif("not __import__('django.db').db.connection.vendor == 'postgresql'")
def test_postgresql_rewrites_a_record_in_place():
    """Q12 (PostgreSQL): no index of the results table covers a column that a rewrite changes, and
    its pages leave room for the new version, so queued -> final is a HOT update (same page, no new
    index entries; it cost ~25 us of server CPU per django.tasks task when it was not)."""
    import importlib

    from django.db import connection

    from djworkers.results.database import DatabaseResultStore
    from tests.utils import wait_until

    if connection.pg_version < 150000:
        pytest.skip("PostgreSQL 15 or later (pg_stat_force_next_flush)")
    migration = importlib.import_module("djworkers.migrations.0008_results_purge_index_hot_updates")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'djworkers_jobresult'::regclass"
        )
        assert {row[0] for row in cursor.fetchall()} == {"job_id", "created_at"}
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'djworkers_jobresult'")
        assert f"fillfactor={migration.RESULTS_FILLFACTOR}" in cursor.fetchone()[0]

    def hot_updates() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'djworkers_jobresult'")
            return cursor.fetchone()[0]

    store = DatabaseResultStore(ttl=3600)
    before = hot_updates()
    for job_id in ("h1", "h2", "h3"):
        store.write(job_id, "queued", ResultRecord(job_id, "queued").seal())
    for job_id in ("h1", "h2", "h3"):
        store.write(job_id, "succeeded", ResultRecord(job_id, "succeeded", value=job_id).seal())
    wait_until(lambda: hot_updates() - before >= 3, timeout=10)
