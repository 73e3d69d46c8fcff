"""The queue backend contract. Backends move opaque bytes; they never decode them.

A backend instance is bound to one connection and serves one or more named
queues. It is also the worker's :class:`~djworkers.runtime.source.Source`:
``fetch`` leases deliveries, ``ack``/``release``/``retry``/``extend`` settle
them. A delivery that is never settled (its consumer was killed) becomes
available again when its lease expires: that is where at-least-once lives.

The old djutils.queue API (``write``, ``read``, ``flush``, ``len()``) is kept on
top: ``read()`` is ``fetch`` + ``ack`` in one step (at-most-once, for scripts).

Subclasses implement the ``_``-less abstract methods below; everything else
is shared here.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from ...runtime.source import Delivery, Source


@dataclasses.dataclass(frozen=True)
class TrackedFrame:
    """A frame written with its job id (Q14), so it can be cancelled or deduplicated.

    ``unique_key``: while a job with the same key is still queued (not started), writing
    this one writes nothing and the earlier job's id is returned instead. The backend
    never decodes the frame: the id and key travel beside it.
    """

    frame: bytes
    job_id: str
    unique_key: str | None = None


class QueueBackend(Source):
    door = "queue"
    #: fetch() waits on the server (BLMOVE, LISTEN) rather than polling.
    blocking = False
    #: write(..., eta=) is supported (delayed jobs, retries with delay).
    supports_delay = True
    #: deliveries carry a lease that expires if the consumer dies.
    supports_lease = True
    #: What ``QUEUE["ENQUEUE_ON_COMMIT"] = None`` (the default) means for this backend:
    #: write at the commit of the caller's transaction (True) or at once (False) (Q15).
    on_commit_default = False

    def __init__(
        self,
        queues: Sequence[str] = ("default",),
        connection: Any = None,
        *,
        lease_seconds: float = 30,
    ):
        if isinstance(queues, str):
            queues = [queues]
        if not queues:
            raise ValueError("a backend needs at least one queue name")
        self.queues = list(queues)
        self.connection = connection
        self.lease_seconds = lease_seconds

    @classmethod
    def from_settings(cls, queues: Sequence[str], settings: dict[str, Any]) -> QueueBackend:
        """Build from the ``DJWORKERS["QUEUE"]`` section (``get_backend`` calls this).

        Override to read backend-specific keys; the default passes
        ``CONNECTION`` and ``LEASE_SECONDS``.
        """
        return cls(queues, settings.get("CONNECTION"), lease_seconds=settings.get("LEASE_SECONDS", 30))

    # -- what each backend implements ----------------------------------------
    @abc.abstractmethod
    def write(self, frame: bytes, *, queue: str | None = None, eta: float | None = None, priority: int = 0) -> None:
        """Append one frame to ``queue`` (default: the first queue), due at ``eta``."""

    def write_many(
        self, frames: Iterable[bytes], *, queue: str | None = None, eta: float | None = None, priority: int = 0
    ) -> None:
        """Append several frames (all due at ``eta``, at ``priority``); backends override
        to batch them (pipeline, bulk insert)."""
        for frame in frames:
            self.write(frame, queue=queue, eta=eta, priority=priority)

    # -- jobs by id (Q14: cancel, unique jobs); backends override --------------------
    #: write_jobs() records job ids, so cancel() and unique keys work.
    supports_cancel = False

    def write_jobs(
        self, jobs: Sequence[TrackedFrame], *, queue: str | None = None, eta: float | None = None, priority: int = 0
    ) -> list[str]:
        """Write ``jobs`` (all due at ``eta``, at ``priority``), in as few round trips as the
        backend allows; return, per job, the id of the job now queued for it: its own, or,
        for a ``unique_key`` already queued, the earlier job's.

        The default (a backend that does not track ids) writes the frames with
        :meth:`write_many`; such a backend cannot cancel, and refuses unique keys.
        """
        if any(job.unique_key is not None for job in jobs):
            raise NotImplementedError(
                f"{type(self).__name__} does not support unique jobs (@queue_command(unique=...)); "
                "use the database, redis or memory backend."
            )
        self.write_many([job.frame for job in jobs], queue=queue, eta=eta, priority=priority)
        return [job.job_id for job in jobs]

    def cancel(self, job_id: str, *, queue: str | None = None) -> bool:
        """Remove the job ``job_id`` if it has not started (queued or delayed) and return
        True; return False (changing nothing) if it is running, finished, retrying or
        unknown. ``queue``: where to look (default: every queue of this backend)."""
        raise NotImplementedError(f"{type(self).__name__} cannot cancel jobs.")

    @abc.abstractmethod
    def flush(self, queue: str | None = None) -> None:
        """Delete every job of ``queue`` (default: all of this backend's queues)."""

    @abc.abstractmethod
    def stats(self, queue: str | None = None) -> dict[str, int]:
        """``{"ready": n, "scheduled": n, "in_flight": n}`` for ``queue`` (default: all)."""

    # -- results (Q12) ------------------------------------------------------------
    def result_store(self) -> Any:
        """This backend's result store, built once (``QUEUE["RESULT_TTL"]`` read then)."""
        store = self.__dict__.get("_result_store")
        if store is None:
            from ... import conf

            store = self._result_store = self.build_result_store(float(conf.section("QUEUE")["RESULT_TTL"]))
        return store

    def build_result_store(self, ttl: float) -> Any:
        """A new :class:`~djworkers.results.ResultStore` on this backend's own storage."""
        from ...exceptions import DjworkersImproperlyConfigured

        raise DjworkersImproperlyConfigured(
            f"The queue backend {type(self).__name__} has no result store: jobs with result=True "
            f'(or DJWORKERS["QUEUE"]["RESULTS"]) need a backend that implements build_result_store().'
        )

    # -- the old djutils API, shared -------------------------------------------
    def read(self) -> bytes | None:
        """Take the next due frame, or None when the queue is empty (never raises on empty)."""
        deliveries = self.fetch(1, 0)
        if not deliveries:
            return None
        self.ack(deliveries[0])
        return deliveries[0].raw

    def __len__(self) -> int:
        """Jobs waiting (ready and scheduled), not counting those being run."""
        stats = self.stats()
        return stats["ready"] + stats["scheduled"]

    def default_queue(self, queue: str | None) -> str:
        return queue if queue is not None else self.queues[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} queues={self.queues}>"


__all__ = ["Delivery", "QueueBackend", "TrackedFrame"]
