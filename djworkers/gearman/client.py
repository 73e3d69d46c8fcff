"""``GearmanClient``: submit jobs with any arguments, get their values back (G4, G5, G6).

A thin layer over pygearman's client. What it adds:

* arguments: positional ``data``, ``args=[...]``, ``kwargs={...}`` and plain
  keywords, packed into the core's signed :class:`~djworkers.messages.Message`
  (workers reject unsigned or tampered frames);
* the answer: a foreground call returns the job's value, or raises
  :class:`GearmanJobError` naming what the job raised, :class:`GearmanTimeout`
  after ``poll_timeout``, :class:`GearmanUnavailable` when no server answers;
* safety: pygearman clients are not thread-safe, so each thread (and each
  process after a fork) gets its own; after a timeout that thread's client is
  dropped, because a late answer would otherwise be taken for the next call's.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from ..messages import Message, encode
from . import library, results
from .errors import GearmanJobError, GearmanTimeout, GearmanUnavailable
from .naming import server_name

#: The keywords django-gearman (and pygearman's submit_job) reserve; pass a job
#: argument with one of these names through ``kwargs={...}``.
RESERVED = ("data", "unique", "priority", "background", "wait_until_complete", "max_retries", "poll_timeout")

PRIORITIES = {None: None, "normal": None, "low": "LOW", "high": "HIGH", "LOW": "LOW", "HIGH": "HIGH",
              "NORMAL": None}

_MISSING: Any = object()


def pack_arguments(name: str, data: Any, args: Sequence[Any] | None, kwargs: dict[str, Any] | None,
                   extra: dict[str, Any]) -> tuple[tuple, dict]:
    """The job's positional and keyword arguments, by the rules of django-gearman's README.

    ``data`` (given, even falsy or None) is the single positional argument; it
    and ``args`` exclude each other. Keywords not reserved become job keyword
    arguments, merged with ``kwargs`` (a name in both is an error).
    """
    if data is not _MISSING and args is not None:
        raise TypeError(f"submit_job({name!r}): pass the job's arguments either as data or as args=[...], "
                        "not both.")
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

    def __init__(self, client: "GearmanClient", name: str, request: Any):
        self.client, self.name, self.request = client, name, request

    @property
    def handle(self) -> str:
        handle = self.request.job.handle
        return handle.decode() if isinstance(handle, bytes) else str(handle)

    def result(self, poll_timeout: float | None = None) -> Any:
        """Wait for the job (in the thread that submitted it) and return its value."""
        lowlevel = self.client._lowlevel()
        try:
            lowlevel.wait_until_jobs_completed([self.request], poll_timeout=poll_timeout)
        except Exception as exc:
            self.client.reset()
            raise GearmanUnavailable(f"Lost the gearmand connection waiting for {self.name!r}: {exc}") from exc
        return self.client._answer(self.name, self.request, poll_timeout)


class GearmanClient:
    """Submits jobs to the servers of ``DJWORKERS["GEARMAN"]["SERVERS"]`` (or ``servers``).

    Safe to share between threads: each thread uses its own connection.
    """

    def __init__(self, servers: Sequence[Any] | None = None):
        self._servers = library.server_list(list(servers)) if servers is not None else None
        self._local = threading.local()

    @property
    def servers(self) -> list[tuple[str, int]]:
        return self._servers if self._servers is not None else library.configured_servers()

    # -- the connection of this thread ----------------------------------------------
    def _lowlevel(self) -> Any:
        local = self._local
        client = getattr(local, "client", None)
        servers = self.servers
        # A fork copied the parent's socket (never share it); changed SERVERS need a new client.
        if client is None or local.pid != os.getpid() or local.servers != servers:
            client = library.gearman().GearmanClient(list(servers))
            local.client, local.pid, local.servers = client, os.getpid(), servers
        return client

    def reset(self) -> None:
        """Close and forget this thread's connection (after a timeout or a lost server)."""
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None and self._local.pid == os.getpid():
            try:
                client.shutdown()
            except Exception:
                pass

    # -- submitting -----------------------------------------------------------------
    def submit_job(self, name: str, data: Any = _MISSING, /, *more: Any, args: Sequence[Any] | None = None,
                   kwargs: dict[str, Any] | None = None, unique: Any = None, priority: Any = None,
                   background: bool = False, wait_until_complete: bool = True, max_retries: int = 0,
                   poll_timeout: float | None = None, **job_kwargs: Any) -> Any:
        """Run the job ``name`` on a worker.

        Foreground (default): returns the job's return value. ``background=True``:
        returns the gearmand job handle at once. ``wait_until_complete=False``:
        returns a :class:`SubmittedJob`. See :data:`RESERVED` for the keywords
        that configure the submission rather than the job.
        """
        if more:
            raise TypeError(f"submit_job({name!r}, ...) takes one positional data argument; pass several as "
                            f"args=[...] (e.g. args={[data, *more]!r}).")
        if "data" in job_kwargs:
            if data is not _MISSING:
                raise TypeError(f"submit_job({name!r}): data given twice.")
            data = job_kwargs.pop("data")
        positional, keywords = pack_arguments(name, data, args, kwargs, job_kwargs)
        options = {} if background else {"foreground": True}
        message = Message(name=name, args=positional, kwargs=keywords, queue="", options=options)
        return self.submit_message(message, unique=unique, priority=priority, background=background,
                                   wait_until_complete=wait_until_complete, max_retries=max_retries,
                                   poll_timeout=poll_timeout)

    def dispatch_background_task(self, name: str, data: Any = _MISSING, /, *, unique: Any = None,
                                 priority: Any = None, **submit_options: Any) -> str:
        """Submit ``name`` as a real background job (G6) and return its gearmand handle."""
        return self.submit_job(name, data, unique=unique, priority=priority, background=True, **submit_options)

    def submit_message(self, message: Message, *, unique: Any = None, priority: Any = None,
                       background: bool = True, wait_until_complete: bool = True, max_retries: int = 0,
                       poll_timeout: float | None = None) -> Any:
        """Send a built message (the worker's retries and replay use this too)."""
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of 'low', 'normal', 'high' (or None), got {priority!r}.")
        if unique is not None and not isinstance(unique, (str, bytes)):
            unique = str(unique)
        frame = encode(message)
        task = server_name(message.name).encode("utf-8")  # gearmand function names travel as bytes
        lowlevel = self._lowlevel()
        deadline = None if poll_timeout is None else time.monotonic() + poll_timeout
        try:
            # pygearman's own wait_until_complete does not wait at all when poll_timeout is None
            # (it returns as soon as the job is accepted): wait for completion here instead.
            request = lowlevel.submit_job(task, frame, unique=unique, priority=PRIORITIES[priority],
                                          background=background, wait_until_complete=False,
                                          max_retries=max_retries, poll_timeout=poll_timeout)
            if not background and wait_until_complete and not request.timed_out:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                lowlevel.wait_until_jobs_completed([request], poll_timeout=remaining)
        except Exception as exc:
            self.reset()
            if isinstance(exc, (OSError, library.gearman().errors.GearmanError)):
                raise GearmanUnavailable(f"Could not submit job {message.name!r} to gearmand at "
                                         f"{self._describe_servers()}: {exc}") from exc
            raise
        if request.timed_out:
            self.reset()
            raise GearmanTimeout(f"Gearman job {message.name!r} was not "
                                 f"{'accepted' if request.state != 'CREATED' else 'answered'} within "
                                 f"{poll_timeout}s (poll_timeout).")
        if background:
            handle = request.job.handle
            return handle.decode() if isinstance(handle, bytes) else handle
        if not wait_until_complete:
            return SubmittedJob(self, message.name, request)
        return self._answer(message.name, request, poll_timeout)

    def _answer(self, name: str, request: Any, poll_timeout: float | None) -> Any:
        if request.timed_out:
            self.reset()
            raise GearmanTimeout(f"Gearman job {name!r} was not answered within {poll_timeout}s (poll_timeout).")
        if request.state == "COMPLETE":
            return results.read(name, request.result)
        if request.state == "FAILED":
            raise GearmanJobError(name, "WorkFail", "the worker reported a failure without details (WORK_FAIL)")
        self.reset()
        raise GearmanUnavailable(f"Gearman job {name!r} ended in state {request.state} (connection lost?).")

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
