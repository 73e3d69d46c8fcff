"""The one place a job runs.

:meth:`Executor.run` resolves the message's name in the registry, closes stale
database connections around the call, runs the function, and decides what
happens next: succeeded, retry later (with the job's :class:`RetryPolicy`), or
failed (recorded as a FailedJob with the traceback). Signals and hooks fire at
each step. Transports only act on the returned :class:`Outcome`.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
import traceback as tb
from typing import Any

from .. import signals
from ..exceptions import JobNotRegistered
from ..messages import Message, encode
from ..registry import Registry, registry as default_registry
from .connections import close_stale_connections
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
    """
    for receiver, response in signal.send_robust(sender=sender, **kwargs):
        if isinstance(response, Exception):
            logger.error("Receiver %r of a djworkers signal raised; ignored", receiver,
                         exc_info=(type(response), response, response.__traceback__))


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
    ):
        self.door = door
        self.backend = backend
        self.registry = registry or default_registry
        self.hooks = list(hooks)
        self.retry_section = retry_section
        self.record_failures = record_failures

    def run(self, message: Message, raw: bytes | None = None) -> Result:
        """Run ``message`` once. ``raw`` is the frame it came in (kept on failure)."""
        _send(signals.job_started, self.door, message=message, backend=self.backend)
        close_stale_connections(ping=True)
        started = time.monotonic()
        try:
            job = self.registry.get(message.name)
        except JobNotRegistered as exc:
            return self._fail(message, raw, exc, reason="unknown-job", started=started)
        call_hooks(self.hooks, "before_job", message)
        try:
            value = job.func(*message.args, **message.kwargs)
        except (Exception, SystemExit) as exc:
            # SystemExit too: a job calling sys.exit() must fail (and be retried or recorded)
            # like any other error, not kill the worker thread with its delivery unsettled.
            # A job that broke its connection must not break the failure record.
            close_stale_connections()
            policy = RetryPolicy.for_job(job, self.retry_section)
            if message.options.get("no_retry") is not True and policy.should_retry(message.attempt):
                return self._retry(message, exc, policy, started)
            return self._fail(message, raw, exc, reason="exception", started=started)
        # After a success the caller closes stale connections once its own bookkeeping
        # (the ack) is done: the worker does, a request's end does for eager runs.
        duration = time.monotonic() - started
        call_hooks(self.hooks, "after_job", message, value, duration)
        _send(signals.job_succeeded, self.door, message=message, backend=self.backend, result=value,
              duration=duration)
        if logger.isEnabledFor(logging.DEBUG):  # per-job lines cost ~15 us: opt in with -v 2
            logger.debug("%s succeeded in %.3fs", message.describe(), duration)
        return Result(Outcome.SUCCEEDED, message, value=value, duration=duration)

    def _retry(self, message: Message, exc: BaseException, policy: RetryPolicy, started: float) -> Result:
        eta = time.time() + policy.delay_for(message.attempt)
        text = tb.format_exc()
        logger.warning(
            "%s raised %s: %s; retry %d of %d at %s",
            message.describe(), type(exc).__name__, exc, message.attempt + 1, policy.retries,
            time.strftime("%H:%M:%S", time.localtime(eta)),
        )
        call_hooks(self.hooks, "on_retry", message, exc, eta)
        _send(signals.job_retried, self.door, message=message, backend=self.backend, exception=exc, eta=eta)
        return Result(Outcome.RETRY, message, exception=exc, traceback=text, eta=eta,
                      duration=time.monotonic() - started)

    def _fail(self, message: Message, raw: bytes | None, exc: BaseException, *, reason: str,
              started: float) -> Result:
        text = tb.format_exc()
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
                    message.describe(), time.strftime("%H:%M:%S", time.localtime(eta)),
                )
                return Result(Outcome.RETRY, message, exception=exc, traceback=text, eta=eta,
                              duration=time.monotonic() - started)
        call_hooks(self.hooks, "on_failure", message, exc, text)
        _send(signals.job_failed, self.door, message=message, backend=self.backend, exception=exc,
              traceback=text)
        return Result(Outcome.FAILED, message, exception=exc, traceback=text,
                      duration=time.monotonic() - started)
