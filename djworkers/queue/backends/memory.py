"""An in-process queue backend: the full contract (leases, eta, retry) without a server.

For fast unit tests and single-process development. Jobs live in a
:class:`MemoryStore` (a dict guarded by a lock and a condition variable, so
``fetch`` waits for a write instead of polling). Backends built from settings
with the same ``CONNECTION`` name share one store per process; nothing
crosses a process boundary, so a ``queue_consumer`` in another process will
not see these jobs.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .base import Delivery, QueueBackend, TrackedFrame


@dataclasses.dataclass
class _Job:
    id: int
    queue: str
    raw: bytes
    priority: int
    available_at: float
    leased_until: float | None = None
    lease_token: int = 0
    job_id: str | None = None
    unique_key: str | None = None
    #: handed to a consumer at least once (then it cannot be cancelled any more)
    started: bool = False
    deliveries: int = 0  # handed out and not settled since the last write/retry (Q16)


class MemoryStore:
    """The jobs of any number of :class:`MemoryBackend` instances ("consumers")."""

    def __init__(self) -> None:
        self.jobs: dict[int, _Job] = {}
        self.condition = threading.Condition()
        self.ids = itertools.count(1)
        self.tokens = itertools.count(1)
        #: the :class:`~djworkers.results.memory.MemoryResultStore` beside these jobs, made on first use
        self.results: Any = None


_stores: dict[str, MemoryStore] = {}
_stores_lock = threading.Lock()


def named_store(name: str | None) -> MemoryStore:
    """The process-wide store called ``name`` (the ``CONNECTION`` setting; default ``""``)."""
    with _stores_lock:
        return _stores.setdefault(name or "", MemoryStore())


class MemoryBackend(QueueBackend):
    backend = "memory"
    blocking = True  # fetch waits on a condition variable, no polling needed
    supports_cancel = True
    # in-process, for tests: a test's transaction never commits, so write at once by default
    on_commit_default = False

    def __init__(self, queues: Sequence[str] = ("default",), connection: Any = None, *, lease_seconds: float = 30):
        super().__init__(queues, connection, lease_seconds=lease_seconds)
        self.store = connection if isinstance(connection, MemoryStore) else named_store(connection)

    def build_result_store(self, ttl: float):
        """One result store per memory store (so per ``CONNECTION`` name), like the jobs."""
        from ...results.memory import MemoryResultStore

        with self.store.condition:
            results = self.store.results
            if results is None:
                results = self.store.results = MemoryResultStore(ttl)
        return results

    # -- writing ------------------------------------------------------------------------
    def write(self, frame: bytes, *, queue: str | None = None, eta: float | None = None, priority: int = 0) -> None:
        self.write_many([frame], queue=queue, eta=eta, priority=priority)

    def write_many(
        self, frames: Iterable[bytes], *, queue: str | None = None, eta: float | None = None, priority: int = 0
    ) -> None:
        queue = self.default_queue(queue)
        now = time.time()
        store = self.store
        with store.condition:
            for frame in frames:
                job_id = next(store.ids)
                store.jobs[job_id] = _Job(job_id, queue, bytes(frame), priority, eta if eta is not None else now)
            store.condition.notify_all()

    def write_jobs(
        self, jobs: Sequence[TrackedFrame], *, queue: str | None = None, eta: float | None = None, priority: int = 0
    ) -> list[str]:
        queue = self.default_queue(queue)
        now = time.time()
        store = self.store
        ids = []
        with store.condition:
            for tracked in jobs:
                twin = self._queued_twin(queue, tracked.unique_key)
                if twin is not None:
                    ids.append(twin)
                    continue
                job_id = next(store.ids)
                store.jobs[job_id] = _Job(
                    job_id,
                    queue,
                    bytes(tracked.frame),
                    priority,
                    eta if eta is not None else now,
                    job_id=tracked.job_id,
                    unique_key=tracked.unique_key,
                )
                ids.append(tracked.job_id)
            store.condition.notify_all()
        return ids

    def _queued_twin(self, queue: str, unique_key: str | None) -> str | None:
        """The id of a not-started job of ``queue`` with ``unique_key`` (lock held)."""
        if unique_key is None:
            return None
        for job in self.store.jobs.values():
            if job.unique_key == unique_key and job.queue == queue and not job.started:
                return job.job_id
        return None

    def cancel(self, job_id: str, *, queue: str | None = None) -> bool:
        names = {queue} if queue is not None else set(self.queues)
        with self.store.condition:
            for key, job in self.store.jobs.items():
                if job.job_id == job_id and job.queue in names and not job.started:
                    del self.store.jobs[key]
                    return True
        return False

    def flush(self, queue: str | None = None) -> None:
        names = {queue} if queue is not None else set(self.queues)
        with self.store.condition:
            for job_id in [j.id for j in self.store.jobs.values() if j.queue in names]:
                del self.store.jobs[job_id]

    def stats(self, queue: str | None = None) -> dict[str, int]:
        names = {queue} if queue is not None else set(self.queues)
        now = time.time()
        counts = {"ready": 0, "scheduled": 0, "in_flight": 0}
        with self.store.condition:
            for job in self.store.jobs.values():
                if job.queue not in names:
                    continue
                if job.leased_until is not None and job.leased_until > now:
                    counts["in_flight"] += 1
                elif job.available_at > now:
                    counts["scheduled"] += 1
                else:
                    counts["ready"] += 1
        return counts

    # -- consuming ------------------------------------------------------------------------
    def _take(self, limit: int, now: float) -> list[Delivery]:
        due = [
            job
            for job in self.store.jobs.values()
            if job.queue in self.queues
            and job.available_at <= now
            and (job.leased_until is None or job.leased_until <= now)
        ]
        due.sort(key=lambda job: (-job.priority, job.available_at, job.id))
        taken = []
        for job in due[:limit]:
            job.leased_until = now + self.lease_seconds
            job.lease_token = next(self.store.tokens)
            job.started = True
            job.deliveries += 1
            taken.append(Delivery(job.raw, (job.id, job.lease_token), job.queue, job.deliveries))
        return taken

    def _next_change(self, now: float) -> float | None:
        """When the next scheduled job becomes due or the next lease expires."""
        times = [
            t
            for job in self.store.jobs.values()
            if job.queue in self.queues
            for t in (job.available_at, job.leased_until)
            if t is not None and t > now
        ]
        return min(times) if times else None

    def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        deadline = time.monotonic() + max(0.0, timeout)
        with self.store.condition:
            while True:
                now = time.time()
                taken = self._take(limit, now)
                left = deadline - time.monotonic()
                if taken or left <= 0:
                    return taken
                wake = self._next_change(now)
                self.store.condition.wait(left if wake is None else min(left, max(0.01, wake - now)))

    def _owned(self, delivery: Delivery) -> _Job | None:
        """The job if this delivery still holds its lease (not expired and re-leased by a peer)."""
        job_id, token = delivery.receipt
        job = self.store.jobs.get(job_id)
        return job if job is not None and job.lease_token == token else None

    def ack(self, delivery: Delivery) -> None:
        with self.store.condition:
            if self._owned(delivery) is not None:
                del self.store.jobs[delivery.receipt[0]]

    def release(self, delivery: Delivery) -> None:
        with self.store.condition:
            job = self._owned(delivery)
            if job is not None:
                job.leased_until = None
                job.lease_token = 0
                job.deliveries = max(0, job.deliveries - 1)  # not started: does not count
                self.store.condition.notify_all()

    def retry(self, delivery: Delivery, raw: bytes, eta: float) -> None:
        with self.store.condition:
            job = self._owned(delivery)
            if job is None:
                return  # a peer holds it now; it will run there
            job.raw, job.available_at = bytes(raw), eta
            job.leased_until, job.lease_token, job.deliveries = None, 0, 0
            self.store.condition.notify_all()

    def extend(self, deliveries: list[Delivery]) -> None:
        until = time.time() + self.lease_seconds
        with self.store.condition:
            for delivery in deliveries:
                job = self._owned(delivery)
                if job is not None:
                    job.leased_until = until
