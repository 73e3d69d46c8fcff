"""``@task``: a function that still runs when called, plus ``.delay``/``.async_``/``.after`` (Z1, Z5).

The calls write the core's signed envelope (:mod:`djworkers.framing`) and
push it to a ztaskd through this process's one socket
(:mod:`djworkers.ztask.client`). ``ALWAYS_EAGER`` runs it here through the core
executor instead; ``DISABLED`` only logs it. A :class:`~djworkers.messages.Message`
object is built only when something needs one (a ``job_enqueued`` receiver, an
in-process run, a log line): the common ``.delay()`` sends bytes and returns the id.
"""

from __future__ import annotations

import functools
import logging
import numbers
import time
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from .. import conf, signals
from ..messages import Message, decode, encode
from ..registry import Job, registry
from ..runtime.executor import Executor, Outcome
from .client import QUEUE, ZtaskUnavailable, client
from .door import DOOR

logger = logging.getLogger("djworkers.ztask")

P = ParamSpec("P")
R = TypeVar("R")


def run_here(message: Message, why: str) -> Any:
    """Run ``message`` in this process through the core executor, once, and return its value.

    Round-trips through encode/decode first, so an argument that would not survive
    the wire fails here too. The job's exception propagates to the caller; nothing
    is recorded in the failed-job store.
    """
    copy = decode(encode(message))
    copy = copy.replace(options={**copy.options, "no_retry": True})
    result = Executor(DOOR, why, record_failures=False).run(copy)
    if result.outcome is not Outcome.SUCCEEDED:
        assert result.exception is not None
        raise result.exception
    return result.value


def _announce(message: Message) -> None:
    for receiver, response in signals.job_enqueued.send_robust(sender=DOOR, message=message, backend="zeromq"):
        if isinstance(response, Exception):
            logger.error("job_enqueued receiver %r raised for %s: %r", receiver, message.describe(), response)


def submit(job: Job, args: tuple, kwargs: dict, *, eta: float | None = None) -> str:
    """Send one call of ``job`` as the settings say; returns the message id."""
    settings = conf.section("ZTASK")
    if settings["DISABLED"] or settings["ALWAYS_EAGER"]:
        return _not_sent(job, args, kwargs, eta, settings)
    sender = client()
    framer = sender.framer
    message_id, enqueued_at, frame = framer.frame(job.name, args, kwargs, eta)
    try:
        sender.send_frame(frame, job.name, message_id)
    except ZtaskUnavailable:
        if settings["ON_UNREACHABLE"] != "run":
            raise
        message = framer.message(job.name, args, kwargs, eta, message_id, enqueued_at)
        logger.warning(
            'No ztaskd took %s in time; running it in-process (DJWORKERS["ZTASK"]["ON_UNREACHABLE"] = "run")',
            message.describe(),
        )
        run_here(message, "in-process")
        return message_id
    if signals.job_enqueued.receivers:  # the Message is built only for someone who listens
        _announce(framer.message(job.name, args, kwargs, eta, message_id, enqueued_at))
    return message_id


def _not_sent(job: Job, args: tuple, kwargs: dict, eta: float | None, settings: dict[str, Any]) -> str:
    """``DISABLED`` (log the call) or ``ALWAYS_EAGER`` (run it here): no socket is made."""
    message = Message(name=job.name, args=tuple(args), kwargs=dict(kwargs), queue=QUEUE, eta=eta)
    if settings["DISABLED"]:
        logger.info(
            'ztask DISABLED: not running %s%r %r (DJWORKERS["ZTASK"]["DISABLED"])',
            job.name,
            message.args,
            message.kwargs,
        )
    else:
        run_here(message, "eager")
    return message.id


class TaskFunction(Generic[P, R]):
    """A function decorated with ``@task``: calling it runs it here and now, as before.

    Generic in the function's parameters and return type, so type checkers see the
    decorated function's signature on the call and on ``.delay``/``.after``.
    """

    def __init__(self, job: Job):
        self.job = job
        functools.update_wrapper(self, job.func)

    @property
    def name(self) -> str:
        return self.job.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.job.func(*args, **kwargs)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Run in a ztaskd as soon as possible. Returns the message id."""
        return submit(self.job, args, kwargs)

    #: The old spelling: ``f.async(...)`` is a syntax error since Python 3.7 (``async`` is a keyword).
    async_ = delay

    def after(self, seconds: float, *args: P.args, **kwargs: P.kwargs) -> str:
        """Run in a ztaskd ``seconds`` from now (kept in ztaskd's database meanwhile, so a restart
        does not lose it). Returns the message id."""
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or seconds != seconds:
            raise TypeError(f"{self.job.name}.after(seconds, ...): seconds must be a number, got {seconds!r}.")
        if seconds < 0:
            raise ValueError(f"{self.job.name}.after(seconds, ...): seconds must be >= 0, got {seconds!r}.")
        return submit(self.job, args, kwargs, eta=time.time() + float(seconds))

    def __repr__(self) -> str:
        return f"<ztask task {self.job.name}>"


# ``getattr(f, "async")(...)``: old call sites written before ``async`` became a keyword.
setattr(TaskFunction, "async", TaskFunction.delay)


@overload
def task(func: Callable[P, R], *, name: str | None = None) -> TaskFunction[P, R]: ...
@overload
def task(func: None = None, *, name: str | None = None) -> Callable[[Callable[P, R]], TaskFunction[P, R]]: ...
def task(func: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make ``func`` a ztask task: ``@task()`` (the old spelling) or bare ``@task``.

    The job is registered as ``module.function`` (or ``name``); ztaskd finds it
    there, so keep tasks in a module every process imports (``tasks.py`` of an
    installed app is autodiscovered). Retries come from ``RETRY_COUNT`` and
    ``RETRY_AFTER``.
    """

    def decorate(function: Callable[..., Any]) -> TaskFunction[..., Any]:
        if not callable(function):
            raise TypeError(f"@task decorates a function, got {function!r}.")
        job_name = name or f"{function.__module__}.{function.__qualname__}"
        return TaskFunction(registry.register(Job.declare(job_name, function, DOOR)))

    return decorate(func) if func is not None else decorate


__all__ = ["TaskFunction", "ZtaskUnavailable", "task"]
