"""Where a postponed chain runs (S3): ``local``, ``thread``, ``http`` and ``queue``.

A worker is an object with a ``name`` and one coroutine, :meth:`Worker.run`,
which returns the chain's value or raises its exception (or a
:class:`~djworkers.slacker.exceptions.SlackerError` when the worker itself
failed). Workers are named by ``DJWORKERS["SLACKER"]["WORKER"]`` or per call
(``postpone(obj, worker="http")``); :func:`get_worker` turns a name into one.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.db import close_old_connections

from .. import conf
from ..exceptions import DjworkersImproperlyConfigured, InvalidMessage
from .chain import Chain, chain_of
from .exceptions import ChainRefused, SlackerError, SlackerHTTPError, SlackerTimeout
from .pool import ChainPool
from .wire import decode_result, encode_chain, evaluate


class PerLoop:
    """One value per running event loop, made by ``factory()`` on first use in that loop.

    Kept per thread (a thread runs one loop at a time) and replaced when the
    thread's loop changes, so a closed loop's objects are not kept alive: a
    Semaphore or an HTTP client refers to its loop, so a mapping keyed by the
    loop would never drop them.
    """

    def __init__(self, factory: Callable[[], Any]):
        self.factory = factory
        self._local = threading.local()

    def get(self, key: Any = None) -> Any:
        loop = asyncio.get_running_loop()
        entry = getattr(self._local, "entry", None)
        if entry is None or entry[0] is not loop or entry[1] != key:
            entry = self._local.entry = (loop, key, self.factory())
        return entry[2]


class LoopSlots:
    """A semaphore per event loop, as wide as a setting: how many chains a worker starts at once.

    Chains beyond it wait here, in the loop, costing nothing. Starting a hundred
    chains in one loop iteration would cost the loop a burst of work (a
    hundred requests set up, or a hundred executor submissions fighting the
    freshly woken pool threads for the GIL on every queue lock): tens of
    milliseconds of lag on a busy machine. This way each finished chain lets
    one more in.
    """

    def __init__(self, setting: str, factor: int = 1):
        self.setting = setting
        self.factor = factor
        self._size = 0
        self._semaphores = PerLoop(lambda: asyncio.Semaphore(self._size))

    def __call__(self) -> asyncio.Semaphore:
        self._size = int(conf.section("SLACKER")[self.setting]) * self.factor
        return self._semaphores.get(self._size)


class Worker:
    """Runs a chain somewhere and hands back its value. Subclass and set ``name``."""

    name: str = ""

    async def run(self, chain: Chain, timeout: float) -> Any:
        """The chain's value; its own exception if it raised; SlackerTimeout after ``timeout`` s."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class LocalWorker(Worker):
    """Runs the chain right here, in the event loop's thread, blocking it (tests, trivial chains).

    Django refuses ORM queries in a thread running an event loop
    (``SynchronousOnlyOperation``) unless ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set:
    that refusal is the reason the other workers exist.
    """

    name = "local"

    async def run(self, chain: Chain, timeout: float) -> Any:
        return evaluate(chain.execute())


def run_in_thread(chain: Chain) -> Any:
    """Run ``chain`` in a pool thread, then let Django close its connections as after a request.

    With the default ``CONN_MAX_AGE = 0`` the thread's database connections are
    closed after every chain, so an idle pool holds none; a persistent
    ``CONN_MAX_AGE`` is honoured like Django's request handling honours it, and
    a connection left unusable by an error is dropped. Once, after the chain:
    every chain ends with that check, so the next one on this thread starts on a
    connection checked when the last one ended (Django also checks at a
    request's start; here that would only repeat the check just made).
    """
    try:
        return evaluate(chain.execute())
    finally:
        close_old_connections()


class ThreadWorker(Worker):
    """A bounded pool of ``DJWORKERS["SLACKER"]["THREADS"]`` threads in this process.

    At most twice that many chains are handed to the pool at once (one running
    and one queued per thread), the others wait their turn in the loop (see
    :class:`LoopSlots`); one that times out while waiting never runs.
    """

    name = "thread"
    _lock = threading.Lock()
    #: (pool, size), replaced as a whole so a reader never pairs one pool with another's size.
    _current: tuple[ChainPool, int] | None = None

    @classmethod
    def pool(cls) -> ChainPool:
        size = int(conf.section("SLACKER")["THREADS"])
        current = cls._current
        if current is not None and current[1] == size:
            return current[0]  # every chain asks: no lock unless the pool is made or resized
        with cls._lock:
            current = cls._current
            if current is None or current[1] != size:
                if current is not None:
                    current[0].shutdown(cancel_pending=False)  # its chains still run
                # First use sets up the thread's connection handler, before any chain waits for it.
                pool = ChainPool(size, f"djworkers-{cls.name}", on_start=close_old_connections)
                current = cls._current = (pool, size)
            return current[0]

    @classmethod
    def shutdown(cls) -> None:
        """Stop the pool's threads once their chains are done; chains not started yet are cancelled."""
        with cls._lock:
            if cls._current is not None:
                cls._current[0].shutdown(cancel_pending=True)
            cls._current = None

    def __init__(self) -> None:
        # Twice the pool: a thread that finishes finds the next chain already queued instead of
        # idling until the loop comes round to hand it one.
        self._slot = LoopSlots("THREADS", factor=2)

    async def run(self, chain: Chain, timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pool = self.pool()
        slot = self._slot()
        if slot.locked():  # all slots taken: wait in the loop, within the timeout
            try:
                async with asyncio.timeout_at(deadline):
                    await slot.acquire()
            except TimeoutError:
                raise self._timeout(chain, timeout) from None
        else:
            await slot.acquire()  # returns at once
        try:
            # One timer that cancels the future, rather than asyncio.timeout's cancelling of the whole task
            # (a tenth of the worker's own cost per chain); a chain still queued when its time is up never runs.
            waiter = pool.submit(run_in_thread, chain)
            timer = loop.call_at(deadline, waiter.cancel, _EXPIRED)
            try:
                return await waiter
            except asyncio.CancelledError as exc:
                if exc.args != (_EXPIRED,):
                    raise  # the awaiting task was cancelled
                raise self._timeout(chain, timeout) from None
            finally:
                timer.cancel()
        finally:
            slot.release()

    @staticmethod
    def _timeout(chain: Chain, timeout: float) -> SlackerTimeout:
        return SlackerTimeout(f"{chain.describe()} did not finish within {timeout}s in the thread worker")


#: The cancel message of a thread worker's future whose chain ran out of time.
_EXPIRED = "djworkers.slacker: the chain's timeout expired"


def loop_time() -> float:
    return asyncio.get_running_loop().time()


def endpoint_url(server: str | None = None) -> str:
    """``DJWORKERS["SLACKER"]["SERVER"]``, completed with ``slacker/`` when it names only a host.

    The old ``SLACKER_SERVER`` held ``http://host:port``; the endpoint is where
    ``include("djworkers.slacker.urls")`` is mounted, ``/slacker/`` as documented.
    """
    server = server or conf.section("SLACKER")["SERVER"]
    if not server or not isinstance(server, str):
        raise DjworkersImproperlyConfigured(
            'The http worker needs DJWORKERS["SLACKER"]["SERVER"], the URL of the slacker endpoint '
            '(e.g. "http://127.0.0.1:8000/slacker/").'
        )
    if "://" not in server:
        server = "http://" + server
    if urlsplit(server).path in ("", "/"):
        server = server.rstrip("/") + "/slacker/"
    return server


class HttpWorker(Worker):
    """POSTs the signed chain to the Django endpoint with Tornado's ``AsyncHTTPClient``.

    Each event loop gets its own client; at most
    ``DJWORKERS["SLACKER"]["HTTP_MAX_CLIENTS"]`` requests are open at once, the
    other chains wait their turn (see :class:`LoopSlots`) within their timeout.
    """

    name = "http"

    def __init__(self, server: str | None = None):
        self.server = server
        self._slot = LoopSlots("HTTP_MAX_CLIENTS")
        self._clients = PerLoop(self._new_client)

    @staticmethod
    def _new_client() -> Any:
        from tornado.httpclient import AsyncHTTPClient

        return AsyncHTTPClient(force_instance=True, max_clients=int(conf.section("SLACKER")["HTTP_MAX_CLIENTS"]))

    def _client(self) -> Any:
        return self._clients.get()

    async def run(self, chain: Chain, timeout: float) -> Any:
        from tornado.httpclient import HTTPClientError, HTTPRequest

        url = endpoint_url(self.server)
        started = loop_time()
        try:
            async with asyncio.timeout(timeout):
                async with self._slot():
                    left = max(0.001, timeout - (loop_time() - started))
                    request = HTTPRequest(
                        url,
                        method="POST",
                        body=encode_chain(chain),
                        headers={"Content-Type": "application/octet-stream"},
                        connect_timeout=left,
                        request_timeout=left,
                        follow_redirects=False,
                    )
                    response = await self._client().fetch(request)
        except TimeoutError:
            raise SlackerTimeout(f"{url} did not answer {chain.describe()} within {timeout}s") from None
        except HTTPClientError as exc:
            if exc.code == 599:
                message = f"{url} did not answer {chain.describe()} within {timeout}s ({exc})"
                raise SlackerTimeout(message) from None
            detail = (
                exc.response.body[:300].decode("utf-8", "replace")
                if exc.response is not None and exc.response.body
                else exc.message or ""
            )
            if exc.code == 403:
                raise ChainRefused(
                    f"{url} refused the chain (403: {detail}). Does the server sign with "
                    "the same SIGNING_KEY/SECRET_KEY, and do the clocks agree within "
                    'DJWORKERS["SLACKER"]["MAX_AGE"]?',
                    403,
                ) from None
            raise SlackerHTTPError(
                f"{url} answered HTTP {exc.code} to {chain.describe()}: {detail}", exc.code
            ) from None
        except OSError as exc:
            raise SlackerHTTPError(f"cannot reach the slacker endpoint {url}: {exc}") from None
        try:
            status, value = decode_result(response.body)
        except InvalidMessage as exc:
            raise SlackerError(
                f"{url} answered with a frame that is not a signed slacker result ({exc}); "
                "is the endpoint mounted at that URL?"
            ) from None
        if status == "error":
            raise value
        return value


class QueueThreads(ThreadWorker):
    """The queue worker's own pool (same size as the thread worker's): it writes jobs and waits for
    their results, so waiting chains never take the thread worker's threads."""

    name = "queue-threads"
    _lock = threading.Lock()
    _current = None


class QueueWorker(Worker):
    """Sends the chain as a job of the queue door and awaits its result from the result store.

    A ``queue_consumer`` (of ``DJWORKERS["SLACKER"]["QUEUE"]``, default the
    queue's default) runs it, in another process or host. Writing the job and
    waiting for its result (``JobHandle.get``) block, so both happen in a pool
    of ``THREADS`` threads of this worker, whose database connections Django
    closes after each use as after a request; both count against the chain's
    timeout, and a chain still queued when its caller gave up is not run.
    """

    name = "queue"

    def __init__(self) -> None:
        self._threads = QueueThreads()

    async def run(self, chain: Chain, timeout: float) -> Any:
        from .chain import postpone
        from .jobs import run_chain_job

        started = loop_time()
        queue = conf.section("SLACKER")["QUEUE"] or conf.section("QUEUE")["NAME"]
        frame = base64.b64encode(encode_chain(chain)).decode("ascii")
        send = postpone(run_chain_job).schedule((frame, time.time() + timeout), queue=queue, on_commit=False)
        try:
            handle = await self._threads.run(chain_of(send), timeout)
            left = max(0.001, timeout - (loop_time() - started))
            # The store's own timeout ends the wait (ResultTimeout); the pool's is a backstop.
            encoded = await self._threads.run(chain_of(postpone(handle).get(left)), left + 1.0)
        except TimeoutError as exc:  # SlackerTimeout of the pool, or the result store's ResultTimeout
            raise SlackerTimeout(
                f"{chain.describe()} had no result from the queue within {timeout}s (is a queue_consumer "
                f"running for queue {queue!r}?): {exc}"
            ) from None
        status, value = decode_result(base64.b64decode(encoded))
        if status == "error":
            raise value
        return value


WORKERS: dict[str, type[Worker]] = {
    "local": LocalWorker,
    "thread": ThreadWorker,
    "http": HttpWorker,
    "queue": QueueWorker,
}

_instances: dict[str, Worker] = {}


def get_worker(spec: Worker | str | None = None) -> Worker:
    """A worker object from a name, an object, or ``None`` (``DJWORKERS["SLACKER"]["WORKER"]``)."""
    if isinstance(spec, Worker):
        return spec
    name = spec if spec is not None else conf.section("SLACKER")["WORKER"]
    where = "postpone(..., worker=...)" if spec is not None else 'DJWORKERS["SLACKER"]["WORKER"]'
    if not isinstance(name, str) or name not in WORKERS:
        raise DjworkersImproperlyConfigured(
            f"{where} is {name!r}; the slacker workers are {', '.join(sorted(WORKERS))}."
        )
    worker = _instances.get(name)
    if worker is None:
        worker = _instances[name] = WORKERS[name]()
    return worker
