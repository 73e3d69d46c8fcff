"""The backend contract (tests/backend_contract.py) run against the memory and database backends (Q4, Q5)."""

from __future__ import annotations

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
