"""``GearmanClient``: submit jobs with any arguments, get their values back (G4, G5, G6).

What it adds to gearmand's protocol:

* arguments: positional ``data``, ``args=[...]``, ``kwargs={...}`` and plain
  keywords, packed into the core's signed :class:`~djworkers.messages.Message`
  (workers reject unsigned or tampered frames);
* the answer: a foreground call returns the job's value, or raises
  :class:`GearmanJobError` naming what the job raised, :class:`GearmanTimeout`
  after ``poll_timeout``, :class:`GearmanUnavailable` when no server answers;
* safety: each thread (and each process after a fork) has its own connection,
  and a connection that timed out is closed, so a late answer is never taken
  for the next call's.

It speaks the client half of the protocol itself (:mod:`.protocol` says why);
workers use pygearman.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Sequence
from typing import Any

from .. import conf
from ..messages import Message, encode
from ..registry import registry
from . import library, protocol, results
from .decorators import DOOR
from .errors import GearmanJobError, GearmanTimeout, GearmanUnavailable
from .naming import server_name

#: The keywords django-gearman (and pygearman's submit_job) reserve; pass a job
#: argument with one of these names through ``kwargs={...}``.
RESERVED = ("data", "unique", "priority", "background", "wait_until_complete", "max_retries", "poll_timeout")

PRIORITIES = {None: None, "normal": None, "low": "LOW", "high": "HIGH", "LOW": "LOW", "HIGH": "HIGH", "NORMAL": None}

_MISSING: Any = object()

#: The options of a foreground job: the caller receives its error, so it is never retried
#: (set here so the worker need not copy the message to add it).
_FOREGROUND = {"foreground": True, "no_retry": True}


def _queue_of(name: str) -> str:
    """The queue of job ``name`` when it is a Gearman job registered here (the worker sets it otherwise)."""
    if name in registry:
        job = registry.get(name)
        if job.door == DOOR:
            return job.queue or ""
    return ""


def pack_arguments(
    name: str, data: Any, args: Sequence[Any] | None, kwargs: dict[str, Any] | None, extra: dict[str, Any]
) -> tuple[tuple, dict]:
    """The job's positional and keyword arguments, by the rules of django-gearman's README.

    ``data`` (given, even falsy or None) is the single positional argument; it
    and ``args`` exclude each other. Keywords not reserved become job keyword
    arguments, merged with ``kwargs`` (a name in both is an error).
    """
    if args is None and kwargs is None:  # the common case, kept cheap
        return ((data,) if data is not _MISSING else ()), extra
    if data is not _MISSING and args is not None:
        raise TypeError(f"submit_job({name!r}): pass the job's arguments either as data or as args=[...], not both.")
    if args is not None and (isinstance(args, (str, bytes, dict)) or not isinstance(args, Sequence)):
        raise TypeError(f"submit_job({name!r}): args must be a list or tuple, got {type(args).__name__}.")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError(f"submit_job({name!r}): kwargs must be a dict, got {type(kwargs).__name__}.")
    positional = (data,) if data is not _MISSING else tuple(args or ())
    keywords = dict(kwargs or {})
    clash = sorted(set(keywords) & set(extra))
    if clash:
        raise TypeError(f"submit_job({name!r}): {', '.join(clash)} given both as a keyword and in kwargs.")
    keywords.update(extra)
    return positional, keywords


class SubmittedJob:
    """A foreground job submitted with ``wait_until_complete=False``: :meth:`result` waits for it."""

    def __init__(self, client: GearmanClient, name: str, handle: bytes, connection: protocol.Connection):
        self.client, self.name, self._handle, self._connection = client, name, handle, connection

    @property
    def handle(self) -> str:
        return self._handle.decode("utf-8", "replace")

    def result(self, poll_timeout: float | None = None) -> Any:
        """Wait for the job (in the thread that submitted it) and return its value."""
        deadline = None if poll_timeout is None else time.monotonic() + poll_timeout
        return self.client._wait(self._connection, self.name, self._handle, deadline, poll_timeout)


class GearmanClient:
    """Submits jobs to the servers of ``DJWORKERS["GEARMAN"]["SERVERS"]`` (or ``servers``).

    Safe to share between threads: each thread uses its own connection.
    """

    def __init__(self, servers: Sequence[Any] | None = None):
        self._servers = library.server_list(list(servers)) if servers is not None else None
        self._local = threading.local()
        self._parsed: tuple[Any, list[tuple[str, int]]] | None = None

    @property
    def servers(self) -> list[tuple[str, int]]:
        if self._servers is not None:
            return self._servers
        raw = conf.section("GEARMAN")["SERVERS"]
        parsed = self._parsed
        if parsed is None or parsed[0] is not raw:  # parse once per settings object, not per call
            parsed = self._parsed = (raw, library.server_list(raw))
        return parsed[1]

    # -- the connection of this thread ----------------------------------------------
    def _connection(self, attempts: int, name: str = "") -> tuple[protocol.Connection, bool]:
        """This thread's connection (opened on first use): ``(connection, fresh)``."""
        local = self._local
        servers = self.servers
        connection = getattr(local, "connection", None)
        if connection is not None and local.pid == os.getpid() and local.servers == servers:
            return connection, False
        self.reset()
        order = list(servers)
        random.shuffle(order)  # spread threads and processes over the servers
        errors = []
        for attempt in range(max(attempts, len(order))):  # every server at least once
            host, port = order[attempt % len(order)]
            try:
                connection = protocol.Connection(host, port)
            except OSError as exc:
                errors.append(f"{host}:{port}: {exc}")
                continue
            local.connection, local.pid, local.servers = connection, os.getpid(), servers
            return connection, True
        raise GearmanUnavailable(
            f"Could not submit job {name!r}: no gearmand of {self._describe_servers()} "
            f"accepts connections ({'; '.join(errors)})."
        )

    def reset(self) -> None:
        """Close and forget this thread's connection (after a timeout or a lost server)."""
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None and self._local.pid == os.getpid():  # never close a parent's socket
            connection.close()

    # -- submitting -----------------------------------------------------------------
    def submit_job(
        self,
        name: str,
        data: Any = _MISSING,
        /,
        *more: Any,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        unique: Any = None,
        priority: Any = None,
        background: bool = False,
        wait_until_complete: bool = True,
        max_retries: int = 0,
        poll_timeout: float | None = None,
        **job_kwargs: Any,
    ) -> Any:
        """Run the job ``name`` on a worker.

        Foreground (default): returns the job's return value. ``background=True``:
        returns the gearmand job handle at once. ``wait_until_complete=False``:
        returns a :class:`SubmittedJob`. ``max_retries``: further connection
        attempts (to the next server) when one fails. See :data:`RESERVED`.
        """
        if more:
            raise TypeError(
                f"submit_job({name!r}, ...) takes one positional data argument; pass several as "
                f"args=[...] (e.g. args={[data, *more]!r})."
            )
        if "data" in job_kwargs:
            if data is not _MISSING:
                raise TypeError(f"submit_job({name!r}): data given twice.")
            data = job_kwargs.pop("data")
        positional, keywords = pack_arguments(name, data, args, kwargs, job_kwargs)
        message = Message(
            name=name,
            args=positional,
            kwargs=keywords,
            queue=_queue_of(name),
            options={} if background else dict(_FOREGROUND),
        )
        return self.submit_message(
            message,
            unique=unique,
            priority=priority,
            background=background,
            wait_until_complete=wait_until_complete,
            max_retries=max_retries,
            poll_timeout=poll_timeout,
        )

    def dispatch_background_task(
        self, name: str, data: Any = _MISSING, /, *, unique: Any = None, priority: Any = None, **submit_options: Any
    ) -> str:
        """Submit ``name`` as a real background job (G6) and return its gearmand handle."""
        return self.submit_job(name, data, unique=unique, priority=priority, background=True, **submit_options)

    def submit_message(
        self,
        message: Message,
        *,
        unique: Any = None,
        priority: Any = None,
        background: bool = True,
        wait_until_complete: bool = True,
        max_retries: int = 0,
        poll_timeout: float | None = None,
    ) -> Any:
        """Send a built message (the worker's retries and replay use this too)."""
        try:
            level = PRIORITIES[priority]
        except (KeyError, TypeError):
            raise ValueError(f"priority must be one of 'low', 'normal', 'high' (or None), got {priority!r}.") from None
        if unique is None:
            unique_bytes = message.id.encode()  # random: no coalescing unless the caller asks
        else:
            unique_bytes = unique if isinstance(unique, bytes) else str(unique).encode("utf-8")
        frame = encode(message)
        function = server_name(message.name).encode("utf-8")
        deadline = None if poll_timeout is None else time.monotonic() + poll_timeout
        handle, connection = self._submit(
            message.name, function, unique_bytes, frame, background, level, deadline, poll_timeout, max_retries
        )
        if background:
            return handle.decode("utf-8", "replace")
        if not wait_until_complete:
            return SubmittedJob(self, message.name, handle, connection)
        return self._wait(connection, message.name, handle, deadline, poll_timeout)

    def _submit(
        self,
        name: str,
        function: bytes,
        unique: bytes,
        frame: bytes,
        background: bool,
        priority: str | None,
        deadline: float | None,
        poll_timeout: float | None,
        max_retries: int,
    ) -> tuple[bytes, protocol.Connection]:
        attempts = max(0, int(max_retries)) + 1
        while True:
            connection, fresh = self._connection(attempts, name)
            try:
                return connection.submit(
                    function, unique, frame, background=background, priority=priority, deadline=deadline
                ), connection
            except TimeoutError:
                self.reset()
                raise GearmanTimeout(
                    f"Gearman job {name!r} was not accepted within {poll_timeout}s (poll_timeout)."
                ) from None
            except (OSError, protocol.ProtocolError) as exc:
                self.reset()
                # A kept connection that the server closed (a gearmand restart) is retried once
                # on a new one; the job was not accepted, since no JOB_CREATED came back.
                if not fresh and not isinstance(exc, protocol.ProtocolError):
                    continue
                attempts -= 1
                if attempts > 0:
                    continue
                raise GearmanUnavailable(
                    f"Could not submit job {name!r} to gearmand at {self._describe_servers()}: {exc}"
                ) from exc

    def _wait(
        self,
        connection: protocol.Connection,
        name: str,
        handle: bytes,
        deadline: float | None,
        poll_timeout: float | None,
    ) -> Any:
        try:
            kind, parts = connection.wait(handle, deadline)
        except TimeoutError:
            self.reset()  # the late answer must not reach the next call
            raise GearmanTimeout(
                f"Gearman job {name!r} was not answered within {poll_timeout}s (poll_timeout)."
            ) from None
        except (OSError, protocol.ProtocolError) as exc:
            self.reset()
            raise GearmanUnavailable(f"Lost gearmand while waiting for job {name!r}: {exc}") from exc
        if kind == protocol.WORK_COMPLETE:
            return results.read(name, parts[1])
        if kind == protocol.WORK_EXCEPTION:
            raise GearmanJobError(name, "WorkException", parts[1].decode("utf-8", "replace"))
        raise GearmanJobError(name, "WorkFail", "the worker reported a failure without details (WORK_FAIL)")

    def _describe_servers(self) -> str:
        try:
            return ", ".join(f"{host}:{port}" for host, port in self.servers)
        except Exception:
            return "(invalid SERVERS)"


_default: GearmanClient | None = None
_default_lock = threading.Lock()


def default_client() -> GearmanClient:
    """A process-wide client on the configured servers (connections are per thread anyway)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = GearmanClient()
        return _default


def submit_job(name: str, *args: Any, **kwargs: Any) -> Any:
    """``default_client().submit_job(...)``."""
    return default_client().submit_job(name, *args, **kwargs)


def dispatch_background_task(name: str, *args: Any, **kwargs: Any) -> str:
    """``default_client().dispatch_background_task(...)``."""
    return default_client().dispatch_background_task(name, *args, **kwargs)
