"""The queue front door: ``@queue_command``, ``QueueCommand``, and enqueueing (Q1, Q2, Q7).

Calling a decorated function builds a :class:`~djworkers.messages.Message`,
encodes it (serialized and signed) and writes the bytes to the configured
backend. Nothing here runs jobs: consumers hand frames to the core executor,
and eager mode calls that same executor inline.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.core.signals import setting_changed

from .. import conf, signals
from ..conf import LEGACY_SETTINGS
from ..exceptions import ResultsNotEnabled, ResultTimeout
from ..results.record import QUEUED, SUCCEEDED
from ..messages import Message, decode, encode
from ..registry import Job, registry
from ..runtime.executor import Executor, Outcome
from .backends import backend_class
from .backends.base import QueueBackend

DOOR = "queue"
TRANSPORT = "queue"

logger = logging.getLogger("djworkers.queue")

_backends: dict[tuple[int, tuple[str, ...]], QueueBackend] = {}
_backends_lock = threading.Lock()


def default_queue() -> str:
    return conf.section("QUEUE")["NAME"]


def build_backend(queues: Sequence[str] | str | None = None) -> QueueBackend:
    """A new backend instance from settings, serving ``queues`` (default: ``QUEUE["NAME"]``)."""
    settings = conf.section("QUEUE")
    if isinstance(queues, str):
        queues = [queues]
    return backend_class(settings["BACKEND"]).from_settings(list(queues or [settings["NAME"]]), settings)


def get_backend(queues: Sequence[str] | str | None = None) -> QueueBackend:
    """The shared backend of this process for ``queues`` (built once, rebuilt after fork
    or when settings change). Consumers use :func:`build_backend` for their own."""
    if isinstance(queues, str):
        queues = [queues]
    key = (os.getpid(), tuple(queues or [default_queue()]))
    with _backends_lock:
        backend = _backends.get(key)
        if backend is None:
            backend = _backends[key] = build_backend(list(key[1]))
        return backend


def reset_backends() -> None:
    """Forget cached backends (settings changed)."""
    with _backends_lock:
        backends = list(_backends.values())
        _backends.clear()
    for backend in backends:
        try:
            backend.close()
        except Exception:  # a backend that cannot close cleanly must not break settings changes
            pass


def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting == "DJWORKERS" or setting in LEGACY_SETTINGS or setting == "DATABASES":
        reset_backends()


setting_changed.connect(_on_setting_changed, dispatch_uid="djworkers.queue.reset_backends")


@dataclasses.dataclass(frozen=True)
class JobHandle:
    """What calling a queue command returns.

    ``id`` identifies the job in logs, signals and the failed-job store. When the
    job stores its result (``@queue_command(result=True)`` or ``QUEUE["RESULTS"]``,
    Q12), :attr:`status`, :meth:`get` and :meth:`aget` read it from the
    backend's result store, from any process (:func:`get_result`). In eager
    mode ``result`` holds the return value (the job already ran).
    """

    id: str
    name: str
    queue: str
    eta: float | None = None
    eager: bool = False
    result: Any = None
    stores_result: bool = False

    def _store(self) -> Any:
        if not self.stores_result:
            raise ResultsNotEnabled(
                f"Job {self.name} [{self.id}] does not store its result: declare it with "
                f'@queue_command(result=True) or set DJWORKERS["QUEUE"]["RESULTS"] = True.'
            )
        from ..results import get_store

        return get_store(self.queue or None)

    def record(self) -> Any:
        """The stored :class:`~djworkers.results.ResultRecord`, or None (not started yet, or expired)."""
        if self.eager:
            return None
        return self._store().load(self.id)

    @property
    def status(self) -> str:
        """queued, running, retrying, succeeded, failed or cancelled.

        "queued" also stands for a record that expired (``RESULT_TTL``) or a job id
        nobody enqueued: the store only knows jobs that started.
        """
        if self.eager:
            return SUCCEEDED
        record = self.record()
        return QUEUED if record is None else record.status

    def get(self, timeout: float | None = None) -> Any:
        """Wait for the job and return its value, or raise its exception.

        The exception is re-raised as itself when it could be serialized and
        rebuilt, else as :class:`~djworkers.exceptions.RemoteJobError` (type name,
        message, traceback text). ``timeout`` seconds without a final result raise
        :class:`~djworkers.exceptions.ResultTimeout` (a ``TimeoutError``).
        """
        if self.eager:
            return self.result
        record = self._store().wait(self.id, timeout)
        if record is None:
            raise ResultTimeout(f"Job {self.name or self.id} [{self.id}] has no result after {timeout:g}s "
                                f"(is a consumer running for queue {self.queue!r}?).")
        if record.status == SUCCEEDED:
            return record.value
        raise record.error()

    async def aget(self, timeout: float | None = None) -> Any:
        """:meth:`get` for async code: waits in a worker thread, not on the event loop."""
        from asgiref.sync import sync_to_async

        return await sync_to_async(self.get, thread_sensitive=False)(timeout)


def get_result(job_id: str, queue: str | None = None) -> JobHandle:
    """A handle on the job ``job_id`` from any process (``handle.id`` travels well).

    ``queue``: the queue it was enqueued on, when the backend keeps results per
    connection (all built-in backends share one store per connection).
    """
    name = ""
    handle = JobHandle(job_id, name, queue or "", stores_result=True)
    record = handle.record()
    if record is not None:
        handle = dataclasses.replace(handle, name=record.name, queue=queue or record.queue)
    return handle


def wants_result(job: Job) -> bool:
    """The job's ``result`` option, else ``QUEUE["RESULTS"]``."""
    return bool(conf.section("QUEUE")["RESULTS"]) if job.result is None else bool(job.result)


def enqueue_message(message: Message) -> None:
    """Write ``message`` to its queue on the configured backend.

    The transport-level entry point: replay (``djworkers_failed --replay``) and
    other front doors call it. Sends ``job_enqueued``.
    """
    raw = encode(message)
    get_backend(message.queue).write(raw, queue=message.queue, eta=message.eta)
    _announce(message)


def _announce(message: Message) -> None:
    """Send ``job_enqueued``; a raising receiver is logged, never raised: the job is
    already written, and a caller that retried the call would enqueue it twice."""
    for receiver, response in signals.job_enqueued.send_robust(sender=TRANSPORT, message=message):
        if isinstance(response, Exception):
            logger.error("job_enqueued receiver %r raised for %s: %r", receiver,
                         message.describe(), response)


def run_eagerly(message: Message) -> Any:
    """``ALWAYS_EAGER``: round-trip through encode/decode (so an argument that would not
    survive the queue fails here too), then run through the core executor once.

    The job's exception propagates to the caller, as a test wants; nothing is
    recorded in the failed-job store and there are no retries.
    """
    copy = decode(encode(message))
    copy = copy.replace(options={**copy.options, "no_retry": True})
    _announce(copy)
    result = Executor(TRANSPORT, record_failures=False).run(copy)
    if result.outcome is not Outcome.SUCCEEDED:
        assert result.exception is not None
        raise result.exception
    return result.value


def enqueue(job: Job, args: tuple = (), kwargs: dict | None = None, *, eta: float | None = None,
            delay: float | None = None, queue: str | None = None) -> JobHandle:
    """Enqueue a registered job (or run it now under ``ALWAYS_EAGER``)."""
    if eta is not None and delay is not None:
        raise TypeError(f"Job {job.name!r}: give eta or delay, not both.")
    if delay is not None:
        eta = time.time() + delay
    stores_result = wants_result(job)
    message = Message(
        name=job.name, args=tuple(args), kwargs=dict(kwargs or {}),
        queue=queue or job.queue or default_queue(), eta=eta,
        options={"result": True} if stores_result else {},
    )
    if conf.section("QUEUE")["ALWAYS_EAGER"]:
        value = run_eagerly(message)
        return JobHandle(message.id, message.name, message.queue, eta, eager=True, result=value,
                         stores_result=stores_result)
    enqueue_message(message)
    return JobHandle(message.id, message.name, message.queue, eta, stores_result=stores_result)


def _declare(func: Callable[..., Any], name: str | None, options: dict[str, Any]) -> Job:
    job_name = name or f"{func.__module__}.{func.__qualname__}"
    return registry.register(Job.declare(job_name, func, DOOR, **options))


class QueueCommandFunction:
    """A function decorated with ``@queue_command``: calling it enqueues it."""

    def __init__(self, job: Job):
        self.job = job
        functools.update_wrapper(self, job.func)

    @property
    def name(self) -> str:
        return self.job.name

    def __call__(self, *args: Any, **kwargs: Any) -> JobHandle:
        return enqueue(self.job, args, kwargs)

    def schedule(self, args: tuple = (), kwargs: dict | None = None, *, eta: float | None = None,
                 delay: float | None = None, queue: str | None = None) -> JobHandle:
        """Enqueue to run at unix time ``eta`` or ``delay`` seconds from now (or on another queue)."""
        return enqueue(self.job, args, kwargs, eta=eta, delay=delay, queue=queue)

    def call_local(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function here and now, without the queue."""
        return self.job.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<queue_command {self.job.name}>"


def queue_command(func: Callable[..., Any] | None = None, *, name: str | None = None,
                  queue: str | None = None, retries: int | None = None,
                  retry_delay: float | None = None, retry_backoff: float | None = None,
                  result: bool | None = None, timeout: float | None = None) -> Any:
    """Make calling ``func`` enqueue it. Bare (``@queue_command``) or with options.

    The job name is ``module.function`` (``myapp.commands.churn_data``) unless
    ``name=`` is given; consumers find it there, so keep the function in a
    module that autodiscovery imports (``commands.py``). ``retries``,
    ``retry_delay`` (s) and ``retry_backoff`` (multiplier) default to
    ``DJWORKERS["QUEUE"]["RETRIES"]`` etc.; ``queue`` to ``QUEUE["NAME"]``.
    ``result=True`` stores what the job returns or raises (``QUEUE["RESULTS"]``
    for every job); ``timeout`` (s) limits its run time (``QUEUE["TIMEOUT"]``).
    ``async def`` functions work too: the consumer runs the coroutine to completion.
    """
    options = {"queue": queue, "retries": retries, "retry_delay": retry_delay,
               "retry_backoff": retry_backoff, "result": result, "timeout": timeout}

    def decorate(function: Callable[..., Any]) -> QueueCommandFunction:
        if not callable(function):
            raise TypeError(f"@queue_command decorates a function, got {function!r}.")
        return QueueCommandFunction(_declare(function, name, options))

    return decorate(func) if func is not None else decorate


class QueueCommand:
    """The class-based form (djutils heritage): subclass, implement :meth:`execute`.

    Subclasses register themselves under ``module.ClassName`` when defined.
    ``MyCommand(data).enqueue()`` queues it; the consumer rebuilds
    ``MyCommand(data)`` and calls ``execute()``. ``data`` must be serializable.
    Class attributes ``queue``, ``retries``, ``retry_delay``, ``retry_backoff``,
    ``result``, ``timeout`` set the job's options; ``abstract = True`` on an intermediate base class
    keeps it out of the registry.
    """

    queue: str | None = None
    retries: int | None = None
    retry_delay: float | None = None
    retry_backoff: float | None = None
    result: bool | None = None
    timeout: float | None = None
    abstract = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return

        def run(data: Any = None) -> Any:
            return cls(data).execute()

        run.__module__, run.__qualname__, run.__name__ = cls.__module__, cls.__qualname__, cls.__name__
        options = {key: getattr(cls, key) for key in Job.OPTION_NAMES}
        cls.job = _declare(run, f"{cls.__module__}.{cls.__qualname__}", options)

    def __init__(self, data: Any = None):
        self.data = data

    def get_data(self) -> Any:
        return self.data

    def set_data(self, data: Any) -> None:
        self.data = data

    def execute(self) -> Any:
        """The work. Runs in the consumer with ``self.data`` as enqueued."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement execute().")

    def enqueue(self, *, eta: float | None = None, delay: float | None = None) -> JobHandle:
        return enqueue(type(self).job, (self.data,), eta=eta, delay=delay)


class Invoker:
    """``invoker.enqueue(MyCommand(data))``: the djutils spelling, kept for old call sites."""

    def enqueue(self, command: QueueCommand) -> JobHandle:
        return command.enqueue()


invoker = Invoker()
