"""The queue front door: ``@queue_command``, ``QueueCommand``, and enqueueing (Q1, Q2, Q7).

Calling a decorated function builds a :class:`~djworkers.messages.Message`,
encodes it (serialized and signed) and writes the bytes to the configured
backend. Nothing here runs jobs: consumers hand frames to the core executor,
and eager mode calls that same executor inline.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

from asgiref.sync import sync_to_async
from django.core.exceptions import SynchronousOnlyOperation
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, transaction

from .. import conf, signals
from ..exceptions import ResultsNotEnabled, ResultTimeout
from ..framing import Framer
from ..messages import Message, decode, encode
from ..registry import Job, registry
from ..results.record import QUEUED, SUCCEEDED
from ..runtime.executor import Executor, Outcome
from ..runtime.process import current_pid
from ..serializers import get_serializer
from .backends import backend_class
from .backends.base import QueueBackend, TrackedFrame

P = ParamSpec("P")
R = TypeVar("R")

DOOR = "queue"

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
    key = (current_pid(), (queues,) if isinstance(queues, str) else tuple(queues or [default_queue()]))
    backend = _backends.get(key)  # built already: no lock (every enqueue comes here)
    if backend is not None:
        return backend
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
        _framers.clear()
    for backend in backends:
        try:
            backend.close()
        except Exception:  # a backend that cannot close cleanly must not break settings changes
            pass


def door_legacy_names() -> set[str]:
    from .door import door

    return set(door.legacy_settings)


def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting in ("DJWORKERS", "DATABASES") or setting in door_legacy_names():
        reset_backends()


setting_changed.connect(_on_setting_changed, dispatch_uid="djworkers.queue.reset_backends")


@dataclasses.dataclass(frozen=True)
class JobHandle:
    """What calling a queue command returns.

    ``id`` identifies the job in logs, signals and the failed-job store, and
    cancels it (:meth:`cancel`). For a unique command whose twin was already
    queued, ``id`` is the twin's. When the job stores its result
    (``@queue_command(result=True)`` or ``QUEUE["RESULTS"]``, Q12),
    :attr:`status`, :meth:`get` and :meth:`aget` read it from the backend's
    result store, from any process (:func:`get_result`). In eager mode
    ``result`` holds the return value (the job already ran).
    """

    id: str
    name: str
    queue: str
    eta: float | None = None
    eager: bool = False
    result: Any = None
    stores_result: bool = False

    @classmethod
    def of(cls, id: str, name: str, queue: str, eta: float | None, stores_result: bool) -> JobHandle:
        """The handle of a job just queued, its fields set at once: a frozen dataclass's
        ``__init__`` sets each through ``object.__setattr__`` (~2 µs of every enqueue)."""
        handle = object.__new__(cls)
        handle.__dict__.update(
            id=id, name=name, queue=queue, eta=eta, eager=False, result=None, stores_result=stores_result
        )
        return handle

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
            raise ResultTimeout(
                f"Job {self.name or self.id} [{self.id}] has no result after {timeout:g}s "
                f"(is a consumer running for queue {self.queue!r}?)."
            )
        if record.status == SUCCEEDED:
            return record.value
        raise record.error()

    async def aget(self, timeout: float | None = None) -> Any:
        """:meth:`get` for async code: waits in a worker thread, not on the event loop."""
        from asgiref.sync import sync_to_async

        return await sync_to_async(self.get, thread_sensitive=False)(timeout)

    def cancel(self) -> bool:
        """Cancel the job if it has not started (Q14); see :func:`cancel`."""
        return cancel(self.id, queue=self.queue)

    async def acancel(self) -> bool:
        """:meth:`cancel` for async code."""
        return await sync_to_async(self.cancel, thread_sensitive=True)()


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


#: Job priorities are stored in a SmallIntegerField by the database backend.
PRIORITY_RANGE = (-32768, 32767)


def check_priority(priority: Any, job_name: str) -> int:
    """``priority`` as an int, or a ValueError naming the job (Q14)."""
    low, high = PRIORITY_RANGE
    if not isinstance(priority, int) or isinstance(priority, bool) or not low <= priority <= high:
        raise ValueError(
            f"Job {job_name!r}: priority must be an int from {low} to {high} (higher runs first), got {priority!r}."
        )
    return priority


def check_unique(unique: Any, job_name: str) -> bool | Callable[..., Any]:
    """``unique`` as True/False or the key function, or a TypeError naming the job (Q14)."""
    if callable(unique):
        return unique
    if unique is None or isinstance(unique, bool):
        return bool(unique)
    raise TypeError(
        f"Job {job_name!r}: unique must be True, False or a key function taking the job's arguments, got {unique!r}."
    )


def unique_key(job_name: str, queue: str, args: tuple, kwargs: dict, unique: bool | Callable[..., Any]) -> str | None:
    """The key two enqueues of the same unique job share (a SHA-256 hex digest), or None.

    ``unique=True``: the job name, queue and arguments as the configured serializer
    writes them (arguments that compare equal must serialize to the same bytes).
    A key function: its return value, ``str()``-ed, with the job name and queue.
    """
    if not unique:
        return None
    if callable(unique):
        material = f"{job_name}\0{queue}\0{unique(*args, **kwargs)}".encode()
    else:
        material = get_serializer().dumps([job_name, queue, list(args), sorted(kwargs.items())])
    return hashlib.sha256(material).hexdigest()


def enqueue_on_commit(backend: QueueBackend, on_commit: bool | None) -> bool:
    """Whether to write at the commit of the current transaction (Q15).

    The per-call ``on_commit`` wins; else ``QUEUE["ENQUEUE_ON_COMMIT"]``; ``None``
    there means the backend's ``on_commit_default``: True for Redis (consumers see a
    push at once), False for the database backend (its INSERT goes through the
    caller's connection, so it already commits or rolls back with the caller's
    transaction) and for the in-process memory backend (tests).
    """
    if on_commit is None:
        on_commit = conf.section("QUEUE")["ENQUEUE_ON_COMMIT"]
    if on_commit is None:
        on_commit = backend.on_commit_default
    return bool(on_commit)


def commit_alias(backend: QueueBackend) -> str:
    """The database alias whose transaction a deferred write waits for."""
    return getattr(backend, "alias", None) or DEFAULT_DB_ALIAS


def enqueue_message(message: Message, *, unique: str | None = None, on_commit: bool | None = None) -> str:
    """Write ``message`` to its queue on the configured backend and return the id of
    the job now queued for it (another's for a ``unique`` key already queued).

    The transport-level entry point: replay (``djworkers_failed --replay``) and
    other front doors call it. Sends ``job_enqueued`` for a job actually written.
    A message's priority travels in ``options["priority"]`` (so a replay keeps it).
    """
    return enqueue_messages([message], unique_keys=[unique], on_commit=on_commit)[0]


def enqueue_messages(
    messages: Sequence[Message], *, unique_keys: Sequence[str | None] | None = None, on_commit: bool | None = None
) -> list[str]:
    """Write messages that share queue, eta and priority in one backend call (``write_jobs``).

    Encodes first, so an argument that cannot be serialized raises here even when
    the write itself waits for the transaction's commit (``on_commit``). Deferred,
    the ids returned are the messages' own (a unique twin is only known at commit).
    """
    if not messages:
        return []
    first = messages[0]
    tracked = [
        TrackedFrame(encode(m), m.id, key)
        for m, key in zip(messages, unique_keys or [None] * len(messages), strict=True)
    ]
    backend = get_backend(first.queue)

    def announce(ids: list[str]) -> None:
        for message, job_id in zip(messages, ids, strict=True):
            if job_id == message.id:
                _announce(message, backend.backend)

    priority = int(first.options.get("priority", 0))
    return _write(backend, tracked, first.queue, first.eta, priority, on_commit, announce, first.name)


def _write(
    backend: QueueBackend,
    tracked: list[TrackedFrame],
    queue: str,
    eta: float | None,
    priority: int,
    on_commit: bool | None,
    announce: Callable[[list[str]], None] | None,
    name: str,
) -> list[str]:
    """Write encoded jobs now, or at the commit of the caller's transaction (:func:`enqueue_on_commit`);
    ``announce(ids)`` sends ``job_enqueued`` for those actually written."""
    try:
        if enqueue_on_commit(backend, on_commit):
            alias = commit_alias(backend)
            if transaction.get_connection(alias).in_atomic_block:

                def write() -> None:
                    ids = backend.write_jobs(tracked, queue=queue, eta=eta, priority=priority)
                    if announce is not None:
                        announce(ids)

                transaction.on_commit(write, using=alias)
                return [job.job_id for job in tracked]
        # no transaction to wait for: write now (and learn a unique twin's id)
        ids = backend.write_jobs(tracked, queue=queue, eta=eta, priority=priority)
    except SynchronousOnlyOperation as exc:
        raise SynchronousOnlyOperation(
            f"Cannot enqueue {name}[{tracked[0].job_id}] synchronously from async code: the "
            f"{type(backend).__name__} writes through the Django database connection. "
            f"Use `await {name.rsplit('.', 1)[-1]}.aenqueue(...)` (or `.aschedule(...)`)."
        ) from exc
    if announce is not None:
        announce(ids)
    return ids


def _announce(message: Message, backend: str) -> None:
    """Send ``job_enqueued``; a raising receiver is logged, never raised: the job is
    already written, and a caller that retried the call would enqueue it twice."""
    for receiver, response in signals.job_enqueued.send_robust(sender=DOOR, message=message, backend=backend):
        if isinstance(response, Exception):
            logger.error("job_enqueued receiver %r raised for %s: %r", receiver, message.describe(), response)


def run_eagerly(message: Message) -> Any:
    """``ALWAYS_EAGER``: round-trip through encode/decode (so an argument that would not
    survive the queue fails here too), then run through the core executor once.

    The job's exception propagates to the caller, as a test wants; nothing is
    recorded in the failed-job store and there are no retries.
    """
    copy = decode(encode(message))
    copy = copy.replace(options={**copy.options, "no_retry": True})
    _announce(copy, "eager")
    result = Executor(DOOR, "eager", record_failures=False).run(copy)
    if result.outcome is not Outcome.SUCCEEDED:
        assert result.exception is not None
        raise result.exception
    return result.value


def _eta(job: Job, eta: float | None, delay: float | None) -> float | None:
    if eta is not None and delay is not None:
        raise TypeError(f"Job {job.name!r}: give eta or delay, not both.")
    return time.time() + delay if delay is not None else eta


def _options(job: Job, priority: int) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if priority:
        options["priority"] = priority
    if wants_result(job):
        options["result"] = True
    return options


def _message(
    job: Job, args: tuple, kwargs: dict | None, eta: float | None, delay: float | None, queue: str | None, priority: int
) -> Message:
    return Message(
        name=job.name,
        args=tuple(args),
        kwargs=dict(kwargs or {}),
        queue=queue or job.queue or default_queue(),
        eta=_eta(job, eta, delay),
        options=_options(job, priority),
    )


_framers: dict[str, Framer] = {}


def framer(queue: str) -> Framer:
    """The :class:`~djworkers.framing.Framer` of ``queue``, made from the current settings
    (forgotten with the backends when settings change)."""
    found = _framers.get(queue)
    if found is None:
        found = _framers[queue] = Framer(queue)
    return found


def enqueue(
    job: Job,
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    eta: float | None = None,
    delay: float | None = None,
    queue: str | None = None,
    priority: int = 0,
    unique: bool | Callable[..., Any] = False,
    on_commit: bool | None = None,
) -> JobHandle:
    """Enqueue a registered job (or run it now under ``ALWAYS_EAGER``).

    ``priority``: higher runs first (Q14). ``unique``: see :func:`unique_key`.
    ``on_commit``: see :func:`enqueue_on_commit` (Q15). The frame is made by a
    :class:`~djworkers.framing.Framer` (no :class:`Message` unless a
    ``job_enqueued`` receiver needs one): the same bytes as ``encode(Message(...))``.
    """
    priority = check_priority(priority, job.name)
    if conf.section("QUEUE")["ALWAYS_EAGER"]:
        message = _message(job, args, kwargs, eta, delay, queue, priority)
        value = run_eagerly(message)
        stores = "result" in message.options
        return JobHandle(
            message.id, message.name, message.queue, message.eta, eager=True, result=value, stores_result=stores
        )
    eta = _eta(job, eta, delay)
    queue = queue or job.queue or default_queue()
    options = _options(job, priority)
    kwargs = kwargs or {}
    key = unique_key(job.name, queue, args, kwargs, unique)
    framing = framer(queue)
    message_id, enqueued_at, frame = framing.frame(job.name, args, kwargs, eta, options)
    backend = get_backend(queue)
    announce = None
    if signals.job_enqueued.receivers:  # the Message is built only for receivers

        def announce(ids: list[str]) -> None:
            if ids[0] == message_id:
                message = framing.message(job.name, args, kwargs, eta, message_id, enqueued_at, options)
                _announce(message, backend.backend)

    tracked = [TrackedFrame(frame, message_id, key)]
    (job_id,) = _write(backend, tracked, queue, eta, priority, on_commit, announce, job.name)
    return JobHandle.of(job_id, job.name, queue, eta, "result" in options)


def enqueue_many(
    job: Job,
    calls: Iterable[tuple[tuple, dict]],
    *,
    eta: float | None = None,
    delay: float | None = None,
    queue: str | None = None,
    priority: int = 0,
    unique: bool | Callable[..., Any] = False,
    on_commit: bool | None = None,
) -> list[JobHandle]:
    """Enqueue one job per ``(args, kwargs)`` in one backend call (``write_many``'s round
    trip; Q14 bulk). All share ``eta``/``delay``, ``queue`` and ``priority``."""
    priority = check_priority(priority, job.name)
    messages = [_message(job, args, kwargs, eta, delay, queue, priority) for args, kwargs in calls]
    if not messages:
        return []
    stores = "result" in messages[0].options
    if delay is not None:  # one eta for the batch, as the backends write it
        messages = [m.replace(eta=messages[0].eta) for m in messages]
    if conf.section("QUEUE")["ALWAYS_EAGER"]:
        return [
            JobHandle(m.id, m.name, m.queue, m.eta, eager=True, result=run_eagerly(m), stores_result=stores)
            for m in messages
        ]
    keys = [unique_key(job.name, m.queue, m.args, m.kwargs, unique) for m in messages]
    ids = enqueue_messages(messages, unique_keys=keys, on_commit=on_commit)
    return [
        JobHandle(job_id, m.name, m.queue, m.eta, stores_result=stores) for m, job_id in zip(messages, ids, strict=True)
    ]


def known_queues() -> list[str]:
    """``QUEUE["NAME"]`` and every queue a registered queue command names."""
    names = [default_queue()]
    for job in registry.by_door(DOOR):
        if job.queue and job.queue not in names:
            names.append(job.queue)
    return names


def cancel(job_id: str, *, queue: str | None = None) -> bool:
    """Cancel the job ``job_id`` if it has not started (queued or delayed): it will
    never run. Returns True if it was cancelled, False if it is running, finished,
    waiting for a retry, already cancelled or unknown (nothing is changed then).

    ``queue``: the job's queue (a handle knows it); default: every queue in
    :func:`known_queues`. Works from any process, on every built-in backend (Q14).
    """
    backend = get_backend([queue] if queue else known_queues())
    if not backend.supports_cancel:
        raise NotImplementedError(
            f"DJWORKERS['QUEUE']['BACKEND'] = {type(backend).__name__} cannot cancel jobs (it does not record job ids)."
        )
    cancelled = backend.cancel(job_id, queue=queue)
    if cancelled:
        logger.info("Cancelled job %s before it started", job_id)
        # Waiters on its result wake up: get() raises JobCancelled, status says "cancelled".
        backend.result_store().mark_cancelled(job_id, queue=queue or "")
    return cancelled


async def acancel(job_id: str, *, queue: str | None = None) -> bool:
    """:func:`cancel` for async code."""
    return await sync_to_async(cancel, thread_sensitive=True)(job_id, queue=queue)


def _declare(func: Callable[..., Any], name: str | None, options: dict[str, Any]) -> Job:
    job_name = name or f"{func.__module__}.{func.__qualname__}"
    return registry.register(Job.declare(job_name, func, DOOR, **options))


class QueueCommandFunction(Generic[P, R]):
    """A function decorated with ``@queue_command``: calling it enqueues it.

    Generic in the function's parameters (``ParamSpec``), so a type checker checks
    the arguments of ``f(...)``, ``f.aenqueue(...)`` and ``f.call_local(...)``.
    """

    def __init__(self, job: Job, *, priority: int = 0, unique: bool | Callable[..., Any] = False):
        self.job = job
        self.priority = check_priority(priority, job.name)
        self.unique = check_unique(unique, job.name)
        functools.update_wrapper(self, job.func)

    @property
    def name(self) -> str:
        return self.job.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        return enqueue(self.job, args, kwargs, priority=self.priority, unique=self.unique)

    async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        """Enqueue from async code (Q11): the write runs in Django's sync thread, where
        the database connection may be used, and is awaited."""
        return await sync_to_async(self.__call__, thread_sensitive=True)(*args, **kwargs)

    def schedule(
        self,
        args: tuple = (),
        kwargs: dict | None = None,
        *,
        eta: float | None = None,
        delay: float | None = None,
        queue: str | None = None,
        priority: int | None = None,
        on_commit: bool | None = None,
    ) -> JobHandle:
        """Enqueue with per-call options: to run at unix time ``eta`` or ``delay`` seconds
        from now, on another ``queue``, at another ``priority`` (higher first; default the
        command's), or ``on_commit`` (True: at the commit of the current transaction; False:
        now; default ``QUEUE["ENQUEUE_ON_COMMIT"]``)."""
        return enqueue(
            self.job,
            args,
            kwargs,
            eta=eta,
            delay=delay,
            queue=queue,
            priority=self.priority if priority is None else priority,
            unique=self.unique,
            on_commit=on_commit,
        )

    async def aschedule(self, args: tuple = (), kwargs: dict | None = None, **options: Any) -> JobHandle:
        """:meth:`schedule` for async code."""
        return await sync_to_async(self.schedule, thread_sensitive=True)(args, kwargs, **options)

    def map(
        self,
        iterable: Iterable[Any],
        *,
        eta: float | None = None,
        delay: float | None = None,
        queue: str | None = None,
        priority: int | None = None,
        on_commit: bool | None = None,
    ) -> list[JobHandle]:
        """Enqueue one job per item in one round trip (Q14 bulk); returns their handles.

        A tuple item is the positional arguments (``f.map([(1, 2), (3, 4)])``); any
        other item is the single argument (``f.map(range(10))``).
        """
        calls: list[tuple[tuple, dict]] = [(item if isinstance(item, tuple) else (item,), {}) for item in iterable]
        return enqueue_many(
            self.job,
            calls,
            eta=eta,
            delay=delay,
            queue=queue,
            priority=self.priority if priority is None else priority,
            unique=self.unique,
            on_commit=on_commit,
        )

    def call_local(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function here and now, without the queue."""
        return self.job.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<queue_command {self.job.name}>"


@overload
def queue_command(func: Callable[P, R], /) -> QueueCommandFunction[P, R]: ...


@overload
def queue_command(
    func: None = None,
    /,
    *,
    name: str | None = None,
    queue: str | None = None,
    retries: int | None = None,
    retry_delay: float | None = None,
    retry_backoff: float | None = None,
    priority: int = 0,
    unique: bool | Callable[..., Any] = False,
    result: bool | None = None,
    timeout: float | None = None,
) -> Callable[[Callable[P, R]], QueueCommandFunction[P, R]]: ...


def queue_command(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    queue: str | None = None,
    retries: int | None = None,
    retry_delay: float | None = None,
    retry_backoff: float | None = None,
    priority: int = 0,
    unique: bool | Callable[..., Any] = False,
    result: bool | None = None,
    timeout: float | None = None,
) -> Any:
    """Make calling ``func`` enqueue it. Bare (``@queue_command``) or with options.

    The job name is ``module.function`` (``myapp.commands.churn_data``) unless
    ``name=`` is given; consumers find it there, so keep the function in a
    module that autodiscovery imports (``commands.py``). ``retries``,
    ``retry_delay`` (s) and ``retry_backoff`` (multiplier) default to
    ``DJWORKERS["QUEUE"]["RETRIES"]`` etc.; ``queue`` to ``QUEUE["NAME"]``.
    ``priority``: an int from -32768 to 32767, higher runs first (Q14).
    ``unique``: True (key: name, queue and arguments) or a key function taking
    the job's arguments: enqueueing while an identical job is still queued returns
    that job's handle instead of queueing another (Q14).
    ``result=True`` stores what the job returns or raises (``QUEUE["RESULTS"]``
    for every job); ``timeout`` (s) limits its run time (``QUEUE["TIMEOUT"]``).
    ``async def`` functions work too: the consumer runs the coroutine to completion.
    """
    options = {
        "queue": queue,
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_backoff": retry_backoff,
        "result": result,
        "timeout": timeout,
    }

    def decorate(function: Callable[..., Any]) -> QueueCommandFunction[Any, Any]:
        if not callable(function):
            raise TypeError(f"@queue_command decorates a function, got {function!r}.")
        job_name = name or f"{function.__module__}.{function.__qualname__}"
        check_priority(priority, job_name)  # before registering: a bad option registers nothing
        check_unique(unique, job_name)
        return QueueCommandFunction(_declare(function, name, options), priority=priority, unique=unique)

    return decorate(func) if func is not None else decorate


class QueueCommand:
    """The class-based form (djutils heritage): subclass, implement :meth:`execute`.

    Subclasses register themselves under ``module.ClassName`` when defined.
    ``MyCommand(data).enqueue()`` queues it (``await ... .aenqueue()`` from async
    code); the consumer rebuilds ``MyCommand(data)`` and calls ``execute()``.
    ``data`` must be serializable. Class attributes ``queue``, ``retries``,
    ``retry_delay``, ``retry_backoff``, ``priority``, ``unique``, ``result`` and
    ``timeout`` set the job's options; ``abstract = True`` on an intermediate
    base class keeps it out of the registry.
    """

    queue: str | None = None
    retries: int | None = None
    retry_delay: float | None = None
    retry_backoff: float | None = None
    priority: int = 0
    unique: bool | Callable[..., Any] = False
    result: bool | None = None
    timeout: float | None = None
    abstract = True
    job: Job

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return

        def run(data: Any = None) -> Any:
            return cls(data).execute()

        run.__module__, run.__qualname__, run.__name__ = cls.__module__, cls.__qualname__, cls.__name__
        job_name = f"{cls.__module__}.{cls.__qualname__}"
        check_priority(cls.priority, job_name)
        check_unique(cls.unique, job_name)
        options = {key: getattr(cls, key) for key in Job.OPTION_NAMES}
        cls.job = _declare(run, job_name, options)

    def __init__(self, data: Any = None):
        self.data = data

    def get_data(self) -> Any:
        return self.data

    def set_data(self, data: Any) -> None:
        self.data = data

    def execute(self) -> Any:
        """The work. Runs in the consumer with ``self.data`` as enqueued."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement execute().")

    @classmethod
    def _unique(cls) -> bool | Callable[..., Any]:
        return cls.unique  # read on the class: a key function stays a plain function

    def enqueue(
        self,
        *,
        eta: float | None = None,
        delay: float | None = None,
        priority: int | None = None,
        on_commit: bool | None = None,
    ) -> JobHandle:
        return enqueue(
            type(self).job,
            (self.data,),
            eta=eta,
            delay=delay,
            priority=self.priority if priority is None else priority,
            unique=self._unique(),
            on_commit=on_commit,
        )

    async def aenqueue(self, **options: Any) -> JobHandle:
        """:meth:`enqueue` for async code (Q11)."""
        return await sync_to_async(self.enqueue, thread_sensitive=True)(**options)

    @classmethod
    def map(cls, data_items: Iterable[Any], **options: Any) -> list[JobHandle]:
        """Enqueue ``cls(data)`` for each item in one round trip (Q14 bulk)."""
        options.setdefault("priority", cls.priority)
        return enqueue_many(cls.job, [((data,), {}) for data in data_items], unique=cls._unique(), **options)


class Invoker:
    """``invoker.enqueue(MyCommand(data))``: the djutils spelling, kept for old call sites."""

    def enqueue(self, command: QueueCommand) -> JobHandle:
        return command.enqueue()


invoker = Invoker()
