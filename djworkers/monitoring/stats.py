"""Jobs processed and failed per minute, counted without a write per job.

The receivers below listen to :data:`~djworkers.signals.job_succeeded` and
:data:`~djworkers.signals.job_failed` (whichever front door ran the job) and
add to an in-memory counter keyed by (minute, door, queue). A daemon
thread writes the counts to :class:`~djworkers.monitoring.models.JobStat` at most
every ``DJWORKERS["STATS"]["FLUSH_INTERVAL"]`` seconds, as one
``UPDATE ... SET processed = processed + n`` per row touched, so several worker
processes add up correctly. What is still in memory is flushed at exit.

Counting costs a dict update under a lock; a flush that fails (database away)
keeps the counts for the next try, so an outage loses nothing but the counts
of a process that dies before it can flush. These are monitoring figures, not
an audit trail.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.core import checks

from .. import conf, signals
from ..validation import is_positive

logger = logging.getLogger("djworkers.stats")

#: Pending minutes kept in memory while the database is unreachable.
MAX_PENDING_KEYS = 10_000
PRUNE_EVERY = 3600.0

Key = tuple[int, str, str]  # (unix minute, door, queue)


def _minute(now: float) -> int:
    return int(now // 60)


def minute_datetime(minute: int) -> dt.datetime:
    """The stored form of a unix minute: aware UTC, or naive UTC when USE_TZ is off."""
    from django.conf import settings

    value = dt.datetime.fromtimestamp(minute * 60, tz=dt.UTC)
    return value if settings.USE_TZ else value.replace(tzinfo=None)


class Counter:
    """Counts in memory; :meth:`flush` adds them to the database.

    Thread-safe. One instance per process (:data:`counter`); tests make their own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: dict[Key, list[int]] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._last_prune = 0.0

    # -- counting --------------------------------------------------------------
    def add(self, door: str, queue: str, *, processed: int = 0, failed: int = 0, now: float | None = None) -> None:
        # runs once per job: one tuple, one dict lookup under the lock, no list built in vain
        key = (int((time.time() if now is None else now) // 60), door or "", queue or "")
        with self._lock:
            counts = self._pending.get(key)
            if counts is None:
                self._pending[key] = [processed, failed]
            else:
                counts[0] += processed
                counts[1] += failed

    def pending(self) -> dict[Key, tuple[int, int]]:
        with self._lock:
            return {k: (v[0], v[1]) for k, v in self._pending.items()}

    def _take(self) -> dict[Key, list[int]]:
        with self._lock:
            batch, self._pending = self._pending, {}
        return batch

    def _give_back(self, batch: dict[Key, list[int]]) -> None:
        with self._lock:
            for key, (processed, failed) in batch.items():
                counts = self._pending.setdefault(key, [0, 0])
                counts[0] += processed
                counts[1] += failed
            if len(self._pending) > MAX_PENDING_KEYS:
                for key in sorted(self._pending)[: len(self._pending) - MAX_PENDING_KEYS]:
                    del self._pending[key]

    # -- writing ---------------------------------------------------------------
    def flush(self) -> int:
        """Write pending counts; returns the number of rows touched.

        On a database error the counts are kept for the next flush and the error
        is logged, never raised: an observer must not break a worker.
        """
        with self._flush_lock:
            batch = self._take()
            if not batch:
                return 0
            written = len(batch)
            try:
                for key, (processed, failed) in sorted(batch.items()):
                    _add_row(key, processed, failed)
                    # Written (each row is its own autocommit UPDATE/INSERT): not given back,
                    # or a flush failing half-way would count these rows twice.
                    del batch[key]
            except Exception:
                logger.warning("Could not write job statistics; keeping them for the next flush", exc_info=True)
                self._give_back(batch)
                return 0
            self._maybe_prune()
            return written

    def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY and self._last_prune:
            return
        self._last_prune = time.monotonic()
        try:
            prune()
        except Exception:
            logger.warning("Could not prune old job statistics", exc_info=True)

    # -- the background flusher ------------------------------------------------
    def ensure_flusher(self) -> None:
        """Start the daemon thread that flushes every FLUSH_INTERVAL seconds (once per process)."""
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._wake.clear()
            self._thread = threading.Thread(target=self._loop, name="djworkers-stats", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        from django.db import connection

        while True:
            interval = float(conf.section("STATS")["FLUSH_INTERVAL"])
            stop = self._wake.wait(interval)
            if self.pending():
                try:
                    self.flush()
                finally:
                    connection.close()  # this thread's own connection: never left open between flushes
            if stop:
                return

    def stop_flusher(self, timeout: float = 5.0) -> None:
        """Flush what is pending and stop the thread (at exit)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._wake.set()
            thread.join(timeout)
        self._thread = None

    def discard(self) -> None:
        """Stop the flusher and drop pending counts without writing them (between tests)."""
        with self._lock:
            self._pending = {}
        self.stop_flusher()
        with self._lock:
            self._pending = {}

    def _after_fork(self) -> None:
        # A forked child inherits the parent's counts (counted there already) and no thread.
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending = {}
        self._thread = None
        self._wake = threading.Event()


def _add_row(key: Key, processed: int, failed: int) -> None:
    from django.db import IntegrityError, transaction
    from django.db.models import F

    from .models import JobStat

    minute, door, queue = key
    lookup = {"minute": minute_datetime(minute), "door": door, "queue": queue}
    rows = JobStat.objects.filter(**lookup)
    if rows.update(processed=F("processed") + processed, failed=F("failed") + failed):
        return
    try:
        with transaction.atomic():
            JobStat.objects.create(processed=processed, failed=failed, **lookup)
    except IntegrityError:  # another process created it between our UPDATE and INSERT
        rows.update(processed=F("processed") + processed, failed=F("failed") + failed)


def prune(now: float | None = None) -> int:
    """Delete rows older than ``RETENTION_HOURS``; returns how many."""
    from .models import JobStat

    hours = float(conf.section("STATS")["RETENTION_HOURS"])
    cutoff = minute_datetime(_minute((time.time() if now is None else now) - hours * 3600))
    deleted, _ = JobStat.objects.filter(minute__lt=cutoff).delete()
    return deleted


counter = Counter()
os.register_at_fork(after_in_child=lambda: counter._after_fork())


def _at_exit() -> None:
    counter.stop_flusher()
    if counter.pending():
        counter.flush()


atexit.register(_at_exit)


def _enabled() -> bool:
    return bool(conf.section("STATS")["ENABLED"])


def _queue_of(message: Any) -> str:
    return getattr(message, "queue", "") or ""


def _on_succeeded(sender: str, message: Any = None, **kwargs: Any) -> None:
    if _enabled():
        counter.add(str(sender), _queue_of(message), processed=1)
        counter.ensure_flusher()


def _on_failed(sender: str, message: Any = None, **kwargs: Any) -> None:
    if _enabled():
        counter.add(str(sender), _queue_of(message), failed=1)
        counter.ensure_flusher()


signals.job_succeeded.connect(_on_succeeded, dispatch_uid="djworkers.stats.succeeded")
signals.job_failed.connect(_on_failed, dispatch_uid="djworkers.stats.failed")


# -- reading ---------------------------------------------------------------------
def per_minute(minutes: int = 60, *, now: float | None = None, door: str | None = None) -> list[dict[str, Any]]:
    """``[{"minute": datetime, "processed": n, "failed": n}, ...]``, oldest first.

    One entry per minute of the last ``minutes`` minutes (the current one
    included), zeros where nothing ran, summed over doors and queues
    unless ``door`` is given.
    """
    from django.db.models import Sum

    from .models import JobStat

    last = _minute(time.time() if now is None else now)
    first = last - minutes + 1
    rows = JobStat.objects.filter(minute__gte=minute_datetime(first), minute__lte=minute_datetime(last))
    if door is not None:
        rows = rows.filter(door=door)
    totals = {row["minute"]: row for row in rows.values("minute").annotate(p=Sum("processed"), f=Sum("failed"))}
    series = []
    for minute in range(first, last + 1):
        stamp = minute_datetime(minute)
        row = totals.get(stamp)
        series.append(
            {
                "minute": stamp,
                "processed": int(row["p"]) if row else 0,
                "failed": int(row["f"]) if row else 0,
            }
        )
    return series


def check() -> Iterator[checks.CheckMessage]:
    """System checks for ``DJWORKERS["STATS"]`` (ids djworkers.E301-E302)."""
    section = conf.section("STATS")
    if not isinstance(section.get("ENABLED"), bool):
        yield checks.Error(
            f'DJWORKERS["STATS"]["ENABLED"] must be True or False, got {section.get("ENABLED")!r}.',
            id="djworkers.E301",
        )
    for key in ("FLUSH_INTERVAL", "RETENTION_HOURS"):
        value = section.get(key)
        if not is_positive(value):
            yield checks.Error(
                f'DJWORKERS["STATS"]["{key}"] must be a positive number, got {value!r}.',
                id="djworkers.E302",
            )
