"""The queue backend contract (Q4), as one test class every backend subclasses.

Backends move opaque bytes, so these tests write and read raw bytes
and never decode anything. A backend's test module subclasses
:class:`BackendContract` and provides one fixture, ``backend_factory``: a
callable ``(queues=("default",), lease_seconds=LEASE) -> QueueBackend`` that
returns a *new* instance (a second consumer) bound to the same store each
time it is called. The contract flushes the queues it uses before each test.

Example (see tests/test_queue_backends.py)::

    class TestMemoryBackend(BackendContract):
        @pytest.fixture
        def backend_factory(self):
            store = MemoryStore()
            return lambda queues=("default",), lease_seconds=LEASE: MemoryBackend(
                queues, store, lease_seconds=lease_seconds)

Lease expiry: a delivery whose lease ran out must come back on a later
``fetch``. Backends that re-deliver in housekeeping rather than inside
``fetch`` may do it in ``heartbeat()`` (the worker calls it every heartbeat
interval); the contract calls ``heartbeat()`` before each re-fetch, so both
styles pass.
"""

from __future__ import annotations

import os
import time

import pytest

from djworkers.queue.backends.base import QueueBackend
from djworkers.runtime.source import Delivery

#: Lease used by the contract: short, so expiry tests take about a second.
LEASE = 1.0
QUEUES = ("default", "other")


def _frame(n: int | str) -> bytes:
    """An opaque frame; includes NUL and high bytes to prove backends are binary-safe."""
    return b"\x00\xff frame " + str(n).encode()


def _refetch(backend: QueueBackend, limit: int = 10, timeout: float = 10.0) -> list[Delivery]:
    """Fetch until something arrives (bounded), running housekeeping between polls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        backend.heartbeat()
        got = backend.fetch(limit, 0.2)
        if got:
            return got
        time.sleep(0.05)
    return []


class BackendContract:
    """Behaviour every queue backend must show. Subclasses provide ``backend_factory``."""

    @pytest.fixture
    def backend(self, backend_factory):
        backend = backend_factory(QUEUES, lease_seconds=LEASE)
        backend.flush()
        yield backend
        backend.flush()
        backend.close()

    @pytest.fixture
    def peer(self, backend, backend_factory):
        """A second consumer on the same store and queues."""
        other = backend_factory(QUEUES, lease_seconds=LEASE)
        yield other
        other.close()

    # -- the old djutils API ------------------------------------------------------
    def test_read_on_empty_returns_none(self, backend):
        """Q4: an empty queue returns None from read(), never raises."""
        assert backend.read() is None
        assert len(backend) == 0

    def test_write_read_is_fifo_and_binary_safe(self, backend):
        """Q4: write/read round-trips exact bytes, oldest first."""
        for n in range(3):
            backend.write(_frame(n))
        assert len(backend) == 3
        assert [backend.read() for _ in range(3)] == [_frame(0), _frame(1), _frame(2)]
        assert backend.read() is None
        assert len(backend) == 0

    def test_read_is_acked(self, backend, peer):
        """read() is fetch+ack: after the lease would have run out, nothing comes back."""
        backend.write(_frame("once"))
        assert backend.read() == _frame("once")
        time.sleep(LEASE + 0.3)
        peer.heartbeat()
        assert peer.fetch(10, 0) == []

    def test_flush_all_and_one_queue(self, backend):
        """Q4: flush() empties every queue of the backend; flush(queue) only that one."""
        backend.write(_frame(1), queue="default")
        backend.write(_frame(2), queue="other")
        backend.write(_frame(3), queue="other", eta=time.time() + 60)
        backend.flush("other")
        assert backend.stats("other") == {"ready": 0, "scheduled": 0, "in_flight": 0}
        assert len(backend) == 1
        backend.flush()
        assert len(backend) == 0
        assert backend.read() is None

    def test_write_many(self, backend):
        """Bulk write (pipeline / bulk insert) keeps order and count."""
        backend.write_many([_frame(n) for n in range(25)])
        assert len(backend) == 25
        got = []
        while len(got) < 25:
            batch = backend.fetch(10, 0.5)
            assert batch, "backend stopped delivering before all 25 frames"
            got.extend(batch)
        assert [d.raw for d in got] == [_frame(n) for n in range(25)]
        for delivery in got:
            backend.ack(delivery)
        assert backend.stats() == {"ready": 0, "scheduled": 0, "in_flight": 0}

    # -- fetch / settle -------------------------------------------------------------
    def test_fetch_respects_limit_and_names_queue(self, backend):
        for n in range(5):
            backend.write(_frame(n), queue="other")
        deliveries = backend.fetch(3, 0.5)
        assert len(deliveries) == 3
        assert all(isinstance(d, Delivery) and d.queue == "other" for d in deliveries)
        assert backend.stats("other")["in_flight"] == 3
        assert backend.stats("other")["ready"] == 2

    def test_fetch_on_empty_returns_within_timeout(self, backend):
        """Q6 old bug: a blocking read without timeout hung shutdown. Bounded here."""
        started = time.monotonic()
        assert backend.fetch(5, 0.3) == []
        assert time.monotonic() - started < 3.0

    def test_fetch_sees_write_from_peer_while_waiting(self, backend, peer):
        """A frame written by another client is delivered (to a waiting or polling fetch)."""
        peer.write(_frame("late"))
        assert [d.raw for d in _refetch(backend)] == [_frame("late")]

    def test_ack_removes_for_good(self, backend, peer):
        backend.write(_frame("a"))
        (delivery,) = backend.fetch(1, 0.5)
        backend.ack(delivery)
        assert backend.stats() == {"ready": 0, "scheduled": 0, "in_flight": 0}
        time.sleep(LEASE + 0.3)
        peer.heartbeat()
        assert peer.fetch(10, 0) == []

    def test_release_gives_it_back_at_once(self, backend, peer):
        backend.write(_frame("r"))
        (delivery,) = backend.fetch(1, 0.5)
        assert peer.fetch(1, 0) == []
        backend.release(delivery)
        again = peer.fetch(1, 0.5)
        assert [d.raw for d in again] == [_frame("r")]
        assert backend.stats()["in_flight"] == 1

    def test_retry_replaces_frame_and_waits_for_eta(self, backend):
        """Q10: a retry is the new frame, due at eta; the old one is gone."""
        backend.write(_frame("v1"))
        (delivery,) = backend.fetch(1, 0.5)
        backend.retry(delivery, _frame("v2"), time.time() + 1.0)
        stats = backend.stats()
        assert stats == {"ready": 0, "scheduled": 1, "in_flight": 0}
        assert len(backend) == 1
        assert backend.fetch(1, 0) == []
        got = _refetch(backend, timeout=10)
        assert [d.raw for d in got] == [_frame("v2")]

    def test_eta_delays_delivery(self, backend):
        """Delayed jobs (eta) are invisible until due; due ones are not held back by them."""
        backend.write(_frame("later"), eta=time.time() + 1.0)
        backend.write(_frame("now"))
        assert backend.stats() == {"ready": 1, "scheduled": 1, "in_flight": 0}
        first = backend.fetch(10, 0.2)
        assert [d.raw for d in first] == [_frame("now")]
        backend.ack(first[0])
        started = time.monotonic()
        later = _refetch(backend, timeout=10)
        assert [d.raw for d in later] == [_frame("later")]
        assert time.monotonic() - started >= 0.5

    def test_eta_in_the_past_is_ready(self, backend):
        backend.write(_frame("overdue"), eta=time.time() - 30)
        assert [d.raw for d in backend.fetch(1, 0.5)] == [_frame("overdue")]

    # -- leases: at-least-once ---------------------------------------------------------
    def test_lease_expiry_redelivers(self, backend, peer):
        """Q5/Q6: a consumer that took a job and died: its job comes back to another consumer."""
        backend.write(_frame("crash"))
        (taken,) = backend.fetch(1, 0.5)
        assert peer.fetch(1, 0) == []  # leased: not visible to others
        again = _refetch(peer, timeout=LEASE * 10)
        assert [d.raw for d in again] == [_frame("crash")]
        peer.ack(again[0])
        assert backend.stats() == {"ready": 0, "scheduled": 0, "in_flight": 0}

    def test_deliveries_are_counted(self, backend, peer):
        """Q16: each delivery whose lease ran out counts; a release does not; a retry starts
        again from 1 (the worker sends a frame past MAX_DELIVERIES to the failed store)."""
        backend.write(_frame("poison"))
        (first,) = backend.fetch(1, 0.5)
        assert first.deliveries == 1
        (second,) = _refetch(peer, timeout=LEASE * 10)  # first's consumer "died"
        assert (second.raw, second.deliveries) == (_frame("poison"), 2)
        peer.release(second)
        (third,) = backend.fetch(1, 0.5)
        assert (third.raw, third.deliveries) == (_frame("poison"), 2)  # released: not counted
        (fourth,) = _refetch(peer, timeout=LEASE * 10)
        assert (fourth.raw, fourth.deliveries) == (_frame("poison"), 3)
        peer.retry(fourth, _frame("retried"), time.time())
        (fifth,) = _refetch(backend, timeout=10)
        assert (fifth.raw, fifth.deliveries) == (_frame("retried"), 1)
        backend.ack(fifth)

    def test_extend_keeps_the_lease(self, backend, peer):
        """A running job whose lease is renewed is not handed to anyone else."""
        backend.write(_frame("long"))
        (taken,) = backend.fetch(1, 0.5)
        deadline = time.monotonic() + LEASE * 2.5
        while time.monotonic() < deadline:
            backend.extend([taken])
            peer.heartbeat()
            assert peer.fetch(1, 0) == []
            time.sleep(LEASE / 4)
        backend.ack(taken)
        assert backend.stats()["in_flight"] == 0

    def test_two_consumers_never_get_the_same_frame(self, backend, peer):
        """Q5: concurrent fetchers split the queue; nothing is delivered twice."""
        backend.write_many([_frame(n) for n in range(40)])
        seen: list[bytes] = []
        for _ in range(200):
            for consumer in (backend, peer):
                for delivery in consumer.fetch(3, 0):
                    seen.append(delivery.raw)
                    consumer.ack(delivery)
            if len(seen) >= 40:
                break
        assert sorted(seen) == sorted(_frame(n) for n in range(40))

    # -- queues and stats -----------------------------------------------------------------
    def test_queues_are_isolated(self, backend, backend_factory):
        only_other = backend_factory(("other",), lease_seconds=LEASE)
        try:
            backend.write(_frame("d"), queue="default")
            assert only_other.fetch(5, 0.2) == []
            backend.write(_frame("o"), queue="other")
            assert [d.raw for d in only_other.fetch(5, 0.5)] == [_frame("o")]
            assert len(only_other) == 0
            assert len(backend) == 1
        finally:
            only_other.close()

    def test_backend_reads_all_its_queues(self, backend):
        backend.write(_frame("d"), queue="default")
        backend.write(_frame("o"), queue="other")
        got = []
        for _ in range(20):
            got += backend.fetch(5, 0.2)
            if len(got) == 2:
                break
        assert sorted(d.queue for d in got) == ["default", "other"]

    def test_stats_shape(self, backend):
        backend.write(_frame(1))
        backend.write(_frame(2))
        backend.write(_frame(3), eta=time.time() + 60)
        backend.fetch(1, 0.5)
        assert backend.stats() == {"ready": 1, "scheduled": 1, "in_flight": 1}
        assert backend.stats("default") == {"ready": 1, "scheduled": 1, "in_flight": 1}
        assert backend.stats("other") == {"ready": 0, "scheduled": 0, "in_flight": 0}
        assert len(backend) == 2

    def test_large_frame(self, backend):
        # a fixed first byte: a frame starting with '#' or 0xff would be read as carrying a
        # job id or a redelivery tag (the Redis layout), which a signed frame ("DJW1...") never is
        big = b"DJW1" + os.urandom(256 * 1024)
        backend.write(big)
        assert backend.read() == big

    # -- jobs by id: cancel, unique keys (Q14) ----------------------------------------
    @pytest.fixture
    def tracking(self, backend):
        if not backend.supports_cancel:
            pytest.skip(f"{type(backend).__name__} does not track job ids")
        return backend

    def test_write_jobs_delivers_the_frames_unchanged(self, tracking):
        """Q14: frames written with their ids reach consumers byte for byte, in order,
        at their priority, and delayed ones wait."""
        from djworkers.queue.backends.base import TrackedFrame

        ids = tracking.write_jobs([TrackedFrame(_frame(n), f"id-{n}") for n in range(3)])
        assert ids == ["id-0", "id-1", "id-2"]
        tracking.write_jobs([TrackedFrame(_frame("urgent"), "id-u")], priority=5)
        tracking.write_jobs([TrackedFrame(_frame("later"), "id-l")], eta=time.time() + 60)
        got = tracking.fetch(10, 0.5)
        assert [d.raw for d in got] == [_frame("urgent"), _frame(0), _frame(1), _frame(2)]
        assert tracking.stats()["scheduled"] == 1

    def test_cancel_ready_and_delayed_but_not_started(self, tracking, peer):
        """Q14: cancel() removes a ready or delayed job (True, once); a fetched job is not
        cancelled (False) and stays leased; stats no longer count cancelled jobs."""
        from djworkers.queue.backends.base import TrackedFrame

        tracking.write_jobs([TrackedFrame(_frame(n), f"c-{n}") for n in range(3)])
        tracking.write_jobs([TrackedFrame(_frame("d"), "c-d")], queue="other", eta=time.time() + 60)
        (first,) = peer.fetch(1, 0.5)
        assert first.raw == _frame(0)
        assert tracking.cancel("c-0") is False  # started
        assert tracking.cancel("c-1") is True and tracking.cancel("c-1") is False
        assert tracking.cancel("c-d") is True  # found on "other" without being told
        assert tracking.stats() == {"ready": 1, "scheduled": 0, "in_flight": 1}
        assert [d.raw for d in peer.fetch(10, 0.5)] == [_frame(2)]
        assert tracking.cancel("unknown") is False

    def test_unique_key_returns_the_queued_twin(self, tracking):
        """Q14: a unique key already queued (in this batch or before) writes nothing and
        returns the twin's id; once the twin is fetched the key is free again."""
        from djworkers.queue.backends.base import TrackedFrame

        ids = tracking.write_jobs(
            [
                TrackedFrame(_frame(1), "u-1", "key"),
                TrackedFrame(_frame(2), "u-2", "key"),
                TrackedFrame(_frame(3), "u-3", "other-key"),
            ]
        )
        assert ids == ["u-1", "u-1", "u-3"]
        assert tracking.write_jobs([TrackedFrame(_frame(4), "u-4", "key")]) == ["u-1"]
        assert len(tracking) == 2
        tracking.fetch(10, 0.5)
        assert tracking.write_jobs([TrackedFrame(_frame(5), "u-5", "key")]) == ["u-5"]
