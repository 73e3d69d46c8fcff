"""The result store, async jobs, time limits and poison in-process, on the memory backend (Q11-Q13, Q16).

Fast companions of tests/test_queue_results.py (which runs real consumers on
SQLite, PostgreSQL and Redis): the executor and worker driven directly.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.test import override_settings

from djworkers.exceptions import (
    JobCancelled,
    RemoteJobError,
    ResultsNotEnabled,
    ResultTimeout,
)
from djworkers.messages import Message, encode
from djworkers.models import FailedJob
from djworkers.queue import get_backend, get_result, queue_command
from djworkers.queue.api import reset_backends
from djworkers.queue.backends.memory import MemoryBackend, MemoryStore
from djworkers.registry import Job
from djworkers.results import ResultRecord
from djworkers.results.memory import MemoryResultStore
from djworkers.runtime.executor import Executor, Outcome
from djworkers.runtime.source import Delivery
from djworkers.runtime.worker import PollBackoff, Worker

FAST_POLL = dict(poll=PollBackoff(0.01, 1.5, 0.05), fetch_timeout=0.05)


@pytest.fixture
def memory_queue(clean_registry):
    settings = {"QUEUE": {"BACKEND": "memory", "CONNECTION": f"results-{time.monotonic_ns()}"}}
    with override_settings(DJWORKERS=settings):
        reset_backends()
        yield get_backend()
        reset_backends()


def _worker(backend, **kwargs) -> Worker:
    return Worker(backend, burst=True, exit_on_force=False, heartbeat_interval=0.05, **FAST_POLL, **kwargs)


# -- the store -------------------------------------------------------------------------------
class RecordingStore(MemoryResultStore):
    """A memory store that writes RUNNING late, like the Redis and database ones, and logs its writes."""

    def __init__(self, running_delay: float, block_running: threading.Event | None = None):
        super().__init__(60)
        self.running_delay = running_delay
        self.block_running = block_running
        self.writing_running = threading.Event()
        self.writes: list[str] = []

    def write(self, job_id, status, frame):
        if status == "running" and self.block_running is not None:
            self.writing_running.set()
            self.block_running.wait(10)
        self.writes.append(status)
        super().write(job_id, status, frame)


def test_a_job_done_before_the_running_delay_writes_only_its_final_record():
    """Q12: a RUNNING record waits ``running_delay``; the final record of a job done sooner cancels it,
    so a short job costs the store one write, not two."""
    store = RecordingStore(running_delay=3600)
    store.save(ResultRecord("j1", "running", name="x"))
    assert store.load("j1") is None  # not yet: still "queued" to readers
    store.save(ResultRecord("j1", "succeeded", name="x", value=3))
    assert store.writes == ["succeeded"]
    assert store.wait("j1", timeout=0).value == 3


def test_a_late_running_write_under_way_is_never_written_after_the_final_record():
    """Q12: a job still running after ``running_delay`` gets its RUNNING record; if it ends while that
    write is under way, its final write waits for it, so RUNNING never replaces the final record."""
    from tests.utils import wait_until

    release = threading.Event()
    store = RecordingStore(running_delay=0.001, block_running=release)
    store.save(ResultRecord("j2", "running", name="x"))
    assert store.writing_running.wait(10)  # the store's thread is writing RUNNING now
    final = threading.Thread(target=store.save, args=(ResultRecord("j2", "failed", name="x"),))
    final.start()
    wait_until(lambda: store._lazy._lock._waiters, timeout=10, interval=0.001)  # the final write waits
    assert store.writes == []
    release.set()
    final.join(10)
    assert store.writes == ["running", "failed"]
    assert store.load("j2").status == "failed"


def test_a_running_record_handed_in_after_the_writer_went_idle_is_written():
    """Q12: the writer thread sleeps while nothing is pending; a RUNNING record handed in then wakes
    it (else a long job handed in after a quiet spell would read as queued until it ended)."""
    from tests.utils import wait_until

    store = RecordingStore(running_delay=0.01)
    store.save(ResultRecord("a", "running", name="x"))
    wait_until(lambda: store.writes == ["running"], timeout=10, interval=0.005)
    wait_until(lambda: store._lazy._idle, timeout=10, interval=0.005)  # nothing pending: it sleeps
    store.save(ResultRecord("b", "running", name="x"))
    wait_until(lambda: store.writes == ["running", "running"], timeout=10, interval=0.005)
    assert store.load("b").status == "running"


def test_records_cancelled_ahead_of_a_long_job_do_not_hold_its_running_record_back():
    """Q12: many short jobs (their RUNNING records cancelled) then a long one: only the long one's
    RUNNING record is written, about ``running_delay`` after it started."""
    from tests.utils import wait_until

    store = RecordingStore(running_delay=0.05)
    for number in range(200):
        store.save(ResultRecord(f"short{number}", "running", name="x"))
        store.save(ResultRecord(f"short{number}", "succeeded", name="x"))
    store.save(ResultRecord("long", "running", name="x"))
    wait_until(lambda: "running" in store.writes, timeout=10, interval=0.005)
    assert store.writes == ["succeeded"] * 200 + ["running"]
    assert store.load("long").status == "running"


def test_a_forked_child_writes_its_own_running_records_not_its_parents():
    """Q12: a consumer forked (``--processes``) from a process whose writer thread held records and
    its lock: the child drops the parent's records, takes a new lock and starts its own thread (the
    fork handler does it: ``defer`` no longer asks for the pid every job)."""
    from tests.utils import in_forked_child, wait_until

    store = RecordingStore(running_delay=3600)
    store.save(ResultRecord("parent", "running", name="x"))  # the parent's thread runs, one record waits
    wait_until(lambda: store._lazy._thread is not None, timeout=10, interval=0.005)

    def child() -> str:
        lazy = store._lazy
        inherited = f"{sorted(lazy._pending)} {lazy._thread}"
        lazy.delay = store.running_delay = 0.01
        store.save(ResultRecord("child", "running", name="x"))
        deadline = time.monotonic() + 5
        while "running" not in store.writes and time.monotonic() < deadline:
            time.sleep(0.005)
        return f"{inherited} | {store.writes} {store.load('child').status} {lazy._thread.is_alive()}"

    assert in_forked_child(child) == "[] None | ['running'] running True"
    assert sorted(store._lazy._pending) == ["parent"]  # the parent's own record still waits


def test_memory_store_wait_wakes_on_the_final_write_and_expires():
    """Q12: a waiter wakes when the final record is written (no polling), and records expire."""
    store = MemoryResultStore(ttl=0.5)
    store.save(ResultRecord("j1", "running"))
    assert store.wait("j1", timeout=0.05) is None  # running is not final
    threading.Timer(0.1, lambda: store.save(ResultRecord("j1", "succeeded", value=7))).start()
    started = time.monotonic()
    record = store.wait("j1", timeout=5)
    assert record.value == 7 and time.monotonic() - started < 2
    time.sleep(0.6)
    assert store.load("j1") is None
    assert store.purge() == 1


def test_records_are_signed():
    """Q12: a record is sealed like a message: a tampered one is refused before deserializing."""
    from djworkers.exceptions import BadSignature

    frame = ResultRecord("j2", "succeeded", value={"a": 1}).seal()
    assert ResultRecord.unseal(frame).value == {"a": 1}
    with pytest.raises(BadSignature):
        ResultRecord.unseal(frame[:-1] + bytes([frame[-1] ^ 1]))


def test_a_job_enqueued_with_result_wait_false_writes_records_that_wake_nobody():
    """Q12: the executor marks the record of a job enqueued with ``options["result_wait"] = False``
    (django.tasks' jobs) as waking nobody; the flag is the record's in this process only, never
    sealed; other jobs' records wake their waiters."""
    from djworkers.messages import Message
    from djworkers.runtime.executor import Executor

    records = []

    class Store:
        def save(self, record):
            records.append((record.status, record.wakes, ResultRecord.unseal(record.seal()).wakes))

    executor = Executor("queue", results=Store())
    executor._start_record(Message("x", options={"result": True, "result_wait": False}))
    executor._start_record(Message("x", options={"result": True}))
    assert records == [("running", False, True), ("running", True, True)]


@pytest.mark.parametrize("serializer", ["pickle", "json"])
def test_records_are_sealed_as_values_and_earlier_or_later_shapes_still_read(serializer):
    """Q12: a record is sealed as its version and its field values, without the field names (a
    tasks record is ~40% smaller); a version 1 record (a dict of fields) still reads, a record
    from a later release with more fields reads as the fields this one knows, and a frame that
    is no record is refused as malformed."""
    from djworkers.exceptions import MalformedMessage
    from djworkers.messages import seal, unseal
    from djworkers.results.record import SEALED_FIELDS

    with override_settings(DJWORKERS={"SERIALIZER": serializer}):
        record = ResultRecord("j5", "succeeded", name="n", value=[1, "a"], attempts=2, args=["p", [], {}, {}])
        frame = record.seal()
        assert list(unseal(frame)) == [2, *(record.__dict__[name] for name in SEALED_FIELDS)]
        assert ResultRecord.unseal(frame) == record
        assert len(frame) < len(seal({"v": 1, **record.__dict__})) * 0.8
        version_1 = seal({"v": 1, "job_id": "j6", "status": "failed", "error_type": "E", "gone": 1})
        assert ResultRecord.unseal(version_1) == ResultRecord("j6", "failed", error_type="E")
        later = seal([2, *(record.__dict__[name] for name in SEALED_FIELDS), "a field added later"])
        assert ResultRecord.unseal(later) == record
        for other in ([3, "j7", "succeeded"], "text", [2]):
            with pytest.raises(MalformedMessage):
                ResultRecord.unseal(seal(other))


def test_json_serializer_carries_errors_as_text_and_refuses_odd_values():
    """Q12: with JSON, the exception comes back as RemoteJobError; a value JSON cannot hold
    fails the result with a message naming its type."""
    with override_settings(DJWORKERS={"SERIALIZER": "json"}):
        record = ResultRecord("j3", "failed")
        try:
            raise KeyError("missing")
        except KeyError as exc:
            record.set_error(exc, "Traceback ... KeyError")
        back = ResultRecord.unseal(record.seal())
        error = back.error()
        assert isinstance(error, RemoteJobError) and error.type_name == "builtins.KeyError"
        odd = ResultRecord.unseal(ResultRecord("j4", "succeeded", name="odd", value=object()).seal())
        assert odd.status == "failed" and "type object" in odd.error_message


# -- the handle ------------------------------------------------------------------------------
def test_handle_get_status_aget_and_cancel(memory_queue):
    """Q12: status/get/aget/get_result through a worker; mark_cancelled makes get() raise."""

    @queue_command(result=True)
    def multiply(a, b):
        return a * b

    handle = multiply(6, 7)
    assert handle.status == "queued"
    with pytest.raises(ResultTimeout):
        handle.get(timeout=0.1)
    assert _worker(memory_queue).run() == 0
    assert handle.get() == 42 and handle.status == "succeeded"
    assert asyncio.run(handle.aget(timeout=1)) == 42
    assert get_result(handle.id).get() == 42
    cancelled = multiply(1, 1)
    memory_queue.result_store().mark_cancelled(cancelled.id, name=multiply.name)
    assert cancelled.status == "cancelled"
    with pytest.raises(JobCancelled):
        cancelled.get(timeout=1)


def test_results_off_writes_nothing(memory_queue):
    """Q12: without result=True (or RESULTS), nothing reaches the store."""

    @queue_command
    def quiet():
        return 1

    handle = quiet()
    assert _worker(memory_queue).run() == 0
    assert memory_queue.result_store().frames == {}
    with pytest.raises(ResultsNotEnabled, match="result=True"):
        _ = handle.status  # the property raises


def test_results_setting_turns_them_on_for_every_job(clean_registry):
    """Q12: QUEUE["RESULTS"] = True stores every job's result; result=False still opts out."""

    @queue_command
    def one():
        return 1

    @queue_command(result=False)
    def two():
        return 2

    settings = {"QUEUE": {"BACKEND": "memory", "CONNECTION": "results-setting", "RESULTS": True}}
    with override_settings(DJWORKERS=settings):
        reset_backends()
        backend = get_backend()
        first, second = one(), two()
        assert (first.stores_result, second.stores_result) == (True, False)
        assert _worker(backend).run() == 0
        assert first.get(timeout=1) == 1
        assert backend.result_store().load(second.id) is None
    reset_backends()


def test_eager_handle_get_returns_the_value(clean_registry):
    """Q7/Q12: in eager mode get() returns the value computed inline."""

    @queue_command(result=True)
    def square(x):
        return x * x

    with override_settings(DJWORKERS={"QUEUE": {"ALWAYS_EAGER": True}}):
        handle = square(9)
    assert handle.get() == 81 and handle.status == "succeeded"


# -- async jobs (Q11) -----------------------------------------------------------------------------
def test_executor_runs_coroutines_to_completion(clean_registry):
    """Q11: an async job's coroutine runs (its side effect happens) on the thread's loop."""
    done = []

    async def job(x):
        await asyncio.sleep(0.01)
        done.append(x)
        return x + 1

    clean_registry.register(Job("t.async", job))
    result = Executor("test", record_failures=False).run(Message("t.async", args=(1,)))
    assert result.outcome is Outcome.SUCCEEDED and result.value == 2 and done == [1]


def test_eager_async_command_runs_from_sync_and_async_code(clean_registry):
    """Q7/Q11: in eager mode an async command runs to completion, also when called from a
    coroutine (an async view), where this thread's loop is already running."""

    @queue_command
    async def double(x):
        await asyncio.sleep(0)
        return 2 * x

    async def from_async_code():
        return double(21).result

    with override_settings(DJWORKERS={"QUEUE": {"ALWAYS_EAGER": True}}):
        assert double(4).result == 8
        assert asyncio.run(from_async_code()) == 42


def test_async_job_past_its_timeout_is_cancelled(clean_registry):
    """Q11/Q13: an async job is really cancelled at its limit (asyncio.wait_for)."""
    finished = []

    async def job():
        await asyncio.sleep(5)
        finished.append(True)

    clean_registry.register(Job("t.async_slow", job, timeout=0.2))
    started = time.monotonic()
    result = Executor("test", record_failures=False).run(Message("t.async_slow"))
    assert result.outcome is Outcome.FAILED and time.monotonic() - started < 2
    assert "timed out after 0.2s" in str(result.exception) and finished == []


def test_timeout_and_result_options_are_validated():
    """Q12/Q13: a bad timeout or result option is refused when the job is declared, naming it."""
    with pytest.raises(ValueError, match="'t.bad'.*timeout"):
        Job.declare("t.bad", lambda: None, "queue", timeout=0)
    with pytest.raises(ValueError, match="'t.bad'.*result must be True or False"):
        Job.declare("t.bad", lambda: None, "queue", result="yes")


# -- time limits and poison in the worker (Q13, Q16) ---------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_worker_times_out_a_sync_job_and_keeps_serving(memory_queue):
    """Q13: a sync job past its limit is failed as timed-out, its lease is no longer renewed,
    and a new job thread serves the next job while the old one is abandoned."""
    release = threading.Event()
    ran = []

    @queue_command(timeout=0.3, result=True)
    def hang():
        release.wait(10)
        return "late"

    @queue_command
    def after():
        ran.append(True)

    handle = hang()
    after()
    worker = _worker(memory_queue, prefetch=2)  # both in the hung thread's batch
    try:
        started = time.monotonic()
        assert worker.run() == 0
        assert time.monotonic() - started < 5
    finally:
        release.set()
    assert ran == [True]
    failed = FailedJob.objects.get()
    assert failed.reason == "timed-out" and "timed out after 0.3s" in failed.error
    assert "release.wait(10)" in failed.traceback  # where the job was stuck
    assert worker.counts["timed-out"] == 1
    with pytest.raises(Exception, match="timed out after 0.3s"):
        handle.get(timeout=1)
    assert memory_queue.stats() == {"ready": 0, "scheduled": 0, "in_flight": 0}


@pytest.mark.django_db(transaction=True)
def test_worker_sends_a_frame_past_max_deliveries_to_the_failed_store(clean_registry):
    """Q16: a delivery past MAX_DELIVERIES is not run: stored as poison with the count."""
    ran = []
    clean_registry.register(Job("t.victim", lambda: ran.append(1)))
    store = MemoryStore()
    backend = MemoryBackend(["default"], store, lease_seconds=0.1)
    backend.write(encode(Message("t.victim")))
    for _ in range(3):  # three consumers that "died": leases taken and never settled
        assert backend.fetch(1, 1)
        time.sleep(0.15)
    worker = _worker(MemoryBackend(["default"], store), max_deliveries=3)
    assert worker.run() == 0
    assert ran == [] and worker.counts["poisoned"] == 1
    failed = FailedJob.objects.get()
    assert failed.reason == "poison" and "delivered 4 times" in failed.error


def test_delivery_default_count():
    assert Delivery(b"x", None).deliveries == 1
