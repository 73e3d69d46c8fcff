"""The worker: job threads that fetch and run deliveries from a :class:`Source`.

Each of the ``threads`` job threads fetches its own batch (``prefetch`` split
between the threads), runs it job by job and settles each delivery. No job is
handed from one thread to another: that handoff (a lock, a queue and two GIL
switches per job) used to cost more than running a small job. The main thread
never runs jobs; it runs the periodic tickers, renews leases (heartbeat) and
watches for signals, so a long job never delays a shutdown request or a lease
renewal. Process models (several of these in child processes) live in
:mod:`.supervisor`.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable

from .. import conf
from ..exceptions import BackendUnavailable, InvalidMessage
from ..messages import decode, encode
from .connections import close_stale_connections
from .executor import Executor, Outcome
from .failures import quarantine
from .outage import Outage
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
    """Runs deliveries from ``source`` in ``threads`` threads until stopped.

    ``prefetch`` is how many deliveries the worker holds at most (default: one
    per thread); each thread fetches ``prefetch // threads`` at a time, so one
    round trip serves several jobs. Deliveries fetched but not started are
    handed back on a graceful stop.
    """

    #: Seconds between two runs of the tickers (periodic scheduling).
    TICK_INTERVAL = 1.0
    #: How often the main thread looks at its threads and at signals.
    WATCH_INTERVAL = 0.1

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
        outage_max_delay: float | None = None,
        burst_outage_timeout: float | None = None,
    ):
        if threads < 1:
            raise ValueError("threads must be >= 1")
        worker_settings = conf.section("WORKER")
        self.source = source
        self.executor = executor or Executor(source.name)
        self.threads = threads
        self.prefetch = max(threads, prefetch or threads)
        self.batch_size = max(1, self.prefetch // threads)
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
        #: Fetch failures (a server down): shared back-off and logging for every job thread.
        self.outage = Outage(source.name, logger, maximum=(
            worker_settings["OUTAGE_MAX_DELAY"] if outage_max_delay is None else outage_max_delay))
        #: ``burst``: how long the source may stay unreachable before the worker gives up (exit 1).
        self.burst_outage_timeout = (
            worker_settings["BURST_OUTAGE_TIMEOUT"] if burst_outage_timeout is None else burst_outage_timeout
        )
        self._gave_up = False
        #: Deliveries fetched and not settled yet (leases to renew), and those running now.
        self.held: dict[int, Delivery] = {}
        self.running: dict[int, Delivery] = {}
        self.counts = collections.Counter()
        self._lock = threading.Lock()
        self._job_threads: list[threading.Thread] = []
        self._last_heartbeat = time.monotonic()
        self._last_tick = float("-inf")

    # -- the main thread ---------------------------------------------------------
    def run(self) -> int:
        """Run until shutdown (or, in burst mode, until the queue is drained). Returns an exit code."""
        self.shutdown.install()
        logger.info("Worker started: %s, %d thread(s)", self.source.name, self.threads)
        try:
            # job threads, the heartbeat (this thread) and a source's own helper (Redis ack flusher)
            self.source.reserve_connections(self.threads + 2)
            self._job_threads = [
                threading.Thread(target=self._job_thread, name=f"djworkers-job-{n}", daemon=True)
                for n in range(self.threads)
            ]
            for thread in self._job_threads:
                thread.start()
            while not self.shutdown.requested:
                self.tick()
                if not any(thread.is_alive() for thread in self._job_threads):
                    break  # burst mode: every thread found the queue empty
                self.shutdown.wait(self.WATCH_INTERVAL)
            if not self.burst and not self.shutdown.requested:
                # Every job thread died (an error escaped _process): exiting 0 would look like
                # a finished --burst run, and a Supervisor would not restart this process.
                logger.error("Every job thread of %s stopped unexpectedly; exiting", self.source.name)
                with self._lock:
                    held = list(self.held.values())
                self._hand_back(held)
                self._stop()
                return 1
            code = self._stop()
            return 1 if self._gave_up else code
        finally:
            self.shutdown.uninstall()

    def tick(self, now: float | None = None) -> None:
        """The main thread's periodic work: tickers (at most once a second) and the heartbeat.

        ``now`` (unix time) may be given by tests driving the loop.
        """
        now = time.time() if now is None else now
        if now - self._last_tick >= self.TICK_INTERVAL:
            self._last_tick = now
            for ticker in self.tickers:
                try:
                    ticker(now)
                except Exception:
                    logger.exception("Periodic ticker %r raised; continuing", ticker)
        self._maybe_heartbeat()

    # -- a job thread ---------------------------------------------------------------
    def _job_thread(self) -> None:
        poll = PollBackoff(self.poll.initial, self.poll.backoff, self.poll.maximum)
        while not self.shutdown.requested:
            try:
                deliveries = self.source.fetch(self.batch_size, self.fetch_timeout)
            except Exception as exc:
                delay = self.outage.failed(exc)
                if self.burst:
                    left = self.burst_outage_timeout - self.outage.elapsed()
                    if left <= 0:
                        self._give_up()
                        return
                    delay = min(delay, left)
                self.shutdown.wait(delay)
                continue
            self.outage.recovered()
            if not deliveries:
                if self.burst:
                    return
                if not getattr(self.source, "blocking", False):
                    self.shutdown.wait(poll.next())
                continue
            poll.reset()
            self._run_batch(deliveries)

    def _give_up(self) -> None:
        """``--burst`` and the source stayed unreachable: stop with exit code 1 (logged once)."""
        with self._lock:
            first, self._gave_up = not self._gave_up, True
        if first:
            logger.error(
                "Giving up: %s has been unreachable for %.0fs (--burst waits at most "
                "DJWORKERS[\"WORKER\"][\"BURST_OUTAGE_TIMEOUT\"] = %s s)",
                self.source.name, self.outage.elapsed(), self.burst_outage_timeout,
            )

    def _run_batch(self, deliveries: list[Delivery]) -> None:
        with self._lock:
            for delivery in deliveries:
                self.held[id(delivery)] = delivery
        for index, delivery in enumerate(deliveries):
            if self.shutdown.requested:
                self._hand_back(deliveries[index:])
                return
            with self._lock:
                self.running[id(delivery)] = delivery
            try:
                self._process(delivery)
            finally:
                with self._lock:
                    self.running.pop(id(delivery), None)
                    self.held.pop(id(delivery), None)

    def _process(self, delivery: Delivery) -> None:
        """Decode, run and settle one delivery. Never raises: the thread goes on."""
        try:
            try:
                message = decode(delivery.raw)
            except InvalidMessage as exc:
                quarantine(exc, transport=self.source.name, queue=delivery.queue)
                self.source.ack_soon(delivery)
                self._count("quarantined")
                return
            result = self.executor.run(message, raw=delivery.raw)
            if result.outcome is Outcome.RETRY:
                self.source.retry(delivery, encode(result.retry_message), result.eta)
            else:
                self.source.ack_soon(delivery)
            self._count(result.outcome.value)
        except Exception:
            logger.exception(
                "Worker error around a delivery from %s; it will be delivered again", self.source.name
            )
            self._count("errors")
        finally:
            close_stale_connections()

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
                held = list(self.held.values())
            if held and self.source.supports_lease:
                self.source.extend(held)
            self.source.heartbeat()
        except BackendUnavailable as exc:
            if self.outage.since is not None:  # the fetch threads are logging this outage already
                logger.debug("Heartbeat of %s failed: %s", self.source.name, exc, exc_info=True)
            else:
                logger.warning("Heartbeat of %s failed: %s", self.source.name, exc,
                               exc_info=logger.isEnabledFor(logging.DEBUG))
        except Exception:
            logger.exception("Heartbeat of %s failed", self.source.name)

    def _hand_back(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            with self._lock:
                self.held.pop(id(delivery), None)
            try:
                self.source.release(delivery)
            except Exception:
                logger.exception("Could not hand a delivery back; its lease will expire")

    def _stop(self) -> int:
        """Let running jobs finish (up to the timeout); unstarted ones are handed back by their threads."""
        deadline = time.monotonic() + self.shutdown_timeout
        while any(thread.is_alive() for thread in self._job_threads):
            if self.shutdown.forced or time.monotonic() >= deadline:
                with self._lock:
                    held = list(self.held.values())
                    running = len(self.running)
                why = "second signal" if self.shutdown.forced else "shutdown timeout"
                logger.warning("Stopping with %d job(s) running (%s); handing them back", running, why)
                self._hand_back(held)
                return self._exit_now(1)
            self._maybe_heartbeat()
            for thread in self._job_threads:
                thread.join(self.WATCH_INTERVAL / len(self._job_threads))
        self.source.close()
        logger.info("Worker stopped: %s", dict(self.counts))
        return 0

    def _exit_now(self, code: int) -> int:
        self.source.close()
        if not self.exit_on_force:
            return code
        for handler in logging.getLogger("djworkers").handlers:
            handler.flush()
        os._exit(code)
