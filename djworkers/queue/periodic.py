"""Periodic jobs: ``@periodic_command(crontab(...))`` and the :class:`Scheduler` consumers run (Q8).

A periodic job is an ordinary queue job plus a schedule. Every consumer (unless
started with ``--no-periodic``) drives a :class:`Scheduler` from its loop; at
each minute tick the scheduler asks :func:`djworkers.runtime.coordination.claim_tick`
for each due job, and only the one process that wins the claim enqueues it.
So a job runs once per tick however many consumers run, and a consumer that
dies just stops claiming. The scheduler only enqueues; the job runs on
whichever consumer fetches it.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone

from ..messages import Message
from ..registry import Job, registry
from ..runtime.coordination import claim_tick, release_tick
from .api import QueueCommandFunction, _declare, default_queue, enqueue_message
from .crontab import crontab

logger = logging.getLogger("djworkers.queue.periodic")

Schedule = Callable[[datetime.datetime], bool]


@dataclasses.dataclass(frozen=True)
class PeriodicJob:
    name: str
    schedule: Schedule


_periodic: dict[str, PeriodicJob] = {}
_periodic_lock = threading.Lock()


def periodic_jobs() -> list[PeriodicJob]:
    """Periodic jobs declared so far whose job is still registered."""
    with _periodic_lock:
        return [p for p in _periodic.values() if p.name in registry]


def periodic_command(
    schedule: Schedule,
    *,
    name: str | None = None,
    queue: str | None = None,
    retries: int | None = None,
    retry_delay: float | None = None,
    retry_backoff: float | None = None,
) -> Callable[[Callable[..., Any]], QueueCommandFunction]:
    """Run the decorated function (no arguments) whenever ``schedule`` matches the minute.

    ``schedule`` is a :class:`crontab` (or any callable taking a datetime and
    returning a bool). The function is also an ordinary queue command: calling
    it enqueues it now.
    """
    if not callable(schedule):
        raise TypeError(f"@periodic_command needs a crontab(...) schedule, got {schedule!r}.")
    options = {"queue": queue, "retries": retries, "retry_delay": retry_delay, "retry_backoff": retry_backoff}

    def decorate(function: Callable[..., Any]) -> QueueCommandFunction:
        job = _declare(function, name, options)
        with _periodic_lock:
            _periodic[job.name] = PeriodicJob(job.name, schedule)
        return QueueCommandFunction(job)

    return decorate


def local_minute(now: float) -> datetime.datetime:
    """The wall-clock minute of unix time ``now`` in ``TIME_ZONE`` (crontabs are read there)."""
    if settings.USE_TZ:
        when = datetime.datetime.fromtimestamp(now, tz=datetime.UTC).astimezone(timezone.get_default_timezone())
    else:
        when = datetime.datetime.fromtimestamp(now)
    return when.replace(second=0, microsecond=0)


class Scheduler:
    """Enqueues due periodic jobs. Drive it with :meth:`tick` (the consumer loop does).

    ``tick(now)`` takes the time as an argument so tests can drive it. It acts
    at most once per minute; after a stall (a long GC pause, a suspended VM)
    it evaluates only the current minute: missed windows are skipped, not
    replayed in a burst.
    """

    def __init__(
        self,
        jobs: list[PeriodicJob] | None = None,
        *,
        enqueue: Callable[[Message], object] = enqueue_message,
        claim: Callable[[str, int], bool] = claim_tick,
        release: Callable[[str, int], None] = release_tick,
    ):
        self._jobs = jobs
        self.enqueue = enqueue
        self.claim = claim
        self.release = release
        self.last_minute: int | None = None

    @property
    def jobs(self) -> list[PeriodicJob]:
        return periodic_jobs() if self._jobs is None else self._jobs

    def tick(self, now: float) -> list[Message]:
        """Enqueue the jobs due in the minute of ``now`` that this process wins. Returns them."""
        minute = int(now // 60)
        if self.last_minute is not None and minute <= self.last_minute:
            return []
        if self.last_minute is not None and minute > self.last_minute + 1:
            logger.warning(
                "Scheduler stalled for %d minute(s); missed windows are skipped", minute - self.last_minute - 1
            )
        self.last_minute = minute
        when = local_minute(now)
        enqueued = []
        for periodic in self.jobs:
            try:
                if not periodic.schedule(when):
                    continue
                claim_name = f"queue.periodic:{periodic.name}"
                if not self.claim(claim_name, minute):
                    continue  # another consumer enqueued it for this minute
                try:
                    job: Job = registry.get(periodic.name)
                    message = Message(
                        name=job.name, queue=job.queue or default_queue(), options={"periodic_tick": minute}
                    )
                    self.enqueue(message)
                except Exception:
                    # Hand the minute back, or no consumer could enqueue it any more.
                    self.last_minute = minute - 1
                    self.release(claim_name, minute)
                    raise
                enqueued.append(message)
                logger.info("Enqueued periodic job %s for %s", message.describe(), when.isoformat())
            except Exception:
                logger.exception("Could not enqueue periodic job %s; continuing", periodic.name)
        return enqueued

    __call__ = tick


__all__ = ["PeriodicJob", "Scheduler", "crontab", "periodic_command", "periodic_jobs"]
