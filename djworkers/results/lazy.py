"""RUNNING records written late, and only for jobs still running then (Q12, T1).

Most jobs end within milliseconds: their RUNNING record would be replaced by the
final one before anybody could read it, yet it costs a round trip to the store
(a Redis SET, a database UPSERT) and a seal, as much as the job itself for a
short job (django.tasks drained at ~0.5x the queue door's rate because of it).
So :meth:`ResultStore.save <.base.ResultStore.save>` hands a RUNNING record to
a :class:`LazyRunning` of the store, whose thread writes it once the job has
run for :attr:`~.base.ResultStore.running_delay` seconds; a final or retrying
record of the job written before that cancels it.

What readers see: a job in its first ``running_delay`` seconds still reads as
queued (READY for django.tasks); one past it reads as running, as before. The
final write never races the late one: it waits for a RUNNING write under way
to finish, so a RUNNING record never replaces a final one. A consumer killed
before the delay leaves the record queued; its lease runs out and the job is
delivered again (at-least-once), as it would be with a RUNNING record.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("djworkers.results")


class LazyRunning:
    """Writes RUNNING records ``delay`` seconds after they were handed in, unless cancelled.

    Built for the common case, a record handed in and cancelled within the delay, which costs
    two dict operations and no lock: ``_pending`` keeps records in the order they were handed
    in, which is the order they fall due (the delay is the same for all), so the thread only
    ever looks at the first one and sleeps until it is due. A record is taken for writing by
    whichever of :meth:`cancel` and the thread pops it from ``_pending`` first (a dict pop is
    atomic), so it is written at most once, and never after its cancel returned.
    """

    def __init__(self, write: Callable[[Any], None], delay: float):
        self._write = write
        self.delay = delay
        #: wakes the thread when it sleeps with nothing pending; guards starting it
        self._lock = threading.Condition()
        #: job id -> (due, record), for records still waiting for their time, in due order
        self._pending: dict[str, tuple[float, Any]] = {}
        #: job ids whose RUNNING record is being written now (a final write waits for them)
        self._writing: set[str] = set()
        #: True while the thread waits for a first record (a defer must wake it)
        self._idle = False
        self._thread: threading.Thread | None = None
        _instances.add(self)

    def defer(self, record: Any) -> None:
        """Write ``record`` (a RUNNING one) in ``delay`` seconds, unless :meth:`cancel` comes first."""
        self._pending[record.job_id] = (time.monotonic() + self.delay, record)
        if self._idle or self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="djworkers-lazy-running", daemon=True)
                    self._thread.start()
                self._lock.notify_all()

    def cancel(self, job_id: str) -> None:
        """Drop ``job_id``'s waiting RUNNING record; if it is being written, return once it is written
        (the caller's final record then replaces it, never the other way round)."""
        if self._pending.pop(job_id, None) is not None or job_id not in self._writing:
            return
        with self._lock:
            while job_id in self._writing:
                self._lock.wait()

    def _forked(self) -> None:
        """In a forked child: the parent's thread and records are not ours, and its lock may have
        been held by a thread that does not exist here (so a new one, not ``with self._lock``)."""
        self._lock = threading.Condition()
        self._pending, self._writing = {}, set()
        self._thread, self._idle = None, False

    def _next_due(self) -> tuple[str, float, Any] | None:
        """The first pending record as ``(job id, due, record)``, or None (nothing pending)."""
        while True:
            try:
                job_id, (due, record) = next(iter(self._pending.items()))
            except StopIteration:
                return None
            except RuntimeError:  # another thread changed the dict as we looked: look again
                continue
            return job_id, due, record

    def _loop(self) -> None:
        while True:
            head = self._next_due()
            if head is None:
                with self._lock:
                    self._idle = True  # before looking: a defer from now on wakes us
                    while not self._pending:
                        self._lock.wait()
                    self._idle = False
                continue
            job_id, due, record = head
            wait = due - time.monotonic()
            if wait > 0:
                # records handed in meanwhile fall due later; one cancelled meanwhile is skipped
                time.sleep(wait)
                continue
            self._writing.add(job_id)  # before the pop: cancel() checks _writing after its own pop
            if self._pending.pop(job_id, None) is None:  # cancelled first
                self._writing.discard(job_id)
                continue
            try:
                self._write(record)
            except Exception:
                logger.exception("Could not store the RUNNING record of %s [%s]", record.name, record.job_id)
            finally:
                with self._lock:
                    self._writing.discard(record.job_id)
                    self._lock.notify_all()


#: Every LazyRunning of this process, reset in a forked child by the handler below (no pid check
#: in :meth:`LazyRunning.defer`, which runs for every job that stores its result).
_instances: weakref.WeakSet[LazyRunning] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for lazy in list(_instances):
        lazy._forked()


os.register_at_fork(after_in_child=_reset_after_fork)
