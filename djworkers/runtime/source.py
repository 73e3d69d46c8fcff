"""What a transport hands a worker: :class:`Delivery` objects from a :class:`Source`.

A source moves opaque bytes; it never decodes them. The worker decodes, runs,
then tells the source what happened: :meth:`Source.ack` (done, forget it),
:meth:`Source.release` (not started, give it back now), or
:meth:`Source.retry` (ran and failed, deliver this new frame at ``eta``). A
delivery that is never acked (the worker was killed) comes back when its lease
expires: that is the at-least-once guarantee, and it lives in each source.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any


@dataclasses.dataclass
class Delivery:
    raw: bytes
    receipt: Any
    queue: str = ""
    #: How many times this frame was handed to a consumer, this delivery included, without
    #: being settled (a consumer that died mid-job does not settle). A retry starts again at 1.
    deliveries: int = 1


class Source(abc.ABC):
    #: The door whose messages this source delivers, recorded on failed jobs and
    #: sent with signals (replay sends a failed job back to that door).
    door: str = "source"
    #: The storage kind under the door (``"database"``, ``"redis"``, ...), recorded beside it.
    backend: str = ""
    #: True if deliveries are leased and need :meth:`extend` while their job runs.
    supports_lease: bool = False

    @property
    def label(self) -> str:
        """How logs name this source: the door and, where there is one, the backend (``queue (redis)``)."""
        return f"{self.door} ({self.backend})" if self.backend else self.door

    @abc.abstractmethod
    def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        """Up to ``limit`` due deliveries, waiting at most ``timeout`` seconds for the first.

        Returns ``[]`` when nothing arrived; never blocks past ``timeout`` (so
        shutdown is prompt) and never raises on an empty queue.
        """

    @abc.abstractmethod
    def ack(self, delivery: Delivery) -> None:
        """The job ran (successfully or failed for good): remove it for ever."""

    def ack_soon(self, delivery: Delivery) -> None:
        """Like :meth:`ack`, but the source may batch it with its next fetch.

        A worker thread that is about to fetch again calls this: a source with
        round trips to save (Redis) sends the acknowledgement with that fetch, or
        within milliseconds, and in any case from :meth:`close`. Until it is sent
        the job may run again after a crash (at-least-once), never be lost.
        """
        self.ack(delivery)

    @abc.abstractmethod
    def release(self, delivery: Delivery) -> None:
        """The job was not started: make it available to any worker at once."""

    @abc.abstractmethod
    def retry(self, delivery: Delivery, raw: bytes, eta: float) -> None:
        """Replace ``delivery`` with the frame ``raw``, due at unix time ``eta``.

        Must be atomic with respect to crashes as far as the transport allows:
        the job may run again, but must not be lost.
        """

    def reserve_connections(self, count: int) -> None:
        """The worker is about to use this source from ``count`` threads at once.

        A source with a bounded connection pool (Redis) makes room for them, or
        raises :class:`~djworkers.exceptions.DjworkersImproperlyConfigured` when
        a limit the user set is too small. Called before the worker's threads start.
        Optional: a source without a pool has nothing to reserve.
        """
        return None

    def extend(self, deliveries: list[Delivery]) -> None:
        """Renew the leases of running deliveries (called every heartbeat).

        Optional: a source without leases (or whose leases never expire) has nothing to renew."""
        return None

    def result_store(self) -> Any:
        """Where jobs run from this source keep their results (a
        :class:`~djworkers.results.ResultStore`), or None if this source has none."""
        return None

    def heartbeat(self) -> None:
        """Called every heartbeat interval by the worker's main thread (housekeeping).

        Optional: most sources have no housekeeping."""
        return None

    def close(self) -> None:
        """Release connections. The worker calls it once on exit.

        Optional: a source that holds no connection has nothing to release."""
        return None
