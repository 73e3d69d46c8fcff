"""The worker loop: fetch deliveries from a :class:`Source`, run them in a thread pool.

The main thread only fetches, dispatches, heartbeats and watches for signals;
jobs always run in pool threads, so a long job never delays a shutdown
request or a lease renewal. Process models (several of these in child
processes) live in :mod:`.supervisor`.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .. import conf
from ..exceptions import InvalidMessage
from ..messages import decode, encode
from .connections import close_stale_connections
from .executor import Executor, Outcome
from .failures import quarantine
from .shutdown import Shutdown
from .source import Delivery, Source

logger = logging.getLogger("djworkers.worker")

Ticker = Callable[[float], None]


class PollBackoff:
    """Sleep between empty polls of a non-blocking source: ``delay``, times ``backoff``, up to ``maximum``."""

    def __init__(self, delay: float = 0.1, backoff: float = 1.15, maximum: float = 10.0):
        if backoff < 1:
            raise ValueError("backoff must be >= 1")
        self.initial, self.backoff, self.maximum = delay, backoff, maximum
        self.current = delay

    def reset(self) -> None:
        self.current = self.initial

    def next(self) -> float:
        value = self.current
        self.current = min(self.maximum, self.current * self.backoff)
        return value


class Worker:
    def __init__(
        self,
        source: Source,
        executor: Executor | None = None,
        *,
        threads: int = 1,
        prefetch: int | None = None,
        burst: bool = False,
        fetch_timeout: float = 1.0,
        poll: PollBackoff | None = None,
        tickers: list[Ticker] | None = None,
        shutdown: Shutdown | None = None,
        shutdown_timeout: float | None = None,
        heartbeat_interval: float | None = None,
        exit_on_force: bool = True,
    ):
        if threads < 1:
            raise ValueError("threads must be >= 1")
        worker_settings = conf.section("WORKER")
        self.source = source
        self.executor = executor or Executor(source.name)
        self.threads = threads
        self.prefetch = max(threads, prefetch or threads)
        self.burst = burst
        self.fetch_timeout = fetch_timeout
        self.poll = poll or PollBackoff()
        self.tickers = list(tickers or [])
        self.shutdown = shutdown or Shutdown()
        self.shutdown_timeout = (
            worker_settings["SHUTDOWN_TIMEOUT"] if shutdown_timeout is None else shutdown_timeout
        )
        self.heartbeat_interval = (
            worker_settings["HEARTBEAT_INTERVAL"] if heartbeat_interval is None else heartbeat_interval
        )
        self.exit_on_force = exit_on_force
        self.buffer: collections.deque[Delivery] = collections.deque()
        self.running: dict[int, Delivery] = {}
        self.counts = collections.Counter()
        self._lock = threading.Lock()
        self._slot_free = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="djworkers-job")
        self._last_heartbeat = time.monotonic()

    # -- the loop -------------------------------------------------------------
    def run(self) -> int:
        """Run until shutdown (or the queue is drained in burst mode). Returns an exit code."""
        self.shutdown.install()
        logger.info("Worker started: %s, %d thread(s)", self.source.name, self.threads)
        try:
            while not self.shutdown.requested:
                if self.loop_once() and self.burst:
                    break
            return self._stop()
        finally:
            self.shutdown.uninstall()

    def loop_once(self, now: float | None = None) -> bool:
        """One pass: tickers, heartbeat, fetch, dispatch. Returns True when idle and drained."""
        now = time.time() if now is None else now
        for ticker in self.tickers:
            try:
                ticker(now)
            except Exception:
                logger.exception("Periodic ticker %r raised; continuing", ticker)
        self._maybe_heartbeat()
        self._dispatch()
        # Refill in batches: fetch again only once the prefetched buffer is used up. Topping
        # it up one job at a time would cost a round trip per job (making prefetch
        # pointless), and a blocking fetch would hold buffered jobs back while threads idle.
        wanted = 0 if self.buffer else self.prefetch - self._in_hand()
        if wanted <= 0:
            self._slot_free.wait(0.05)
            self._slot_free.clear()
            return False
        try:
            deliveries = self.source.fetch(wanted, self.fetch_timeout)
        except Exception:
            delay = self.poll.next()
            logger.exception("Fetching from %s failed; retrying in %.1fs", self.source.name, delay)
            self.shutdown.wait(delay)
            return False
        if deliveries:
            self.poll.reset()
            self.buffer.extend(deliveries)
            self._dispatch()
            return False
        if self._in_hand() == 0 and self.burst:
            return True
        if not getattr(self.source, "blocking", False):
            self.shutdown.wait(self.poll.next())
        return False

    def _in_hand(self) -> int:
        with self._lock:
            return len(self.buffer) + len(self.running)

    def _dispatch(self) -> None:
        while self.buffer and not self.shutdown.requested:
            with self._lock:
                if len(self.running) >= self.threads:
                    return
                delivery = self.buffer.popleft()
                self.running[id(delivery)] = delivery
            self._pool.submit(self._process, delivery)

    # -- one delivery, in a pool thread ------------------------------------------
    def _process(self, delivery: Delivery) -> None:
        try:
            try:
                message = decode(delivery.raw)
            except InvalidMessage as exc:
                quarantine(exc, transport=self.source.name, queue=delivery.queue)
                self.source.ack(delivery)
                self._count("quarantined")
                return
            result = self.executor.run(message, raw=delivery.raw)
            if result.outcome is Outcome.RETRY:
                self.source.retry(delivery, encode(result.retry_message), result.eta)
            else:
                self.source.ack(delivery)
            self._count(result.outcome.value)
        except Exception:
            logger.exception(
                "Worker error around a delivery from %s; it will be delivered again", self.source.name
            )
            self._count("errors")
        finally:
            close_stale_connections()
            with self._lock:
                self.running.pop(id(delivery), None)
            self._slot_free.set()

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    # -- heartbeat and shutdown -------------------------------------------------
    def _maybe_heartbeat(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_heartbeat < self.heartbeat_interval:
            return
        self._last_heartbeat = time.monotonic()
        try:
            with self._lock:
                running = list(self.running.values()) + list(self.buffer)
            if running and self.source.supports_lease:
                self.source.extend(running)
            self.source.heartbeat()
        except Exception:
            logger.exception("Heartbeat of %s failed", self.source.name)

    def _release_buffer(self) -> None:
        while self.buffer:
            delivery = self.buffer.popleft()
            try:
                self.source.release(delivery)
            except Exception:
                logger.exception("Could not hand a delivery back; its lease will expire")

    def _stop(self) -> int:
        self._release_buffer()
        deadline = time.monotonic() + self.shutdown_timeout
        while True:
            with self._lock:
                running = list(self.running.values())
            if not running:
                break
            if self.shutdown.forced or time.monotonic() >= deadline:
                why = "second signal" if self.shutdown.forced else "shutdown timeout"
                logger.warning("Stopping with %d job(s) running (%s); handing them back", len(running), why)
                for delivery in running:
                    try:
                        self.source.release(delivery)
                    except Exception:
                        logger.exception("Could not hand a running job back; its lease will expire")
                return self._exit_now(1)
            self._maybe_heartbeat()
            self._slot_free.wait(0.1)
            self._slot_free.clear()
        self._pool.shutdown(wait=True)
        self.source.close()
        logger.info("Worker stopped: %s", dict(self.counts))
        return 0

    def _exit_now(self, code: int) -> int:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.source.close()
        if not self.exit_on_force:
            return code
        for handler in logging.getLogger("djworkers").handlers:
            handler.flush()
        os._exit(code)
