"""The dumbwaiter runner: compute each function once per period, on a fixed schedule.

:meth:`Runner.loop` takes the time as an argument (tests drive it with a fake
clock) and only *starts* runs; :meth:`Runner.run_forever` is the process around
it (sleeping until the next period, extending leases, graceful shutdown).

Schedule. Periods are aligned on the clock: period ``k`` of a function with
frequency ``f`` is ``[k*f, (k+1)*f)`` and its tick is ``int(now // f)``, the same
for every runner process on every host. A runner computes the current period
as soon as it starts ("first run at start"), then each new period at its start.
Nothing drifts however long a run takes, and after a stall (a suspended process,
a slow database) missed periods are skipped, never run in a burst.

Once per period, never twice at once: a runner only starts a period it claimed
(:mod:`.locks`) and whose run lease it holds; a run still going when the next
period starts is not started again, neither here nor in another process.

Threaded mode (default) gives every running function its own thread, so a slow
or hanging function never delays another. Unthreaded mode runs functions one at
a time, in order, in a single worker thread; the main thread stays free to keep
the schedule, extend leases and handle signals in both modes.

Every run goes through the shared :class:`~djworkers.runtime.executor.Executor`
(the one place a job runs: stale-connection cleanup, signals, logging). A
function that raises is logged and its traceback stored; the runner carries on.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterable

from django.db import connections

from ..messages import Message
from ..registry import Job, Registry
from ..runtime.connections import close_stale_connections
from ..runtime.executor import Executor, Outcome
from ..runtime.shutdown import Shutdown
from . import storage
from .config import Config, FunctionSpec, load_config
from .exceptions import AlreadyRunning
from .locks import Coordinator, coordinator_for, lease_seconds

logger = logging.getLogger("djworkers.dumbwaiter")

#: The main loop wakes at least this often (lease extension, shutdown checks).
MAX_SLEEP = 1.0


@dataclasses.dataclass
class Running:
    """A run this process has started (or queued, in unthreaded mode) and not finished."""

    spec: FunctionSpec
    lease: float
    leased_at: float  # monotonic time the lease was last taken or extended
    started: float = dataclasses.field(default_factory=time.monotonic)
    thread: threading.Thread | None = None


class Runner:
    """Runs the configured dumbwaiter functions. One per runner process."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        names: Iterable[str] | None = None,
        threaded: bool | None = None,
        coordinator: Coordinator | None = None,
    ):
        self.config = config or load_config()
        wanted = list(names) if names is not None else list(self.config.functions)
        self.specs = [self.config.get(name) for name in wanted]
        self.threaded = self.config.threaded if threaded is None else threaded
        self.coordinator = coordinator or coordinator_for(self.config)
        # A private registry: dumbwaiter names live in their own namespace and
        # cannot collide with queue jobs of the same name.
        self.registry = Registry()
        for spec in self.specs:
            self.registry.register(Job.declare(spec.name, spec.resolve(), door="dumbwaiter"))
        self.executor = Executor(
            "dumbwaiter", registry=self.registry, retry_section="DUMBWAITER", record_failures=False
        )
        self._last_tick: dict[str, int] = {}
        self._running: dict[str, Running] = {}
        self._lock = threading.Lock()
        self._serial: queue.Queue[FunctionSpec | None] | None = None
        self._serial_thread: threading.Thread | None = None

    # -- scheduling -------------------------------------------------------

    def loop(self, now: float) -> float:
        """Start every function whose new period has begun at ``now``.

        Returns the seconds until the next period of any function begins.
        """
        for spec in self.specs:
            tick = int(now // spec.frequency)
            last = self._last_tick.get(spec.name)
            if last is not None and tick <= last:
                continue
            self._last_tick[spec.name] = tick
            try:
                self._start_period(spec, tick)
            except Exception:
                # Database or Redis unreachable: this period is lost, the next one is tried.
                logger.exception("Could not claim period %d of %r; trying again next period", tick, spec.name)
        if not self.specs:
            return MAX_SLEEP
        return max(0.0, min((self._last_tick[s.name] + 1) * s.frequency for s in self.specs) - now)

    def _start_period(self, spec: FunctionSpec, tick: int) -> None:
        with self._lock:
            running = self._running.get(spec.name)
        if running is not None:
            logger.warning(
                "%r is still running (started %.1fs ago, longer than its %gs period); skipping this period",
                spec.name,
                time.monotonic() - running.started,
                spec.frequency,
            )
            return
        if not self.coordinator.claim(spec.name, tick, spec.frequency):
            logger.debug("Period %d of %r was claimed by another runner", tick, spec.name)
            return
        lease = lease_seconds(spec.frequency)
        if not self.coordinator.acquire(spec.name, lease):
            logger.warning(
                "%r is still running on %s; skipping this period",
                spec.name,
                self.coordinator.holder(spec.name) or "another runner",
            )
            return
        self._dispatch(spec, lease)

    def _dispatch(self, spec: FunctionSpec, lease: float) -> None:
        running = Running(spec, lease, time.monotonic())
        with self._lock:
            self._running[spec.name] = running
        if self.threaded:
            running.thread = threading.Thread(
                target=self._run_and_release, args=(spec,), name=f"dumbwaiter-{spec.name}", daemon=True
            )
            running.thread.start()
        else:
            if self._serial is None:
                self._serial = queue.Queue()
                self._serial_thread = threading.Thread(target=self._serial_worker, name="dumbwaiter", daemon=True)
                self._serial_thread.start()
            self._serial.put(spec)

    def _serial_worker(self) -> None:
        assert self._serial is not None
        while True:
            spec = self._serial.get()
            if spec is None:
                return
            self._run_and_release(spec)

    def _run_and_release(self, spec: FunctionSpec) -> None:
        try:
            self.run_one(spec)
        except BaseException:
            logger.exception("Running %r stopped the thread", spec.name)
        finally:
            with self._lock:
                self._running.pop(spec.name, None)
            try:
                self.coordinator.release(spec.name)
            except Exception:
                logger.exception("Could not release the lease of %r (it expires by itself)", spec.name)
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()  # this thread's connections only

    def take_refresh_requests(self) -> list[str]:
        """Start the functions whose "refresh now" was requested (:func:`~.api.request_refresh`).

        One query per tick finds the requests for this runner's functions. Taking one
        is a conditional UPDATE that clears it, so of several runners exactly one
        takes it; that runner then needs the function's run lease, as a scheduled
        run does. A request for a function running here or elsewhere is left (or
        put back) for a later tick: it runs after the current run, never beside it.
        Returns the names started.
        """
        from .models import CachedFunction

        requested = CachedFunction.objects.filter(
            name__in=[s.name for s in self.specs],
            refresh_requested_at__isnull=False,
        ).values_list("name", "refresh_requested_at")
        started = []
        for name, requested_at in requested:
            with self._lock:
                if name in self._running:
                    continue  # after this run ends
            taken = CachedFunction.objects.filter(name=name, refresh_requested_at=requested_at).update(
                refresh_requested_at=None
            )
            if not taken:
                continue  # another runner took it, or it was requested again meanwhile
            spec = self.config.get(name)
            lease = lease_seconds(spec.frequency)
            if not self.coordinator.acquire(name, lease):
                CachedFunction.objects.filter(name=name, refresh_requested_at__isnull=True).update(
                    refresh_requested_at=requested_at
                )
                continue
            logger.info("Refreshing %r on request", name)
            self._dispatch(spec, lease)
            started.append(name)
        return started

    def keep_leases(self) -> None:
        """Extend the lease of every function this process is running, a third before it ends."""
        now = time.monotonic()
        with self._lock:
            due = [r for r in self._running.values() if now - r.leased_at >= r.lease / 3]
        for running in due:
            try:
                if self.coordinator.extend(running.spec.name, running.lease):
                    running.leased_at = now
                else:
                    logger.warning("Lost the run lease of %r (it expired)", running.spec.name)
            except Exception:
                logger.exception("Could not extend the run lease of %r", running.spec.name)

    @property
    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._running)

    # -- running ----------------------------------------------------------

    def run_one(self, spec: FunctionSpec) -> Outcome:
        """Compute ``spec`` now and store the result or the error. No claim, no lease."""
        started_at = storage.now()
        message = Message(
            name=spec.name,
            args=tuple(spec.args),
            kwargs=dict(spec.kwargs),
            queue="dumbwaiter",
            options={"no_retry": True},
        )
        result = self.executor.run(message)
        try:
            if result.outcome is Outcome.SUCCEEDED:
                try:
                    storage.record_success(self.config, spec, result.value, started_at, result.duration)
                    return Outcome.SUCCEEDED
                except (TypeError, ValueError) as exc:
                    logger.error("%r returned a value the serializer refuses: %s", spec.name, exc)
                    storage.record_failure(spec, exc, traceback.format_exc(), started_at, result.duration)
                    return Outcome.FAILED
            assert result.exception is not None
            storage.record_failure(spec, result.exception, result.traceback, started_at, result.duration)
        except Exception:
            logger.exception("Could not store the result of %r", spec.name)
        return Outcome.FAILED

    def refresh(self, name: str) -> Outcome:
        """Compute ``name`` now, outside the schedule (``--once``, the admin's "refresh now").

        Takes the run lease like a scheduled run, so it never overlaps a run in
        progress anywhere; raises :class:`AlreadyRunning` if one is.
        """
        spec = self.config.get(name)
        lease = lease_seconds(spec.frequency)
        if not self.coordinator.acquire(spec.name, lease):
            raise AlreadyRunning(
                f"{name!r} is being computed right now by {self.coordinator.holder(name) or 'another runner'}."
            )
        try:
            return self.run_one(spec)
        finally:
            self.coordinator.release(spec.name)

    # -- the process ------------------------------------------------------

    def run_forever(
        self, shutdown: Shutdown, clock: Callable[[], float] = time.time, shutdown_timeout: float = 30.0
    ) -> int:
        """Run until ``shutdown`` is requested; returns the exit code (0 = clean stop)."""
        storage.ensure_rows([s.name for s in self.specs])
        logger.info(
            "run_dumbwaiter started (%s): %s",
            "threaded" if self.threaded else "unthreaded",
            ", ".join(f"{s.name} every {s.frequency:g}s" for s in self.specs),
        )
        while not shutdown.requested:
            close_stale_connections()
            wait = self.loop(clock())
            try:
                self.take_refresh_requests()
            except Exception:
                logger.exception("Could not read the refresh requests; trying again next tick")
            self.keep_leases()
            shutdown.wait(max(0.001, min(wait, MAX_SLEEP)))
        return self.stop(shutdown, shutdown_timeout)

    def stop(self, shutdown: Shutdown | None = None, timeout: float = 30.0) -> int:
        """Wait up to ``timeout`` for running functions, then release what is left."""
        if self._serial is not None:
            # Unstarted queued runs are dropped: their periods are simply missed.
            while True:
                try:
                    spec = self._serial.get_nowait()
                except queue.Empty:
                    break
                if spec is not None:
                    with self._lock:
                        self._running.pop(spec.name, None)
                    self.coordinator.release(spec.name)
            self._serial.put(None)
        deadline = time.monotonic() + timeout
        if self.running:
            logger.warning("Waiting up to %gs for %s to finish", timeout, ", ".join(self.running))
        while self.running and time.monotonic() < deadline and not (shutdown and shutdown.forced):
            self.keep_leases()
            time.sleep(0.05)
        left = self.running
        for name in left:
            logger.error("%r did not finish before shutdown; abandoning it", name)
            try:
                self.coordinator.release(name)
            except Exception:
                logger.exception("Could not release the lease of %r", name)
        self.coordinator.close()
        logger.info("run_dumbwaiter stopped")
        return 1 if left else 0
