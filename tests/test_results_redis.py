"""The Redis result store settles a job's final record with the job's ack (Q12), and waits in two
round trips. Against the private redis-server of the test session."""

from __future__ import annotations

import threading
import time

import pytest

from djworkers.queue.backends.redis import RedisBackend
from djworkers.results import ResultRecord
from djworkers.results.redis import FINAL_WRITES
from tests.utils import in_other_thread


@pytest.fixture
def backend(redis, redis_server):
    made = RedisBackend(("default",), redis_server.url, lease_seconds=30)
    made.ACK_DELAY = 5  # the background flush waits: what is sent, a fetch sent
    yield made
    made.close()


def test_a_final_record_saved_soon_in_the_fetching_thread_goes_with_the_next_fetch_before_the_ack(backend, redis):
    """Q12: the consumer's thread writes a job's final record in front of the ack, in its next fetch's
    round trip: nothing is sent when the job ends, and after that fetch both the result and the ack
    are in Redis (never the ack alone)."""
    store = backend.result_store()
    backend.write(b"job")
    (delivery,) = backend.fetch(1, 0)
    store.save_soon(ResultRecord("j1", "succeeded", name="x", value=7))
    backend.ack_soon(delivery)
    assert redis.get("djworkers:result:j1") is None  # not sent yet: it rides on the next fetch
    assert backend.fetch(1, 0) == []
    assert store.load("j1").value == 7
    assert redis.lrange("djworkers:result:j1:done", 0, -1) == [b"1"]
    assert redis.zcard(backend.keys("default").leases) == 0  # acked in the same round trip


def test_a_final_record_saved_soon_elsewhere_is_written_at_once(backend, redis):
    """Q12: only a thread that fetches from the backend (and fetches again next) defers; any other
    thread (a producer's, the worker's main thread) writes the final record at once."""
    store = backend.result_store()
    in_other_thread(store.save_soon, ResultRecord("j2", "failed", name="x", error_type="E"))
    assert store.load("j2").status == "failed"


def test_deferred_records_are_sent_by_close_and_after_a_lost_script(backend, redis):
    """Q12: a stopping consumer sends what is deferred; a server that lost its scripts (restart,
    SCRIPT FLUSH) still gets the record."""
    store = backend.result_store()
    backend.fetch(1, 0)
    store.save_soon(ResultRecord("j3", "succeeded", name="x", value=1))
    redis.script_flush()
    backend.close()
    assert store.load("j3").value == 1


def test_get_wakes_on_the_final_write_and_returns_a_finished_job_at_once(backend, redis):
    """Q12: a waiter blocks on the job's token and reads the record with the token's hand-back; a
    second waiter (or a later one) finds the token again."""
    store = backend.result_store()
    waiter = threading.Thread(target=lambda: results.append(store.wait("j4", timeout=20)))
    results: list = []
    waiter.start()
    store.save(ResultRecord("j4", "succeeded", name="x", value="v"))
    waiter.join(20)
    assert results[0].value == "v"
    assert store.wait("j4", timeout=1).value == "v"
    assert store.wait("unknown", timeout=0.05) is None
    assert FINAL_WRITES.sha  # the write is one script


def test_deferred_records_go_before_an_idle_fetch_waits_and_with_a_flush_before_its_acks(backend, redis):
    """Q12: a fetch that finds nothing and blocks writes the deferred records first (a waiter is not
    kept waiting for as long as the queue stays empty); a flush of acks writes its records in the
    same ACK script run, ahead of the acks."""
    store = backend.result_store()
    backend.fetch(1, 0)
    store.save_soon(ResultRecord("j5", "succeeded", name="x", value=5))
    fetching = threading.Thread(target=backend.fetch, args=(1, 2.0))
    fetching.start()
    deadline = time.monotonic() + 1.5
    while redis.get("djworkers:result:j5") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fetching.is_alive()  # still waiting for a job: the record went before the wait
    assert store.load("j5").value == 5
    fetching.join(5)

    backend.write(b"job")
    (delivery,) = backend.fetch(1, 0)
    store.save_soon(ResultRecord("j6", "failed", name="x", error_type="E"))
    backend.ack_soon(delivery)
    backend.flush_acks()
    assert store.load("j6").status == "failed"
    assert redis.lrange("djworkers:result:j6:done", 0, -1) == [b"1"]
    assert redis.zcard(backend.keys("default").leases) == 0


def test_a_record_nobody_blocks_on_leaves_no_token_and_still_reads(backend, redis):
    """Q12: a record whose job was enqueued with ``result_wait=False`` (django.tasks') is written
    without the waiters' token list (one key per result, not two); beside it a record of a job
    someone may wait on keeps its token; a waiter on the first still reads it when its slice ends."""
    store = backend.result_store()
    backend.fetch(1, 0)
    unwatched = ResultRecord("j7", "succeeded", name="x", value=7)
    unwatched.wakes = False
    store.save_soon(unwatched)
    store.save_soon(ResultRecord("j8", "succeeded", name="x", value=8))
    backend.fetch(1, 0)
    assert store.load("j7").value == 7 and store.load("j8").value == 8
    assert redis.exists("djworkers:result:j7:done") == 0
    assert redis.lrange("djworkers:result:j8:done", 0, -1) == [b"1"]
    assert store.wait("j7", timeout=0.3).value == 7
