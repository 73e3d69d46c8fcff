"""The backend contract (tests/backend_contract.py) run against the memory and database backends (Q4, Q5)."""

from __future__ import annotations

import os
import time

import pytest

from djworkers.queue.backends.memory import MemoryBackend, MemoryStore
from tests.backend_contract import LEASE, BackendContract


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    def backend_factory(self):
        store = MemoryStore()

        def make(queues=("default",), lease_seconds=LEASE):
            return MemoryBackend(queues, store, lease_seconds=lease_seconds)

        return make


class TestDatabaseBackend(BackendContract):
    """SQLite by default; PostgreSQL (with LISTEN/NOTIFY) under DJWORKERS_TEST_DB=postgres.

    transaction=True: claims run in their own transactions, as in a consumer.
    """

    pytestmark = pytest.mark.django_db(transaction=True)

    @pytest.fixture
    def backend_factory(self):
        from djworkers.queue.backends.database import DatabaseBackend

        made = []

        def make(queues=("default",), lease_seconds=LEASE):
            backend = DatabaseBackend(queues, lease_seconds=lease_seconds)
            made.append(backend)
            return backend

        yield make
        for backend in made:
            backend.close()

    # -- beyond the contract: ack_soon (what the worker calls) ----------------------------------
    @pytest.mark.parametrize("flush", ["fetch", "heartbeat", "close"])
    def test_ack_soon_is_sent_with_the_next_claim_heartbeat_or_close(self, backend_factory, flush):
        backend = backend_factory(("default",), lease_seconds=30)
        observer = backend_factory(("default",), lease_seconds=30)
        backend.write_many([b"one", b"two"])
        first = backend.fetch(1, 0)[0]
        backend.ack_soon(first)
        assert observer.stats()["in_flight"] == 1  # not sent yet: still leased, not re-delivered
        if flush == "fetch":
            second = backend.fetch(1, 0)[0]
            assert second.raw == b"two"
            assert observer.stats() == {"ready": 0, "scheduled": 0, "in_flight": 1}
        else:
            getattr(backend, flush)()
            assert observer.stats() == {"ready": 1, "scheduled": 0, "in_flight": 0}

    def test_ack_soon_never_deletes_a_row_a_peer_took_over(self, backend_factory):
        backend = backend_factory(("default",), lease_seconds=LEASE)
        peer = backend_factory(("default",), lease_seconds=30)
        backend.write(b"slow")
        (mine,) = backend.fetch(1, 0)
        time.sleep(LEASE + 0.2)
        (theirs,) = peer.fetch(1, 0)  # my lease ran out; the peer runs it now
        backend.ack_soon(mine)
        backend.heartbeat()
        assert peer.stats()["in_flight"] == 1
        peer.ack(theirs)
        assert peer.stats()["in_flight"] == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    os.environ.get("DJWORKERS_TEST_DB") != "postgres", reason="PostgreSQL only (pg_terminate_backend, LISTEN)"
)
def test_database_backend_survives_dropped_connections():
    """A server-side disconnect (restart, idle timeout, pg_terminate_backend) of the consumer's
    own connections: the settle in flight reconnects and succeeds; a dead LISTEN connection
    costs at most one failed fetch (the worker backs off and calls again)."""
    from django.db import connection

    from djworkers.queue.backends.database import DatabaseBackend

    backend = DatabaseBackend(["default"], lease_seconds=30)
    try:
        assert backend.blocking and backend.notify
        backend.write(b"first")
        (delivery,) = backend.fetch(1, 0.5)
        assert backend.fetch(1, 0.3) == []  # opens the LISTEN connection too

        def terminate_others() -> int:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                return cursor.fetchone()[0]

        assert terminate_others() >= 2
        backend.ack(delivery)  # reconnects transparently
        assert backend.stats() == {"ready": 0, "scheduled": 0, "in_flight": 0}
        terminate_others()
        backend.write(b"second")
        got = []
        for _ in range(3):
            try:
                got = backend.fetch(1, 0.5)
            except Exception:
                continue
            if got:
                break
        assert [d.raw for d in got] == [b"second"]
        backend.ack(got[0])
    finally:
        backend.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(os.environ.get("DJWORKERS_TEST_DB") != "postgres", reason="PostgreSQL only (LISTEN/NOTIFY)")
def test_database_backend_job_threads_share_one_listener():
    """The worker's job threads each fetch (and wait) on their own; one LISTEN connection wakes
    them all, and every frame written while they wait is delivered to exactly one of them."""
    import threading
    import time

    from django.db import connection

    from djworkers.queue.backends.database import DatabaseBackend

    backend = DatabaseBackend(["default"], lease_seconds=30)
    got: list[bytes] = []
    lock = threading.Lock()

    def job_thread():
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                deliveries = backend.fetch(1, 2.0)
                if deliveries:
                    with lock:
                        got.extend(d.raw for d in deliveries)
                    backend.ack(deliveries[0])
                    return
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=job_thread) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # all four are waiting now
        started = time.monotonic()
        for n in range(4):
            backend.write(f"wake-{n}".encode())
        for thread in threads:
            thread.join(15)
        assert sorted(got) == [f"wake-{n}".encode() for n in range(4)]
        assert time.monotonic() - started < 5
        assert backend._listener is not None  # one listener served them
    finally:
        backend.close()
