"""The worker: job threads that fetch and run deliveries from a :class:`Source`.

Each of the ``threads`` job threads fetches its own batch (``prefetch`` split
between the threads), runs it job by job and settles each delivery. No job is
handed from one thread to another: that handoff (a lock, a queue and two GIL
switches per job) used to cost more than running a small job. The main thread
never runs jobs; it runs the periodic tickers, renews leases (heartbeat) and
watches for signals, so a long job never delays a shutdown request or a lease
renewal. Process models (several of these in child processes) live in
:mod:`.supervisor`.

Time limits (Q13): a job with a ``timeout`` (or ``QUEUE["TIMEOUT"]``) is
watched by the main thread. Past its limit the main thread stops renewing its
lease and settles the delivery itself as "timed out" (retried if the job has
retries left, else recorded as failed), hands back the rest of that thread's
batch, and starts a new job thread: the consumer keeps serving. Python cannot
stop a thread from outside, so the stuck thread is abandoned: it runs on as a
zombie, and whatever its job does afterwards is not settled (its result is
dropped). With ``exit_on_timeout`` (``queue_consumer --processes``) the worker
then stops gracefully and exits 1, so its supervisor replaces the whole process
and the zombie thread dies with it.

Poison (Q16): a delivery handed out more than ``QUEUE["MAX_DELIVERIES"]``
times without being settled (its consumer died each time: segfault,
``os._exit``, out of memory) is not run again: it goes to the failed-job store
with the count in its reason.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from .. import conf
from ..exceptions import BackendUnavailable, DjworkersImproperlyConfigured, InvalidMessage, JobNotRegistered, JobTimeout
from ..messages import decode, encode
from .connections import close_stale_connections
from .executor import Executor, Outcome, job_timeout
from .failures import quarantine
from .outage import Outage
from .shutdown import Shutdown
from .source import Delivery, Source

logger = logging.getLogger("djworkers.worker")

#: Called with the time on the main thread; what it returns (the scheduler's enqueued messages) is ignored.
Ticker = Callable[[float], object]


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


@dataclasses.dataclass
class _Watch:
    """A running job with a time limit, watched by the main thread."""

    delivery: Delivery
    message: Any
    thread: threading.Thread
    limit: float
    deadline: float
    timed_out: bool = False


def _stack_of(thread: threading.Thread, exc: BaseException) -> str:
    """Where the stuck job is now: its thread's stack, for the failed-job store."""
    frame = sys._current_frames().get(thread.ident or -1)
    stack = "".join(traceback.format_stack(frame)) if frame is not None else "  (thread already gone)\n"
    return f"Stack of the job's thread when it timed out:\n{stack}{type(exc).__name__}: {exc}\n"


def _result_store_of(source: Source) -> Any:
    try:
        return source.result_store()
    except DjworkersImproperlyConfigured:
        return None  # a custom backend without results: only jobs asking for one complain


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
        max_deliveries: int | None = None,
        exit_on_timeout: bool = False,
        outage_max_delay: float | None = None,
        burst_outage_timeout: float | None = None,
    ):
        if threads < 1:
            raise ValueError("threads must be >= 1")
        worker_settings = conf.section("WORKER")
        queue_settings = conf.section("QUEUE")
        self.source = source
        self.executor = executor or Executor(
            source.door,
            source.backend,
            results=_result_store_of(source),
            default_timeout=queue_settings["TIMEOUT"],
        )
        #: Deliveries of one frame (unsettled) after which it is poison (Q16).
        self.max_deliveries = queue_settings["MAX_DELIVERIES"] if max_deliveries is None else max_deliveries
        #: Exit (code 1) after a job timed out, for a supervisor to replace this process (Q13).
        self.exit_on_timeout = exit_on_timeout
        self.threads = threads
        self.prefetch = max(threads, prefetch or threads)
        self.batch_size = max(1, self.prefetch // threads)
        self.burst = burst
        self.fetch_timeout = fetch_timeout
        self.poll = poll or PollBackoff()
        self.tickers = list(tickers or [])
        self.shutdown = shutdown or Shutdown()
        self.shutdown_timeout = worker_settings["SHUTDOWN_TIMEOUT"] if shutdown_timeout is None else shutdown_timeout
        self.heartbeat_interval = (
            worker_settings["HEARTBEAT_INTERVAL"] if heartbeat_interval is None else heartbeat_interval
        )
        self.exit_on_force = exit_on_force
        #: Fetch failures (a server down): shared back-off and logging for every job thread.
        self.outage = Outage(
            source.label,
            logger,
            maximum=(worker_settings["OUTAGE_MAX_DELAY"] if outage_max_delay is None else outage_max_delay),
        )
        #: ``burst``: how long the source may stay unreachable before the worker gives up (exit 1).
        self.burst_outage_timeout = (
            worker_settings["BURST_OUTAGE_TIMEOUT"] if burst_outage_timeout is None else burst_outage_timeout
        )
        self._gave_up = False
        #: Deliveries fetched and not settled yet (leases to renew), and those running now.
        self.held: dict[int, Delivery] = {}
        self.running: dict[int, Delivery] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._job_threads: list[threading.Thread] = []
        #: Time-limited jobs running now (by delivery id), each thread's current batch, and
        #: the threads given up on (their job outlived its limit).
        self._watched: dict[int, _Watch] = {}
        # keyed by Thread objects, not idents: an ident is reused once its thread ended
        self._batches: dict[threading.Thread, list[Delivery]] = {}
        self._abandoned: set[threading.Thread] = set()
        self._timed_out_exit = False
        self._last_heartbeat = time.monotonic()
        self._last_tick = float("-inf")

    # -- the main thread ---------------------------------------------------------
    def run(self) -> int:
        """Run until shutdown (or, in burst mode, until the queue is drained). Returns an exit code."""
        self.shutdown.install()
        logger.info("Worker started: %s, %d thread(s)", self.source.label, self.threads)
        try:
            # job threads, the heartbeat (this thread) and a source's own helper (Redis ack flusher)
            self.source.reserve_connections(self.threads + 2)
            for _ in range(self.threads):
                self._start_job_thread()
            while not self.shutdown.requested:
                self.tick()
                if not self._live_threads():
                    break  # burst mode: every thread found the queue empty
                self.shutdown.wait(self.WATCH_INTERVAL)
            if not self.burst and not self.shutdown.requested:
                # Every job thread died (an error escaped _process): exiting 0 would look like
                # a finished --burst run, and a Supervisor would not restart this process.
                logger.error("Every job thread of %s stopped unexpectedly; exiting", self.source.door)
                with self._lock:
                    held = list(self.held.values())
                self._hand_back(held)
                self._stop()
                return 1
            code = self._stop()
            if self._gave_up:
                return 1
            if self._timed_out_exit:
                logger.error(
                    "A job outlived its time limit in this worker process; exiting so the "
                    "supervisor starts a fresh one (its thread cannot be stopped)"
                )
                return code or 1
            return code
        finally:
            self.shutdown.uninstall()

    def _start_job_thread(self) -> None:
        number = len(self._job_threads)
        thread = threading.Thread(target=self._job_thread, name=f"djworkers-job-{number}", daemon=True)
        self._job_threads.append(thread)
        thread.start()

    def _live_threads(self) -> list[threading.Thread]:
        """Job threads still serving (abandoned ones, stuck in a timed-out job, do not count)."""
        return [thread for thread in self._job_threads if thread.is_alive() and thread not in self._abandoned]

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
        if self._watched:
            self._check_time_limits()
        self._maybe_heartbeat()

    # -- a job thread ---------------------------------------------------------------
    def _give_up(self) -> None:
        """``--burst`` and the source stayed unreachable: stop with exit code 1 (logged once)."""
        with self._lock:
            first, self._gave_up = not self._gave_up, True
        if first:
            logger.error(
                "Giving up: %s has been unreachable for %.0fs (--burst waits at most "
                'DJWORKERS["WORKER"]["BURST_OUTAGE_TIMEOUT"] = %s s)',
                self.source.label,
                self.outage.elapsed(),
                self.burst_outage_timeout,
            )

    def _job_thread(self) -> None:
        poll = PollBackoff(self.poll.initial, self.poll.backoff, self.poll.maximum)
        me = threading.current_thread()
        while not self.shutdown.requested and me not in self._abandoned:
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

    def _run_batch(self, deliveries: list[Delivery]) -> None:
        me = threading.current_thread()
        with self._lock:
            for delivery in deliveries:
                self.held[id(delivery)] = delivery
            self._batches[me] = deliveries
        try:
            for index, delivery in enumerate(deliveries):
                if self.shutdown.requested:
                    self._hand_back(deliveries[index:])
                    return
                with self._lock:
                    if me in self._abandoned:
                        return  # the main thread handed the rest of this batch back
                    self.running[id(delivery)] = delivery
                try:
                    self._process(delivery)
                finally:
                    with self._lock:
                        self.running.pop(id(delivery), None)
                        self.held.pop(id(delivery), None)
        finally:
            with self._lock:
                self._batches.pop(me, None)
            # After a success, once per batch rather than per job: each job starts with its own
            # check (the executor's); this one leaves no broken or expired connection open while
            # the thread waits for the next batch.
            close_stale_connections()

    def _process(self, delivery: Delivery) -> None:
        """Decode, run and settle one delivery. Never raises: the thread goes on."""
        succeeded = False
        try:
            try:
                message = decode(delivery.raw)
            except InvalidMessage as exc:
                quarantine(exc, door=self.source.door, backend=self.source.backend, queue=delivery.queue)
                self.source.ack_soon(delivery)
                self._count("quarantined")
                return
            if delivery.deliveries > self.max_deliveries:
                result = self.executor.poison(message, delivery.raw, delivery.deliveries, self.max_deliveries)
                self._settle(delivery, result)
                self._count("poisoned")
                return
            watch = self._watch(delivery, message)
            if watch is None:
                result = self.executor.run(message, raw=delivery.raw)
            else:
                # The job's end and the main thread's timeout race for the settlement: whoever
                # takes the watch out of _watched first (under the lock) settles the delivery.
                result = self.executor.run(message, raw=delivery.raw, abandoned=lambda: self._unwatch(delivery, watch))
                if self._unwatch(delivery, watch):
                    logger.warning(
                        "%s finished after its time limit had been declared; its outcome (%s) is dropped",
                        message.describe(),
                        result.outcome.value,
                    )
                    return
            self._settle(delivery, result)
            self._count(result.outcome.value)
            succeeded = result.outcome is Outcome.SUCCEEDED
        except Exception:
            logger.exception("Worker error around a delivery from %s; it will be delivered again", self.source.door)
            self._count("errors")
        finally:
            if not succeeded:  # a failure may have broken a connection: not left for the next delivery
                close_stale_connections()

    def _settle(self, delivery: Delivery, result: Any) -> None:
        if result.outcome is Outcome.RETRY:
            self.source.retry(delivery, encode(result.retry_message), result.eta)
        else:
            self.source.ack_soon(delivery)

    # -- time limits (Q13) ---------------------------------------------------------
    def _watch(self, delivery: Delivery, message: Any) -> _Watch | None:
        """Start watching ``delivery`` if its job has a time limit (else None, at no cost)."""
        try:
            job = self.executor.registry.get(message.name)
        except JobNotRegistered:
            return None
        limit = job_timeout(job, self.executor.default_timeout)
        if limit is None:
            return None
        # An async job is cancelled in its loop at the limit (executor); the watch is the
        # backstop for one that blocks its loop, so it fires a little later.
        grace = 1.0 if inspect.iscoroutinefunction(job.func) else 0.0
        watch = _Watch(delivery, message, threading.current_thread(), limit, time.monotonic() + limit + grace)
        with self._lock:
            self._watched[id(delivery)] = watch
        return watch

    def _unwatch(self, delivery: Delivery, watch: _Watch) -> bool:
        """Stop watching ``delivery``; True if the main thread already timed it out."""
        with self._lock:
            self._watched.pop(id(delivery), None)
            return watch.timed_out

    def _check_time_limits(self) -> None:
        """Main thread: settle every watched job past its deadline as "timed out"."""
        now = time.monotonic()
        expired: list[tuple[_Watch, list[Delivery]]] = []
        with self._lock:
            for key, watch in list(self._watched.items()):
                if watch.deadline > now:
                    continue
                del self._watched[key]
                watch.timed_out = True
                self._abandoned.add(watch.thread)
                self.held.pop(key, None)  # no more lease renewals
                self.running.pop(key, None)
                rest = [
                    d for d in self._batches.get(watch.thread, ()) if id(d) in self.held and id(d) not in self.running
                ]
                for other in rest:
                    self.held.pop(id(other), None)
                expired.append((watch, rest))
        for watch, rest in expired:
            message = watch.message
            logger.error(
                "%s timed out after %gs; giving up its thread (it cannot be stopped) and starting another",
                message.describe(),
                watch.limit,
            )
            try:
                exc = JobTimeout(f"{message.describe()} timed out after {watch.limit:g}s")
                result = self.executor.failed(
                    message, watch.delivery.raw, exc, reason="timed-out", traceback=_stack_of(watch.thread, exc)
                )
                self._settle(watch.delivery, result)
                self._count("timed-out")
            except Exception:
                logger.exception(
                    "Could not settle timed-out %s; it runs again when its lease expires", message.describe()
                )
            self._hand_back(rest)
            if self.exit_on_timeout:
                self._timed_out_exit = True
                self.shutdown.request()
            elif not self.shutdown.requested:
                self._start_job_thread()

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
                logger.debug("Heartbeat of %s failed: %s", self.source.door, exc, exc_info=True)
            else:
                logger.warning(
                    "Heartbeat of %s failed: %s", self.source.door, exc, exc_info=logger.isEnabledFor(logging.DEBUG)
                )
        except Exception:
            logger.exception("Heartbeat of %s failed", self.source.door)

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
        while self._live_threads():
            if self.shutdown.forced or time.monotonic() >= deadline:
                with self._lock:
                    held = list(self.held.values())
                    running = len(self.running)
                why = "second signal" if self.shutdown.forced else "shutdown timeout"
                logger.warning("Stopping with %d job(s) running (%s); handing them back", running, why)
                self._hand_back(held)
                return self._exit_now(1)
            if self._watched:
                self._check_time_limits()
            self._maybe_heartbeat()
            live = self._live_threads()
            for thread in live:
                thread.join(self.WATCH_INTERVAL / max(1, len(live)))
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
