"""The result store contract: sealed records by job id, a TTL, and a way to wait (Q12).

Each queue backend kind picks its store (:meth:`QueueBackend.result_store`):
a table for the database backend, keys for Redis, a dict for memory. Front
doors that run jobs through the core executor (the queue, django.tasks,
slacker, gearman) share it.
"""

from __future__ import annotations

import abc
import time

from .lazy import LazyRunning
from .record import CANCELLED, RUNNING, ResultRecord


class ResultStore(abc.ABC):
    """Stores sealed :class:`ResultRecord` frames for ``ttl`` seconds."""

    #: Seconds a job runs before its RUNNING record is written (:mod:`.lazy`): a job done sooner
    #: writes only its final record, one round trip instead of two. 0 writes it at once.
    running_delay: float = 0.1

    def __init__(self, ttl: float):
        self.ttl = float(ttl)
        self._lazy = LazyRunning(self._write_record, self.running_delay)

    # -- what each store implements --------------------------------------------------
    @abc.abstractmethod
    def write(self, job_id: str, status: str, frame: bytes) -> None:
        """Store ``frame`` for ``job_id`` (replacing any), expiring after the TTL; when
        ``status`` is final (:data:`~.record.FINAL`), wake whoever waits on the job."""

    @abc.abstractmethod
    def read(self, job_id: str) -> bytes | None:
        """The frame stored for ``job_id``, or None (never written, or expired)."""

    @abc.abstractmethod
    def wait_final(self, job_id: str, timeout: float | None) -> bytes | None:
        """Block until ``job_id`` has a final record (returned) or ``timeout`` runs out (None).

        Must not poll the server in a hot loop (LISTEN/NOTIFY, BLPOP, a condition
        variable, or at least a back-off).
        """

    def purge(self) -> int:
        """Delete expired records (the consumer calls this now and then). Returns how many."""
        return 0

    @abc.abstractmethod
    def delete(self, job_id: str) -> None:
        """Forget ``job_id``'s record."""

    # -- shared ---------------------------------------------------------------------
    def save(self, record: ResultRecord) -> None:
        """Write ``record``; a RUNNING one only once its job has run ``running_delay`` seconds."""
        if record.status == RUNNING and self.running_delay > 0:
            self._lazy.delay = self.running_delay
            self._lazy.defer(record)
            return
        self._lazy.cancel(record.job_id)
        self._write_record(record)

    def save_soon(self, record: ResultRecord) -> None:
        """Write the final ``record`` of a job its consumer is about to acknowledge: a store may
        send it with that acknowledgement (Redis), never after it. Default: :meth:`save`."""
        self.save(record)

    def _write_record(self, record: ResultRecord) -> None:
        self.write(record.job_id, record.status, record.seal())

    def load(self, job_id: str) -> ResultRecord | None:
        frame = self.read(job_id)
        return None if frame is None else ResultRecord.unseal(frame)

    def wait(self, job_id: str, timeout: float | None = None) -> ResultRecord | None:
        """The final record of ``job_id``, or None if ``timeout`` seconds pass first."""
        record = self.load(job_id)
        if record is not None and record.is_final:
            return record
        frame = self.wait_final(job_id, timeout)
        return None if frame is None else ResultRecord.unseal(frame)

    def mark_cancelled(self, job_id: str, *, name: str = "", queue: str = "") -> None:
        """Record that ``job_id`` was cancelled before it ran (the cancel front door calls this);
        waiters wake and ``get()`` raises :class:`~djworkers.exceptions.JobCancelled`."""
        self.save(ResultRecord(job_id, CANCELLED, name=name, queue=queue, finished_at=time.time()))

    def expires_at(self) -> float:
        return time.time() + self.ttl

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ttl={self.ttl:g}s>"


class PurgeTicker:
    """A worker ticker (``Worker(tickers=[...])``) that purges expired results every ``interval`` s."""

    def __init__(self, store: ResultStore, interval: float = 60.0):
        self.store = store
        self.interval = interval
        self._next = 0.0

    def __call__(self, now: float) -> None:
        if now < self._next:
            return
        self._next = now + self.interval
        purged = self.store.purge()
        if purged:
            import logging

            logging.getLogger("djworkers.results").info("Purged %d expired job result(s)", purged)
