"""The thread worker's pool (S3): chains handed to the most recently idle thread, results to the loop.

Why not ``loop.run_in_executor`` on a ``ThreadPoolExecutor``:

* Its idle threads all wait on one queue and the longest idle one wakes first,
  so chains awaited one at a time rotate through every thread of a prestarted
  pool, each with its own database connection (on PostgreSQL its own server
  process), all of them cold: that cost up to half again the lookup. Here the
  thread that finished last takes the next chain, so a quiet loop keeps one
  thread and one connection busy and warm, and threads that are not needed
  never open a connection; a busy one still gets every thread.
* Each call builds a ``concurrent.futures.Future`` (with its condition and
  lock) and chains it to an asyncio future. Here the pool thread hands its
  outcome straight to the loop's future with ``call_soon_threadsafe``.

A chain whose future was cancelled (its timeout expired, its task was
cancelled) before a thread took it never runs. The threads are daemons: at
interpreter exit a chain still running is abandoned, as its caller's loop is
gone by then.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()

#: (function, its argument, the loop awaiting it, the future to resolve)
Item = tuple[Callable[[Any], Any], Any, asyncio.AbstractEventLoop, asyncio.Future]


class ChainPool:
    """``size`` threads, started by a helper thread, never by the event loop's thread.

    ``Thread.start`` waits for the new thread to run: on a busy machine a few
    milliseconds, which the loop would lag by if it started them itself.
    ``on_start`` runs first in each thread.
    """

    def __init__(self, size: int, name: str, on_start: Callable[[], None] | None = None):
        self.size = size
        self.name = name
        self._on_start = on_start
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue] = []  # a stack of the idle threads' mailboxes: last idle first
        self._backlog: collections.deque[Item] = collections.deque()  # items no thread was idle for
        self._closed = False
        threading.Thread(target=self._start_threads, daemon=True, name=f"{name}-start").start()

    def submit(self, function: Callable[[Any], Any], argument: Any) -> asyncio.Future:
        """Run ``function(argument)`` in a pool thread; a future of the running loop with its outcome."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        item = (function, argument, loop, future)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self.name} pool is shut down")
            if not self._idle:
                self._backlog.append(item)
                return future
            mailbox = self._idle.pop()
        mailbox.put(item)
        return future

    def shutdown(self, cancel_pending: bool = True) -> None:
        """Stop the threads once they are done with their chains; pending chains are cancelled or still run."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            pending = list(self._backlog) if cancel_pending else []
            if cancel_pending:
                self._backlog.clear()
        for mailbox in idle:
            mailbox.put(_STOP)
        for _, _, loop, future in pending:
            _call_in(loop, future.cancel)

    def _start_threads(self) -> None:
        for number in range(self.size):
            if self._closed:
                return
            threading.Thread(target=self._serve, daemon=True, name=f"{self.name}_{number}").start()

    def _serve(self) -> None:
        if self._on_start is not None:
            self._on_start()
        mailbox: queue.SimpleQueue = queue.SimpleQueue()
        item = self._next(mailbox)
        while item is not None:
            if item is _STOP:
                return
            if item is _WAIT:
                item = mailbox.get()
                continue
            deliver = _run(item)
            # Idle again (or on to the backlog) before the caller hears of the result: the chain it
            # awaits next comes to this thread, which the last one left warm.
            item = self._next(mailbox)
            if deliver is not None:
                deliver()

    def _next(self, mailbox: queue.SimpleQueue) -> Any:
        """The next item from the backlog, ``_WAIT`` (now idle: wait for the mailbox), or None to stop."""
        with self._lock:
            if self._backlog:
                return self._backlog.popleft()
            if self._closed:
                return None
            self._idle.append(mailbox)
            return _WAIT


_WAIT = object()


def _run(item: Item) -> Callable[[], None] | None:
    """Run an item; what hands its outcome to the awaiting loop (None if its future was cancelled)."""
    function, argument, loop, future = item
    if future.cancelled():  # its time ran out, or its caller gave up, while it waited for a thread
        return None
    try:
        value = function(argument)
    except BaseException as exc:  # the chain's own exception, delivered to its caller
        return functools.partial(_call_in, loop, _deliver, future, None, exc)
    return functools.partial(_call_in, loop, _deliver, future, value, None)


def _call_in(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the loop is closed: nobody awaits this chain any more
        pass


def _deliver(future: asyncio.Future, value: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(value)
    elif isinstance(error, StopIteration):  # a future refuses it (it would end the awaiting coroutine)
        future.set_exception(RuntimeError(f"the chain raised {error!r}"))
    else:
        future.set_exception(error)
