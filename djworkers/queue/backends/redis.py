"""The Redis queue backend: at-least-once delivery with leases, on plain lists.

``QUEUE["BACKEND"] = "redis"``. Jobs wait in a list per queue (and per
priority). A consumer's fetch is one Lua script that pops up to N frames and
records each under a unique receipt in an in-flight hash plus a lease ZSET
scored by expiry, atomically: a job is always somewhere. Leases are renewed
while the job runs (:meth:`extend`); an acknowledgement deletes the receipt;
a consumer killed mid-job simply stops renewing, and the next fetch by anyone
moves its expired leases back to the head of the queue. Delayed jobs and
retries wait in a ZSET scored by due time and are moved to the list by the
same fetch script. Key layout and scripts: :mod:`.redis_scripts`; connection
parsing: :mod:`djworkers.redis_client`.

Round trips are what a Redis queue costs, so:

- enqueue is one EVALSHA (LPUSH + a wake-up token), written on a connection
  the enqueuing thread keeps (:func:`~djworkers.redis_client.thread_client`);
- fetch takes up to ``limit`` jobs in one EVALSHA and carries the pending
  acknowledgements with it: a worker's job thread acknowledging a job does not
  wait for Redis; the ack rides on the next fetch (``ack_soon``), or a
  background flush after ``ACK_DELAY`` when no fetch comes. An ack that never
  reached Redis (crash, connection lost) only means the job may run again,
  never that it is lost;
- an idle consumer blocks in ``BLPOP`` on its queues' wake-up lists, always
  with a finite timeout (shorter than the socket timeout, the caller's
  timeout, a third of the lease, and the time to the next delayed job), with
  the FETCH pipelined behind it: Redis runs it as soon as the BLPOP returns,
  so a job written to an idle queue costs its consumer one round trip.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from ...exceptions import BackendUnavailable, DjworkersImproperlyConfigured
from ...redis_client import (
    SETTING,
    describe,
    execute_many,
    explicit_max_connections,
    get_client,
    parse_connection,
    thread_client,
)
from ...results.redis import RedisResultStore, flattened, send_final_writes
from ...runtime.process import current_pid
from .base import Delivery, QueueBackend, TrackedFrame
from .redis_scripts import (
    ACK,
    CANCEL,
    EXTEND,
    FETCH,
    FLUSH,
    KEY_PREFIX,
    RELEASE,
    RETRY,
    SCHEDULE,
    STATS,
    WRITE,
    WRITE_JOB,
    WRITE_JOBS,
    QueueKeys,
)

logger = logging.getLogger("djworkers.queue.redis")

F = TypeVar("F", bound=Callable[..., Any])


def _reaching_redis(method: F) -> F:
    """Turn redis-py's connection errors and timeouts into :class:`BackendUnavailable`.

    The error then says which server (password hidden) and which setting, so a
    consumer's one-line outage log and an enqueue's exception both point at the
    fix; the redis-py error stays chained as ``__cause__``.
    """

    @functools.wraps(method)
    def wrapper(self: RedisBackend, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except self._outage_errors as exc:
            raise BackendUnavailable("redis", self.location, SETTING, str(exc) or type(exc).__name__) from exc

    return wrapper  # type: ignore[return-value]


def _tags(count: int, priority: int) -> list[bytes]:
    """Unique prefixes ``<tag>|`` for delayed frames (a ZSET needs distinct members).

    Time-ordered hex, so frames due at the same moment keep their order (equal
    scores sort by member), plus random bytes so other processes never collide;
    ``/<priority>`` so the job keeps its priority when it falls due.
    """
    base, salt = time.time_ns(), os.urandom(3).hex()
    suffix = f"/{priority}|" if priority else "|"
    return [f"{base + i:016x}{salt}{suffix}".encode() for i in range(count)]


class RedisBackend(QueueBackend):
    backend = "redis"
    blocking = True
    supports_cancel = True
    # a push is seen by consumers at once: wait for the caller's commit (Q15)
    on_commit_default = True
    supports_delay = True
    supports_lease = True

    #: Most jobs one fetch round trip leases.
    MAX_FETCH = 1000
    #: Most due/expired jobs one fetch moves back to ready (per queue and kind).
    RECOVER_BATCH = 500
    #: Frames per round trip in :meth:`write_many`.
    WRITE_CHUNK = 1000
    #: Longest an acknowledgement waits for a fetch to carry it (seconds).
    ACK_DELAY = 0.02
    #: Shortest blocking wait (BLPOP's 0 would mean "for ever": never sent).
    MIN_WAIT = 0.01
    #: Pool connections kept beyond what the worker's threads hold (job code that
    #: enqueues from threads of its own, the ack flusher).
    POOL_HEADROOM = 16

    def __init__(
        self,
        queues: Sequence[str] = ("default",),
        connection: Any = None,
        *,
        lease_seconds: float = 30,
        key_prefix: str = KEY_PREFIX,
    ):
        super().__init__(queues, connection, lease_seconds=lease_seconds)
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be > 0")
        self.key_prefix = key_prefix
        self.client = get_client(connection)
        self.location = describe(connection)
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        self._outage_errors: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError)
        self._reported_levels: set[tuple[str, bytes]] = set()
        self._keys: dict[str, QueueKeys] = {}
        self._consumer_keys = [key for q in self.queues for key in self.keys(q).all()]
        self._wake_keys = [self.keys(q).wake for q in self.queues]
        connection_kwargs = self.client.connection_pool.connection_kwargs
        if connection_kwargs.get("decode_responses"):
            raise DjworkersImproperlyConfigured(
                f"{SETTING}: the Redis queue moves bytes; drop decode_responses=True "
                "(or give djworkers a client of its own)."
            )
        socket_timeout = connection_kwargs.get("socket_timeout")
        #: Longest single BLPOP: a third of the lease, so a heartbeat that
        #: follows a blocked fetch is never later than the lease allows, and
        #: well inside the socket timeout so a wait is not mistaken for a hang.
        self.max_wait = self.lease_seconds / 3
        if socket_timeout:
            self.max_wait = min(self.max_wait, max(self.MIN_WAIT, float(socket_timeout) * 0.6))
        #: Whether fetching threads keep a connection of their own (see :meth:`reserve_connections`).
        self._keep_fetch_connections = True
        self._closed = False
        self._reset_process_state()

    def build_result_store(self, ttl: float):
        return RedisResultStore(ttl, self.client, settle_with=self.defer_result_write)

    # -- per-process state (rebuilt after fork) ---------------------------------
    def _reset_process_state(self) -> None:
        self._pid = os.getpid()
        self._token = os.urandom(6).hex()
        self._next_receipt = 0
        self._counter_lock = threading.Lock()
        self._ack_lock = threading.Lock()
        self._pending: dict[str, list[str]] = {}
        #: Bumped each time pending acks are taken (by a fetch or a flush): the flusher
        #: leaves acks alone while fetches keep carrying them.
        self._acks_taken = 0
        self._ack_event = threading.Event()
        self._flusher: threading.Thread | None = None
        self._fetch_thread: int | None = None
        #: Final result writes deferred to go out in front of the next fetch or ack flush
        #: (:meth:`defer_result_write`): (keys, args) of one record, as FETCH and ACK take them.
        self._result_writes: list[tuple[tuple, tuple]] = []
        self._fetching = threading.local()

    def _check_fork(self) -> None:
        """After a fork, forget the parent's receipts token, pending acks and threads.

        The parent still owns its pending acks and flushes them itself; redis-py's
        pool opens fresh sockets in the child on its own.
        """
        if current_pid() != self._pid:
            self._reset_process_state()

    def keys(self, queue: str) -> QueueKeys:
        keys = self._keys.get(queue)
        if keys is None:
            keys = self._keys[queue] = QueueKeys.for_queue(queue, self.key_prefix)
        return keys

    def reserve_connections(self, count: int) -> None:
        """Size redis-py's pool for ``count`` threads using this backend at once.

        redis-py's pool refuses a 101st connection by default, so a consumer
        with ``--threads 200`` would fail every fetch with ``MaxConnectionsError``.
        The pool is shared per process and only grows. A ``max_connections`` set
        in the connection setting is respected, and rejected if it is too small.

        Each fetching thread keeps a connection of its own for its fetches and acks
        (:meth:`_fetch_client`), and the jobs it runs may use the same pool (a job's
        code with the same Redis URL shares this process's client): so the pool is
        sized for two connections per thread. Under a user's limit too small for that,
        fetches check a connection out of the pool each time, as jobs do.
        """
        explicit = explicit_max_connections(self.connection)
        if explicit is not None:
            if explicit < count:
                raise DjworkersImproperlyConfigured(
                    f"{SETTING}: max_connections={explicit} is fewer than the {count} Redis "
                    f"connections this consumer's threads hold at once; raise it or use fewer --threads."
                )
            self._keep_fetch_connections = explicit >= 2 * count
            return
        pool = self.client.connection_pool
        pool.max_connections = max(pool.max_connections, 2 * count + self.POOL_HEADROOM)

    def _reserve_receipts(self, count: int) -> int:
        with self._counter_lock:
            start = self._next_receipt
            self._next_receipt += count
            return start

    # -- writing ------------------------------------------------------------------
    @_reaching_redis
    def write(self, frame: bytes, *, queue: str | None = None, eta: float | None = None, priority: int = 0) -> None:
        """One round trip. ``priority``: higher runs first (any integer)."""
        keys = self.keys(self.default_queue(queue))
        priority = int(priority)
        if eta is not None and eta > time.time():
            member = _tags(1, priority)[0] + frame
            SCHEDULE(self.client, (keys.scheduled, keys.wake), (eta, member))
            return
        WRITE(self.client, (keys.ready_for(priority), keys.levels, keys.wake), (priority, frame))

    @_reaching_redis
    def write_many(
        self, frames: Iterable[bytes], *, queue: str | None = None, eta: float | None = None, priority: int = 0
    ) -> None:
        """Append frames (all due at ``eta``, at ``priority``) in chunks of
        :attr:`WRITE_CHUNK`, one round trip per chunk."""
        keys = self.keys(self.default_queue(queue))
        priority = int(priority)
        iterator = iter(frames)
        delayed = eta is not None and eta > time.time()
        while chunk := list(itertools.islice(iterator, self.WRITE_CHUNK)):
            if delayed:
                args: list[Any] = []
                for tag, frame in zip(_tags(len(chunk), priority), chunk, strict=True):
                    args += (eta, tag + frame)
                SCHEDULE(self.client, (keys.scheduled, keys.wake), args)
            else:
                WRITE(self.client, (keys.ready_for(priority), keys.levels, keys.wake), (priority, *chunk))

    @_reaching_redis
    def write_jobs(
        self, jobs: Sequence[TrackedFrame], *, queue: str | None = None, eta: float | None = None, priority: int = 0
    ) -> list[str]:
        """Write frames with their job ids (``#<id>|<frame>``, see :mod:`.redis_scripts`),
        one round trip per :attr:`WRITE_CHUNK`; unique keys are checked in the same script."""
        keys = self.keys(self.default_queue(queue))
        priority = int(priority)
        delayed = eta is not None and eta > time.time()
        if len(jobs) == 1 and not delayed and not jobs[0].unique_key:
            # one job due now, not unique: most enqueues; WRITE_JOB is WRITE_JOBS without the loop
            job = jobs[0]
            job_id = job.job_id
            if not job_id or "|" in job_id:
                raise ValueError(f"job id {job_id!r} cannot be tracked (empty or has '|')")
            member = b"#%s|%s" % (job_id.encode(), job.frame)
            WRITE_JOB(
                thread_client(self.client),
                (keys.ready_for(priority), keys.levels, keys.wake, keys.queued),
                (priority, job_id, member),
            )
            return [job_id]
        ids: list[str] = []
        for start in range(0, len(jobs), self.WRITE_CHUNK):
            chunk = jobs[start : start + self.WRITE_CHUNK]
            tags = _tags(len(chunk), priority) if delayed else [b""] * len(chunk)
            args: list[Any] = [priority, eta if delayed else ""]
            for tag, job in zip(tags, chunk, strict=True):
                if not job.job_id or "|" in job.job_id:
                    raise ValueError(f"job id {job.job_id!r} cannot be tracked (empty or has '|')")
                args += (job.job_id, job.unique_key or "", b"".join((tag, b"#", job.job_id.encode(), b"|", job.frame)))
            ids += [job_id.decode() for job_id in WRITE_JOBS(self.client, keys.all(), args)]
        return ids

    @_reaching_redis
    def cancel(self, job_id: str, *, queue: str | None = None) -> bool:
        """One script per queue searched (see ``CANCEL`` in :mod:`.redis_scripts`)."""
        for name in [queue] if queue is not None else self.queues:
            keys = self.keys(name)
            if CANCEL(self.client, (keys.queued, keys.cancelled, keys.scheduled), (job_id,)):
                return True
        return False

    # -- fetching -----------------------------------------------------------------
    @_reaching_redis
    def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` jobs; if none is ready, wait at most ``timeout`` for one."""
        self._check_fork()
        self._fetch_thread = threading.get_ident()
        self._fetching.active = True
        limit = max(0, min(int(limit), self.MAX_FETCH))
        deliveries, next_event = self._fetch(limit, leasing=True)
        if deliveries or timeout <= 0 or limit == 0:
            return deliveries
        wait = min(timeout, self.max_wait)
        if next_event >= 0:
            wait = min(wait, next_event)
        return self._fetch(limit, leasing=True, wait=max(self.MIN_WAIT, round(wait, 3)))[0]

    @_reaching_redis
    def read(self) -> bytes | None:
        """Take the next due frame for good (at-most-once, the old djutils API), or None."""
        self._check_fork()
        deliveries = self._fetch(1, leasing=False)[0]
        return deliveries[0].raw if deliveries else None

    def _fetch(self, limit: int, *, leasing: bool, wait: float = 0.0) -> tuple[list[Delivery], float]:
        """One FETCH round trip, which also writes the deferred final results
        (:meth:`defer_result_write`) and sends the pending acks; with ``wait`` (seconds), first
        a BLPOP on the wake-up lists in the same pipeline: Redis runs the FETCH the moment the
        BLPOP returns, so a job written to an idle queue reaches its consumer in one round trip,
        not two."""
        writes, acks = self._take_pending()
        if wait and writes:  # written before the wait, not after it
            try:
                send_final_writes(self._fetch_client(), writes)
            except BaseException:
                self._restore_acks(acks, writes)
                raise
            writes = []
        result_keys, result_args = flattened(writes)
        ack_keys, ack_args = self._ack_arguments(acks)
        keys = [*self._consumer_keys, *result_keys, *ack_keys]
        args: list[Any] = [
            limit,
            self.lease_seconds,
            self.RECOVER_BATCH,
            1 if leasing else 0,
            f"{self._token}.",
            self._reserve_receipts(limit) if leasing else 0,
            len(self.queues),
            len(acks),
            len(writes),
            *result_args,
            *ack_args,
        ]
        try:
            if wait:
                reply = self._wait_and_fetch(wait, keys, args)
            else:
                reply = FETCH(self._fetch_client(), keys, args)
        except BaseException:
            self._restore_acks(acks, writes)
            raise
        if reply[1]:
            logger.warning(
                "%d job(s) on %s outlived their lease (their consumer died or stalled); they are queued again",
                reply[1],
                self._describe_queues(),
            )
        if reply[2]:
            self._report_bad_levels(reply[2])
        queues = self.queues
        deliveries = [
            Delivery(raw=reply[i + 2], receipt=reply[i + 1].decode("ascii"), queue=queues[reply[i] - 1])
            for i in range(3, len(reply), 3)
        ]
        for delivery in deliveries:
            if delivery.raw[:1] == b"\xff":  # came back after a lost lease: count it (Q16)
                bar = delivery.raw.find(b"|")
                lost = delivery.raw[1:bar] if bar > 1 else b""
                if lost.isdigit():  # else a foreign frame that merely starts with \xff: as it is
                    delivery.deliveries = int(lost) + 1
                    delivery.raw = delivery.raw[bar + 1 :]
        return deliveries, reply[0] / 1000 if reply[0] >= 0 else -1.0

    def _wait_and_fetch(self, wait: float, keys: list[str], args: list[Any]) -> Any:
        """BLPOP (at most ``wait`` seconds) then FETCH, pipelined; the FETCH runs either way."""
        client = self._fetch_client()
        blpop = ("BLPOP", *self._wake_keys, wait)
        reply = execute_many(client, [blpop, FETCH.command(keys, args)])[1]
        if isinstance(reply, Exception):
            from redis.exceptions import NoScriptError

            if not isinstance(reply, NoScriptError):
                raise reply
            reply = FETCH(client, keys, args)  # the server lost its scripts (restart): load, fetch
        return reply

    def _fetch_client(self) -> Any:
        """The client for fetches and acks: the connection the calling thread keeps
        (:func:`~djworkers.redis_client.thread_client`; redis-py's pool checkout per command
        cost as much CPU as the rest of a short job's bookkeeping), unless the pool is
        too small to give each thread one (see :meth:`reserve_connections`)."""
        return thread_client(self.client) if self._keep_fetch_connections else self.client

    def _report_bad_levels(self, found: list[Any]) -> None:
        """Log each foreign member of a priority-levels set once per process (FETCH skipped it)."""
        for queue_index, member in zip(found[::2], found[1::2], strict=True):
            key = self.keys(self.queues[int(queue_index) - 1]).levels
            if (key, member) in self._reported_levels:
                continue
            self._reported_levels.add((key, member))
            logger.error(
                "Redis key %s holds %r, which is not an integer priority; it is skipped "
                "(jobs at the other priorities keep running). Remove it with: ZREM %s %s",
                key,
                member,
                key,
                member.decode("utf-8", "replace"),
            )

    def _describe_queues(self) -> str:
        return ", ".join(repr(q) for q in self.queues)

    # -- settling deliveries ---------------------------------------------------------
    def ack(self, delivery: Delivery) -> None:
        """Forget a finished job.

        Called from the thread that fetches (a script, a simple loop), the ack is
        sent at once. Called from another thread (a worker's job threads, while
        its main thread fetches), it is sent with the next fetch, or by a
        background flush within :attr:`ACK_DELAY`: no round trip of its own.
        """
        self._check_fork()
        if not delivery.receipt:
            return  # taken with read(): nothing is leased
        with self._ack_lock:
            was_idle = not self._pending
            self._pending.setdefault(delivery.queue, []).append(delivery.receipt)
        if self._fetch_thread in (None, threading.get_ident()):
            self.flush_acks()
        elif was_idle:
            self._wake_flusher()

    def ack_soon(self, delivery: Delivery) -> None:
        """Acknowledge with the next fetch (whichever thread makes it) or within :attr:`ACK_DELAY`.

        A worker thread runs a batch of jobs then fetches again: its acks ride on
        that fetch and cost no round trip of their own. :meth:`close` sends any
        left; an ack lost in a crash means the job runs again, never that it is lost.
        """
        self._check_fork()
        if not delivery.receipt:
            return
        with self._ack_lock:
            was_idle = not self._pending
            self._pending.setdefault(delivery.queue, []).append(delivery.receipt)
        if was_idle:
            self._wake_flusher()

    @_reaching_redis
    def flush_acks(self) -> None:
        """Send pending acknowledgements now (kept for a later try if Redis is unreachable)."""
        self._check_fork()
        writes, acks = self._take_pending()
        if not acks and not writes:
            return
        result_keys, result_args = flattened(writes)
        ack_keys, ack_args = self._ack_arguments(acks)
        try:
            ACK(self._fetch_client(), [*result_keys, *ack_keys], [len(writes), *result_args, *ack_args])
        except BaseException:
            self._restore_acks(acks, writes)
            raise

    def _ack_arguments(self, acks: dict[str, list[str]]) -> tuple[list[str], list[Any]]:
        """Keys and arguments of pending acks, in the layout both FETCH and ACK scripts read:
        per queue its lease and in-flight keys, then the receipt count and the receipts."""
        keys: list[str] = []
        args: list[Any] = []
        for queue, receipts in acks.items():
            queue_keys = self.keys(queue)
            keys += (queue_keys.leases, queue_keys.inflight)
            args.append(len(receipts))
            args += receipts
        return keys, args

    def _restore_acks(self, acks: dict[str, list[str]], writes: list[tuple[tuple, tuple]] | None = None) -> None:
        with self._ack_lock:
            self._result_writes[:0] = writes or []
            for queue, receipts in acks.items():
                self._pending.setdefault(queue, [])[:0] = receipts

    # -- final results settled with the acks (a hook of djworkers.results.redis) ---------
    def defer_result_write(self, keys: tuple, args: tuple) -> bool:
        """Send a final result write with the next fetch or ack flush, in the same script run: a
        short job then costs no round trip of its own for its result. Only from a thread that
        fetches from this backend (it settles the job with :meth:`ack_soon` and fetches again
        right away); elsewhere returns False: write it now.

        The write is taken with (or before) its job's ack and the script writes it before it
        acknowledges, so a job is never acknowledged before its result is written; a crash
        before that send loses both, and the job runs again (at-least-once). :meth:`close`
        sends what is left."""
        if not getattr(self._fetching, "active", False) or self._pid != current_pid():
            return False
        with self._ack_lock:
            was_idle = not self._pending and not self._result_writes
            self._result_writes.append((keys, args))
        if was_idle:  # no fetch coming (e.g. a stop): the flusher sends it within ACK_DELAY
            self._wake_flusher()
        return True

    def _take_pending(self) -> tuple[list[tuple[tuple, tuple]], dict[str, list[str]]]:
        """Deferred result writes and pending acks, taken together (a write never trails its ack)."""
        with self._ack_lock:
            writes, self._result_writes = self._result_writes, []
            acks, self._pending = self._pending, {}
            if acks:
                self._acks_taken += 1
        return writes, acks

    def _wake_flusher(self) -> None:
        """Have the flusher look at what is pending within ACK_DELAY (it always looks after its
        pause, so a flag already set is left alone: setting an Event costs a lock and a notify,
        ~1 µs, once or twice a job)."""
        if self._flusher is None:
            self._ensure_flusher()
        if not self._ack_event.is_set():
            self._ack_event.set()

    def _ensure_flusher(self) -> None:
        with self._ack_lock:
            if self._flusher is not None:
                return
            self._closed = False
            self._flusher = threading.Thread(target=self._flush_loop, name="djworkers-redis-acks", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        """Send acks no fetch picked up within ACK_DELAY; exit after a quiet minute."""
        failures = 0
        try:
            while not self._closed:
                if not self._ack_event.wait(60):
                    with self._ack_lock:
                        if not self._pending and not self._result_writes:
                            self._flusher = None  # under the lock: a new ack starts a new one
                            return
                    continue
                self._ack_event.clear()
                taken = self._acks_taken
                time.sleep(self.ACK_DELAY if not failures else min(5.0, 0.1 * 2**failures))
                if not failures and self._acks_taken != taken:
                    # A fetch carried the acks meanwhile; those pending now came after it and
                    # get their own ACK_DELAY (the next fetch usually takes them: a busy
                    # worker then sends no ACK round trip of its own).
                    with self._ack_lock:
                        if self._pending or self._result_writes:
                            self._ack_event.set()
                    continue
                try:
                    self.flush_acks()
                    failures = 0
                except Exception as exc:
                    failures += 1
                    logger.warning("Could not send acknowledgements to Redis (%s); will retry", exc)
                    self._ack_event.set()
        finally:
            with self._ack_lock:
                if self._flusher is threading.current_thread():
                    self._flusher = None

    @_reaching_redis
    def retry(self, delivery: Delivery, raw: bytes, eta: float) -> None:
        """Atomically swap the leased frame for ``raw``, due at ``eta``."""
        keys = self.keys(delivery.queue)
        if not RETRY(self.client, keys.all(), (delivery.receipt, eta, raw)):
            logger.warning(
                "Lease of a job on queue %r expired before its retry was recorded; "
                "the earlier copy was queued again and will run instead",
                delivery.queue,
            )

    @_reaching_redis
    def release(self, delivery: Delivery) -> None:
        """Put an unstarted job back at the head of its queue."""
        if not delivery.receipt:
            raise ValueError("a delivery taken with read() is not leased and cannot be released")
        RELEASE(self.client, self.keys(delivery.queue).all(), (delivery.receipt,))

    @_reaching_redis
    def extend(self, deliveries: list[Delivery]) -> None:
        """Renew leases; a lease that already expired is left alone (logged)."""
        by_queue: dict[str, list[str]] = {}
        for delivery in deliveries:
            if delivery.receipt:
                by_queue.setdefault(delivery.queue, []).append(delivery.receipt)
        for queue, receipts in by_queue.items():
            renewed = EXTEND(self.client, (self.keys(queue).leases,), (self.lease_seconds, *receipts))
            if renewed < len(receipts):
                logger.warning(
                    "%d of %d lease(s) on queue %r had already expired; those jobs may run twice",
                    len(receipts) - renewed,
                    len(receipts),
                    queue,
                )

    @_reaching_redis
    def heartbeat(self) -> None:
        """Send pending acks and move due/expired jobs back to ready."""
        self._check_fork()
        self._fetch(0, leasing=True)

    def close(self) -> None:
        """Send pending acks and close idle sockets (the pool is shared per process)."""
        self._closed = True
        self._ack_event.set()
        try:
            self.flush_acks()
        except Exception as exc:
            logger.warning(
                "Could not send the last acknowledgements to Redis (%s); those jobs will run "
                "again when their lease expires",
                exc,
            )
        self.client.connection_pool.disconnect(inuse_connections=False)

    # -- administration -------------------------------------------------------------
    def _selected_keys(self, queue: str | None) -> list[str]:
        queues = self.queues if queue is None else [queue]
        return [key for q in queues for key in self.keys(q).all()]

    @_reaching_redis
    def flush(self, queue: str | None = None) -> None:
        """Delete every job (ready, delayed and running) of ``queue`` or all queues."""
        with self._ack_lock:
            if queue is None:
                self._pending.clear()
            else:
                self._pending.pop(queue, None)
        FLUSH(self.client, self._selected_keys(queue), ())

    @_reaching_redis
    def stats(self, queue: str | None = None) -> dict[str, int]:
        self.flush_acks()
        ready, scheduled, in_flight = STATS(self.client, self._selected_keys(queue), ())
        return {"ready": ready, "scheduled": scheduled, "in_flight": in_flight}


__all__ = ["RedisBackend", "parse_connection"]
