"""The one place a job runs.

:meth:`Executor.run` resolves the message's name in the registry, closes stale
database connections around the call, runs the function, and decides what
happens next: succeeded, retry later (with the job's :class:`RetryPolicy`), or
failed (recorded as a FailedJob with the traceback). Signals and hooks fire at
each step. Transports only act on the returned :class:`Outcome`.

Coroutine functions (``async def`` jobs, or any job returning an awaitable) run
to completion on an event loop owned by the calling thread, created on its first
async job and reused after (:func:`run_coroutine`). Measured against the
alternatives for a trivial coroutine: ``asyncio.run`` per job ~400 us (a new
loop each time), one shared loop in a background thread ~190 us (a handoff to
that thread and back, and one job that blocks the loop with sync code would
stall every other thread's jobs), a loop per job thread ~45 us with each
thread's jobs isolated from the others. A job's ``timeout`` is enforced inside
the loop (``asyncio.wait_for``), so an async job past its limit is really
cancelled, not only abandoned.

When a job asked for its result (``message.options["result"]``), the executor
writes a :class:`~djworkers.results.ResultRecord` to ``results`` as it starts,
retries and finishes; a job that did not ask costs one dict lookup.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import enum
import inspect
import logging
import threading
import time
import traceback as tb
from collections.abc import Callable
from typing import Any

from .. import signals
from ..exceptions import JobNotRegistered, JobTimeout, PoisonJob
from ..messages import Message, encode
from ..registry import Registry
from ..registry import registry as default_registry
from ..results.record import FAILED, RETRYING, RUNNING, SUCCEEDED, ResultRecord
from .connections import close_stale_connections
from .coordination import owner_id
from .failures import record_failure
from .hooks import Hook, call_hooks
from .retry import RetryPolicy

logger = logging.getLogger("djworkers.executor")

#: Seconds before a job whose final failure could not be recorded (failed-job store
#: unreachable) is delivered again.
FAILURE_STORE_RETRY_DELAY = 60.0


def _send(signal: Any, sender: str, **kwargs: Any) -> None:
    """Send ``signal``; a receiver that raises is logged, never propagated.

    Like hooks, receivers are observers: with ``send`` an exception from a
    ``job_succeeded`` receiver escaped after the job had run, so the worker left
    the delivery unacknowledged and the job ran again at every lease expiry.

    A signal nobody listens to (``job_started`` usually) returns at once: ``send_robust``
    would cost about 1 µs per job to find no receiver.
    """
    if not signal.receivers:
        return
    for receiver, response in signal.send_robust(sender=sender, **kwargs):
        if isinstance(response, Exception):
            logger.error(
                "Receiver %r of a djworkers signal raised; ignored",
                receiver,
                exc_info=(type(response), response, response.__traceback__),
            )


_loops = threading.local()

#: The message whose job runs in this thread (or task) now, for front doors whose jobs need
#: their own id or attempt (the django.tasks door's ``takes_context``). None between jobs.
current_message: contextvars.ContextVar[Message | None] = contextvars.ContextVar(
    "djworkers_current_message", default=None
)


def run_coroutine(awaitable: Any, timeout: float | None = None) -> Any:
    """Run ``awaitable`` to completion on this thread's own event loop (see the module doc).

    ``timeout``: cancel it after that many seconds and raise :class:`JobTimeout`.
    """
    if asyncio._get_running_loop() is not None:
        # Called from async code (eager mode in an async view): this thread's loop is busy
        # running the caller, so the job gets a thread and a loop of its own for the call.
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = run_coroutine(awaitable, timeout)
            except BaseException as exc:  # re-raised in the caller's thread
                outcome["error"] = exc

        thread = threading.Thread(target=target, name="djworkers-async-job")
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]
    loop = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = _loops.loop = asyncio.new_event_loop()
    if timeout is None:
        return loop.run_until_complete(awaitable)
    try:
        return loop.run_until_complete(asyncio.wait_for(awaitable, timeout))
    except TimeoutError as exc:
        raise JobTimeout(f"timed out after {timeout:g}s") from exc


def job_timeout(job: Any, default: float | None) -> float | None:
    """The time limit of ``job``: its own ``timeout`` option, else ``default`` (QUEUE["TIMEOUT"])."""
    value = getattr(job, "timeout", None)
    return default if value is None else value


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"


@dataclasses.dataclass
class Result:
    outcome: Outcome
    message: Message
    value: Any = None
    exception: BaseException | None = None
    traceback: str = ""
    eta: float | None = None
    duration: float = 0.0

    @property
    def retry_message(self) -> Message:
        """The message to enqueue again for a retry."""
        return self.message.next_attempt(self.eta)


class Executor:
    """Runs messages. One per worker; safe to share between threads."""

    def __init__(
        self,
        door: str,
        backend: str = "",
        *,
        registry: Registry | None = None,
        hooks: list[Hook] | tuple[Hook, ...] = (),
        retry_section: str = "QUEUE",
        record_failures: bool = True,
        results: Any = None,
        default_timeout: float | None = None,
    ):
        self.door = door
        self.backend = backend
        self.registry = registry or default_registry
        self.hooks = list(hooks)
        self.retry_section = retry_section
        self.record_failures = record_failures
        #: A :class:`~djworkers.results.ResultStore` for jobs that asked for their result.
        self.results = results
        #: The time limit of jobs without their own ``timeout`` (``QUEUE["TIMEOUT"]``).
        self.default_timeout = default_timeout

    def run(self, message: Message, raw: bytes | None = None, abandoned: Callable[[], bool] | None = None) -> Result:
        """Run ``message`` once. ``raw`` is the frame it came in (kept on failure).

        ``abandoned``: asked when the job returns; True means the caller already settled
        the job as timed out (Q13), so nothing more is recorded, signalled or hooked.
        """
        _send(signals.job_started, self.door, message=message, backend=self.backend)
        close_stale_connections(ping=True)
        started = time.monotonic()
        record = self._start_record(message) if message.options.get("result") else None
        try:
            job = self.registry.get(message.name)
        except JobNotRegistered as exc:
            return self._fail(message, raw, exc, reason="unknown-job", started=started, record=record)
        if self.hooks:
            call_hooks(self.hooks, "before_job", message)
        token = current_message.set(message)
        try:
            value = job.func(*message.args, **message.kwargs)
            if value is not None and inspect.isawaitable(value):  # most jobs return None: no ABC check
                value = run_coroutine(value, job_timeout(job, self.default_timeout))
        except (Exception, SystemExit) as exc:
            # SystemExit too: a job calling sys.exit() must fail (and be retried or recorded)
            # like any other error, not kill the worker thread with its delivery unsettled.
            # A job that broke its connection must not break the failure record.
            close_stale_connections()
            if abandoned is not None and abandoned():
                return Result(Outcome.FAILED, message, exception=exc, duration=time.monotonic() - started)
            return self.failed(
                message,
                raw,
                exc,
                job=job,
                started=started,
                record=record,
                reason="timed-out" if isinstance(exc, JobTimeout) else "exception",
            )
        finally:
            current_message.reset(token)
        # After a success the caller closes stale connections once its own bookkeeping
        # (the ack) is done: the worker does, a request's end does for eager runs.
        duration = time.monotonic() - started
        if abandoned is not None and abandoned():
            return Result(Outcome.SUCCEEDED, message, value=value, duration=duration)
        if self.hooks:
            call_hooks(self.hooks, "after_job", message, value, duration)
        _send(signals.job_succeeded, self.door, message=message, backend=self.backend, result=value, duration=duration)
        if logger.isEnabledFor(logging.DEBUG):  # per-job lines cost ~15 us: opt in with -v 2
            logger.debug("%s succeeded in %.3fs", message.describe(), duration)
        if record is not None:
            record.status, record.value, record.finished_at = SUCCEEDED, value, time.time()
            self._save(record, soon=raw is not None)
        return Result(Outcome.SUCCEEDED, message, value=value, duration=duration)

    def failed(
        self,
        message: Message,
        raw: bytes | None,
        exc: BaseException,
        *,
        job: Any = None,
        started: float | None = None,
        record: Any = None,
        reason: str = "exception",
        traceback: str | None = None,
    ) -> Result:
        """Retry ``message`` (its job's retry policy allowing) or fail it for good, for ``exc``.

        The worker calls this too for a job it gave up waiting for (``reason="timed-out"``).
        """
        started = time.monotonic() if started is None else started
        if record is None and message.options.get("result"):
            record = self._start_record(message, save=False)
        if job is None:
            try:
                job = self.registry.get(message.name)
            except JobNotRegistered as missing:
                return self._fail(message, raw, missing, reason="unknown-job", started=started, record=record)
        policy = RetryPolicy.for_job(job, self.retry_section)
        if message.options.get("no_retry") is not True and policy.should_retry(message.attempt):
            return self._retry(message, exc, policy, started, record=record, traceback=traceback)
        return self._fail(message, raw, exc, reason=reason, started=started, record=record, traceback=traceback)

    def poison(self, message: Message, raw: bytes | None, deliveries: int, limit: int) -> Result:
        """Fail ``message`` for good without running it: it was handed out ``deliveries`` times
        (more than ``limit``, ``QUEUE["MAX_DELIVERIES"]``) and never settled: its consumer
        died each time (Q16). Reason "poison"; the count is in the error text."""
        exc = PoisonJob(
            f"{message.describe()} was delivered {deliveries} times without finishing "
            f'(its consumer died each time; QUEUE["MAX_DELIVERIES"] = {limit}); not run again'
        )
        record = self._start_record(message, save=False) if message.options.get("result") else None
        return self._fail(message, raw, exc, reason="poison", started=time.monotonic(), record=record, traceback="")

    # -- results ---------------------------------------------------------------------
    def _start_record(self, message: Message, save: bool = True) -> Any:
        record = ResultRecord(
            message.id,
            RUNNING,
            name=message.name,
            queue=message.queue,
            attempts=message.attempt + 1,
            worker=owner_id(),
            enqueued_at=message.enqueued_at,
            started_at=time.time(),
        )
        if message.options.get("result_wait") is False:
            record.wakes = False  # per record, over the class default
        if message.options.get("result_args"):
            record.args, record.kwargs = list(message.args), dict(message.kwargs)
            if message.attempt and self.results is not None:  # a retry: keep the earlier attempts
                try:
                    earlier = self.results.load(message.id)
                except Exception:
                    earlier = None
                if earlier is not None and earlier.worker:
                    record.history = [
                        *earlier.history,
                        {"worker": earlier.worker, "error_type": earlier.error_type, "traceback": earlier.traceback},
                    ]
        if save:
            self._save(record)
        return record

    def _save(self, record: Any, soon: bool = False) -> None:
        """Write ``record``; a store that is down is logged, never fails the job itself.

        ``soon``: a final record of a delivery (``raw`` given) its worker acknowledges next: the
        store may send it with that ack (:meth:`~djworkers.results.ResultStore.save_soon`)."""
        if self.results is None:
            logger.error(
                "Job %s [%s] asked for its result, but %s has no result store", record.name, record.job_id, self.door
            )
            return
        try:
            save = getattr(self.results, "save_soon", None) if soon else None
            (save or self.results.save)(record)
        except Exception:
            logger.exception("Could not store the result of %s [%s]", record.name, record.job_id)

    def _retry(
        self,
        message: Message,
        exc: BaseException,
        policy: RetryPolicy,
        started: float,
        *,
        record: Any = None,
        traceback: str | None = None,
    ) -> Result:
        eta = time.time() + policy.delay_for(message.attempt)
        text = tb.format_exc() if traceback is None else traceback
        logger.warning(
            "%s raised %s: %s; retry %d of %d at %s",
            message.describe(),
            type(exc).__name__,
            exc,
            message.attempt + 1,
            policy.retries,
            time.strftime("%H:%M:%S", time.localtime(eta)),
        )
        call_hooks(self.hooks, "on_retry", message, exc, eta)
        _send(signals.job_retried, self.door, message=message, backend=self.backend, exception=exc, eta=eta)
        if record is not None:
            record.status = RETRYING
            record.set_error(exc, text)
            self._save(record)
        return Result(
            Outcome.RETRY, message, exception=exc, traceback=text, eta=eta, duration=time.monotonic() - started
        )

    def _fail(
        self,
        message: Message,
        raw: bytes | None,
        exc: BaseException,
        *,
        reason: str,
        started: float,
        record: Any = None,
        traceback: str | None = None,
    ) -> Result:
        text = tb.format_exc() if traceback is None else traceback
        logger.error("%s failed for good (%s): %s\n%s", message.describe(), reason, exc, text)
        if self.record_failures:
            try:
                record_failure(
                    message,
                    raw if raw is not None else encode(message),
                    door=self.door,
                    backend=self.backend,
                    reason=reason,
                    exception=exc,
                    traceback=text,
                )
            except Exception:
                # Acknowledging a failure nobody recorded would lose the job. Keep it:
                # the transport re-delivers it after a pause (not a hot loop on a broken
                # store), and the next final failure tries to record it again.
                eta = time.time() + FAILURE_STORE_RETRY_DELAY
                logger.exception(
                    "Could not record the failure of %s; keeping the job, it runs again at %s",
                    message.describe(),
                    time.strftime("%H:%M:%S", time.localtime(eta)),
                )
                return Result(
                    Outcome.RETRY, message, exception=exc, traceback=text, eta=eta, duration=time.monotonic() - started
                )
        call_hooks(self.hooks, "on_failure", message, exc, text)
        _send(signals.job_failed, self.door, message=message, backend=self.backend, exception=exc, traceback=text)
        if record is not None:
            record.status, record.finished_at = FAILED, time.time()
            record.set_error(exc, text)
            self._save(record, soon=raw is not None)
        return Result(Outcome.FAILED, message, exception=exc, traceback=text, duration=time.monotonic() - started)
