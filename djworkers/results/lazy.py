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

import heapq
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("djworkers.results")


class LazyRunning:
    """Writes RUNNING records ``delay`` seconds after they were handed in, unless cancelled."""

    def __init__(self, write: Callable[[Any], None], delay: float):
        self._write = write
        self.delay = delay
        self._lock = threading.Condition()
        #: job id -> record, for records still waiting for their time
        self._pending: dict[str, Any] = {}
        #: (due, sequence, job id): the heap the thread sleeps on; cancelled entries stay until due
        self._due: list[tuple[float, int, str]] = []
        self._sequence = 0
        #: job ids whose RUNNING record is being written now (a final write waits for them)
        self._writing: set[str] = set()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def defer(self, record: Any) -> None:
        """Write ``record`` (a RUNNING one) in ``delay`` seconds, unless :meth:`cancel` comes first."""
        with self._lock:
            self._check_fork()
            self._pending[record.job_id] = record
            self._sequence += 1
            heapq.heappush(self._due, (time.monotonic() + self.delay, self._sequence, record.job_id))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="djworkers-lazy-running", daemon=True)
                self._thread.start()
            elif len(self._due) == 1:  # the thread sleeps without a deadline: wake it
                self._lock.notify_all()

    def cancel(self, job_id: str) -> None:
        """Drop ``job_id``'s waiting RUNNING record; if it is being written, return once it is written
        (the caller's final record then replaces it, never the other way round)."""
        if not self._pending and not self._writing:  # the common case: nothing deferred (no lock)
            return
        with self._lock:
            self._pending.pop(job_id, None)
            while job_id in self._writing:
                self._lock.wait()

    def _check_fork(self) -> None:
        if self._pid != os.getpid():  # a forked child: the parent's thread and records are not ours
            self._pid, self._thread = os.getpid(), None
            self._pending.clear()
            self._due.clear()
            self._writing.clear()

    def _loop(self) -> None:
        while True:
            with self._lock:
                while True:
                    now = time.monotonic()
                    while self._due and (self._due[0][0] <= now or self._due[0][2] not in self._pending):
                        job_id = heapq.heappop(self._due)[2]
                        record = self._pending.get(job_id)
                        if record is not None:
                            # into _writing before out of _pending: cancel() peeks at both without the lock
                            self._writing.add(job_id)
                            del self._pending[job_id]
                            break
                    else:
                        self._lock.wait(None if not self._due else self._due[0][0] - now)
                        continue
                    break
            try:
                self._write(record)
            except Exception:
                logger.exception("Could not store the RUNNING record of %s [%s]", record.name, record.job_id)
            finally:
                with self._lock:
                    self._writing.discard(record.job_id)
                    self._lock.notify_all()
