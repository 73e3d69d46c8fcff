"""How a worker waits out a source it cannot reach: capped exponential back-off, one log line per attempt.

Every job thread of a worker fetches on its own, so without coordination a
Redis outage would make each of them log a traceback every poll interval. One
:class:`Outage` per worker is shared by its threads instead: the first thread
that fails after the next attempt is due makes that attempt count (one log
line naming the error, which names the server and setting) and sets when the
next attempt is due; the other threads wait for that moment silently. The
traceback is logged with the first failure only, or with every attempt when
the logger is at DEBUG level.
"""

from __future__ import annotations

import logging
import threading
import time


class Outage:
    """Shared back-off state for one worker's fetches: ``initial`` seconds, doubling, up to ``maximum``."""

    def __init__(
        self,
        source_name: str,
        logger: logging.Logger,
        *,
        initial: float = 0.5,
        maximum: float = 30.0,
        clock=time.monotonic,
    ):
        if initial <= 0 or maximum < initial:
            raise ValueError("need 0 < initial <= maximum")
        self.source_name = source_name
        self.logger = logger
        self.initial, self.maximum = initial, maximum
        self.clock = clock
        self.attempts = 0
        #: When the outage began (monotonic), None while the source answers.
        self.since: float | None = None
        self._next_attempt = 0.0
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> float:
        """Record a failed fetch; returns how long the calling thread should wait before the next one."""
        with self._lock:
            now = self.clock()
            if self.since is not None and now < self._next_attempt:
                return self._next_attempt - now  # another thread logged this attempt already
            if self.since is None:
                self.since = now
            self.attempts += 1
            delay = min(self.maximum, self.initial * 2 ** (self.attempts - 1))
            self._next_attempt = now + delay
            attempts = self.attempts
        first = attempts == 1
        self.logger.warning(
            "Fetching from %s failed (attempt %d): %s; retrying in %.1fs",
            self.source_name,
            attempts,
            exc,
            delay,
            exc_info=exc if first or self.logger.isEnabledFor(logging.DEBUG) else None,
        )
        return delay

    def elapsed(self) -> float:
        """Seconds since the outage began (0 when there is none)."""
        since = self.since
        return 0.0 if since is None else self.clock() - since

    def recovered(self) -> None:
        """A fetch succeeded: log the end of an outage, if there was one, and reset."""
        if self.since is None:
            return
        with self._lock:
            if self.since is None:
                return
            attempts, seconds = self.attempts, self.clock() - self.since
            self.since, self.attempts, self._next_attempt = None, 0, 0.0
        self.logger.warning(
            "%s is reachable again after %d failed attempt(s) over %.1fs", self.source_name, attempts, seconds
        )
