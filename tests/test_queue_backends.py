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
