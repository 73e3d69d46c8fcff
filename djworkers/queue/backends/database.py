"""The database queue backend: the embedded default (Q5), on SQLite and PostgreSQL.

Jobs are rows of :class:`~djworkers.queue.models.QueueJob`. A consumer *claims*
rows by writing a lease (a per-fetch token and an expiry time) in one
statement, and deletes the row when the job ran (``ack``). A consumer that
dies never acks, its lease runs out, and the next claim takes the row again:
at-least-once delivery with no reaper process.

How a claim stays exclusive:

* PostgreSQL: ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
  RETURNING``: concurrent consumers skip each other's rows instead of waiting.
  Idle consumers ``LISTEN`` on a channel that every write ``NOTIFY``s, so they
  wake at once without polling (``DJWORKERS["QUEUE"]["NOTIFY"]``). A consumer of
  one queue resumes each claim after the last row it claimed, past the dead
  index entries acked rows leave at the head (:meth:`DatabaseBackend._claim_sql`),
  and its statements are prepared once per connection (:class:`_PreparedCursor`).
* SQLite: the same ``UPDATE ... RETURNING`` inside ``BEGIN IMMEDIATE``, so the
  write lock is taken before the rows are read; SQLite allows one writer at a
  time, so two claims cannot overlap. Transactions are one statement long and
  a "database is locked" error is retried with a short jittered back-off.
* Any other database: ``select_for_update(skip_locked=...)`` and an update in
  one transaction, through the ORM.

Connections: ``write``/``flush``/``stats`` use the calling thread's Django
connection, so a job enqueued inside the caller's ``transaction.atomic()``
becomes visible when that transaction commits (a job never runs before the data
it refers to exists). The consumer side (claim, ack, release, retry, extend)
uses the backend's own persistent connections, one per thread, which the
worker's per-job connection hygiene does not close: reconnecting for every job
would cost more than the job. An in-memory SQLite database cannot be shared by
two connections, and a thread inside ``transaction.atomic()`` must see its own
uncommitted rows, so in those cases the thread's Django connection is used.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.models import Count, F, Q

from ...runtime.coordination import owner_id
from .base import Delivery, QueueBackend, TrackedFrame
from .pg_listen import CHANNEL, Listener

logger = logging.getLogger("djworkers.queue.database")

T = TypeVar("T")

#: ``lease_owner`` of a row waiting for its retry (no lease; it ran before, so it cannot be cancelled).
RETRYING = "retrying"
#: Rows per INSERT in write_many.
BULK_SIZE = 500
#: How often a "database is locked" (SQLite) or serialization failure is retried.
LOCK_RETRIES = 20
#: psycopg's ``prepare_threshold`` on the consumer connection: statements are prepared only on request.
NEVER_AUTO_PREPARE = 2**31
#: A result record's row, ``(job id, status, frame, expires_at, created_at)``: what
#: :func:`djworkers.results.database.result_row` builds and :meth:`DatabaseBackend.defer_result_write` takes.
ResultRow = tuple[str, str, bytes, float, float]


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text


class _PreparedCursor:
    """A psycopg cursor with server-side parameters whose statements are prepared once per connection.

    Errors are translated to Django's (``OperationalError``...) as a Django cursor
    does, so :meth:`DatabaseBackend._retrying` sees the same exceptions.
    """

    def __init__(self, wrapper: Any) -> None:
        import psycopg

        self._wrapper = wrapper
        if wrapper.connection.prepare_threshold is None:  # Django's default: psycopg then prepares nothing
            # only what asks (prepare=True) is prepared: not the Django cursors' statements with inlined values
            wrapper.connection.prepare_threshold = NEVER_AUTO_PREPARE
        self._cursor = psycopg.Cursor(wrapper.connection)

    def __enter__(self) -> _PreparedCursor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._cursor.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._wrapper.wrap_database_errors:
            self._cursor.execute(sql, params, prepare=True)

    def fetchone(self) -> Any:
        with self._wrapper.wrap_database_errors:
            return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        with self._wrapper.wrap_database_errors:
            return self._cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


class DatabaseBackend(QueueBackend):
    backend = "database"
    supports_cancel = True
    # write() uses the caller's connection: already part of its transaction, no need to defer
    on_commit_default = False

    def __init__(
        self,
        queues: Sequence[str] = ("default",),
        connection: Any = None,
        *,
        lease_seconds: float = 30,
        notify: bool = True,
    ):
        """``connection``: the Django database alias (default ``"default"``)."""
        super().__init__(queues, connection, lease_seconds=lease_seconds)
        self.alias = connection or "default"
        if self.alias not in connections:
            from ...exceptions import DjworkersImproperlyConfigured

            raise DjworkersImproperlyConfigured(
                f'DJWORKERS["QUEUE"]["CONNECTION"] = {self.alias!r} is not a database alias '
                f"in settings.DATABASES (the database backend takes an alias)."
            )
        self.vendor = connections[self.alias].vendor
        self.notify = notify and self.vendor == "postgresql"
        self.blocking = self.notify  # idle consumers wait on LISTEN instead of polling
        self._listener: Listener | None = None
        self._local = threading.local()
        self._own: list[Any] = []
        self._own_lock = threading.Lock()
        self._pending: list[tuple[int, str]] = []  # ack_soon receipts not deleted yet
        #: Final result records (``result_row``s) written in front of the next
        #: claim's or flush's acks (:meth:`defer_result_write`); guarded by ``_pending_lock`` too.
        self._result_writes: list[ResultRow] = []
        #: Bumped each time deferred records are taken: the flusher leaves them to claims that come.
        self._writes_taken = 0
        self._flush_event = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closing = threading.Event()
        self._pending_lock = threading.Lock()
        #: PostgreSQL, one queue: (priority, available_at, id) of the last row claimed, where the next
        #: claim resumes, and when (monotonic) it last claimed from the head; see :meth:`_claim_sql`.
        self._resume_after: tuple[int, float, int] | None = None
        self._head_claimed_at = float("-inf")
        self._shared_memory_db = self.vendor == "sqlite" and connections[self.alias].is_in_memory_db()  # type: ignore[attr-defined]  # SQLite's wrapper only

    @classmethod
    def from_settings(cls, queues: Sequence[str], settings: dict[str, Any]) -> DatabaseBackend:
        return cls(
            queues,
            settings.get("CONNECTION"),
            lease_seconds=settings.get("LEASE_SECONDS", 30),
            notify=bool(settings.get("NOTIFY", True)),
        )

    def build_result_store(self, ttl: float):
        from ...results.database import DatabaseResultStore

        return DatabaseResultStore(
            ttl, self.alias, connection=self._consumer_connection, settle_with=self.defer_result_write
        )

    # -- helpers ------------------------------------------------------------------------
    @property
    def _connection(self):
        return connections[self.alias]

    @property
    def _table(self) -> str:
        from ..models import QueueJob

        return self._connection.ops.quote_name(QueueJob._meta.db_table)

    def _objects(self):
        from ..models import QueueJob

        return QueueJob.objects.using(self.alias)

    def _retrying(self, operation: Callable[[], T], *, reconnect: bool = False) -> T:
        """Run ``operation``, retrying SQLite lock errors with a jittered back-off.

        ``reconnect``: the operation uses this backend's own connection, so a
        connection the server dropped (a restart, ``pg_terminate_backend``) is
        replaced and the operation tried once more. Never for the caller's
        connection: that could replay half of the caller's transaction.
        """
        delay = 0.01
        reconnected = False
        for attempt in range(LOCK_RETRIES):
            try:
                return operation()
            except (OperationalError, InterfaceError) as exc:
                if self.vendor == "sqlite" and _is_lock_error(exc) and attempt < LOCK_RETRIES - 1:
                    logger.debug("SQLite busy (%s); retry %d", exc, attempt + 1)
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(0.5, delay * 2)
                    continue
                wrapper = getattr(self._local, "wrapper", None)
                if reconnect and not reconnected and wrapper is not None and not wrapper.is_usable():
                    logger.warning("Queue database connection lost (%s); reconnecting", exc)
                    with contextlib.suppress(Exception):
                        wrapper.close()
                    reconnected = True
                    continue
                raise
        raise AssertionError("unreachable")

    def _consumer_connection(self):
        """This thread's own persistent connection for the consumer side (see the module doc).

        When the calling thread is inside ``transaction.atomic()`` (a test case,
        a script doing its own transaction) its Django connection is used
        instead: a second connection could neither see that transaction's rows
        nor, on SQLite, take the write lock it holds.
        """
        base = connections[self.alias]
        if self._shared_memory_db or base.in_atomic_block:
            return base
        wrapper = getattr(self._local, "wrapper", None)
        if wrapper is None:
            settings_dict = copy.deepcopy(base.settings_dict)
            settings_dict["CONN_MAX_AGE"] = None  # persistent: never "obsolete"
            wrapper = type(base)(settings_dict, self.alias)
            wrapper.inc_thread_sharing()  # so close() may run from the main thread
            self._local.wrapper = wrapper
            with self._own_lock:
                self._own.append(wrapper)
        else:
            wrapper.close_if_unusable_or_obsolete()  # reconnect after a dropped connection
        if self.vendor == "postgresql":
            wrapper.ensure_connection()
            if getattr(self._local, "tuned", None) is not wrapper.connection:
                # Claims and acks need not wait for the WAL flush: if the *server* crashes, a
                # lost claim or ack means a job runs again, which at-least-once allows. Enqueues
                # go through the caller's connection and stay fully durable.
                with wrapper.cursor() as cursor:
                    cursor.execute("SET synchronous_commit TO OFF")
                self._local.tuned = wrapper.connection
        return wrapper

    @contextlib.contextmanager
    def _consumer_cursor(self) -> Iterator[Any]:
        conn = self._consumer_connection()
        if self._prepares(conn):
            with _PreparedCursor(conn) as cursor:
                yield cursor
        else:
            with conn.cursor() as cursor:
                yield cursor

    def _prepares(self, conn: Any) -> bool:
        """Whether ``conn`` runs the consumer's statements prepared (PostgreSQL, own connection).

        Django sends every statement as text with its parameters inlined, so the
        server parses and plans each claim anew: about half of the server's CPU
        per job (measured: ~290 µs per job unprepared). The consumer's statements
        are a handful of fixed shapes on a connection only this backend uses, so
        they are prepared once per connection (psycopg's ``prepare=True``), as
        psycopg does by default for its own connections. Not on the caller's
        connection (its transaction, its settings), and not when the database's
        ``OPTIONS`` set ``prepare_threshold`` (``None`` there turns it off, e.g.
        behind a transaction-pooling PgBouncer older than 1.21).
        """
        return (
            self.vendor == "postgresql"
            and conn is not connections[self.alias]
            and "prepare_threshold" not in conn.settings_dict.get("OPTIONS", {})
        )

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[Any]:
        """A consumer cursor in a short write transaction (``BEGIN IMMEDIATE`` on SQLite).

        On PostgreSQL the claim is one statement, atomic in autocommit mode.
        """
        conn = self._consumer_connection()
        if conn.vendor == "sqlite" and not conn.in_atomic_block:
            conn.ensure_connection()
            with conn.cursor() as cursor:
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield cursor
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("COMMIT")
        elif self._prepares(conn):
            with _PreparedCursor(conn) as cursor:
                yield cursor
        else:
            with conn.cursor() as cursor:
                yield cursor

    def _names(self, queue: str | None) -> list[str]:
        return [queue] if queue is not None else list(self.queues)

    def _notify(self, queues: Iterable[str], cursor: Any = None) -> None:
        if not self.notify:
            return
        if cursor is None:
            with self._connection.cursor() as own:
                return self._notify(queues, own)
        for queue in set(queues):
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, queue])

    # -- writing ------------------------------------------------------------------------
    def write(self, frame: bytes, *, queue: str | None = None, eta: float | None = None, priority: int = 0) -> None:
        """One INSERT (on PostgreSQL with its NOTIFY in the same statement): one round trip."""
        self._insert_one(frame, "", self.default_queue(queue), eta, priority)

    def _insert_one(self, frame: bytes, job_id: str, queue: str, eta: float | None, priority: int) -> None:
        from django.utils import timezone

        conn = self._connection
        created = conn.ops.adapt_datetimefield_value(timezone.now())
        params: list[Any] = [queue, bytes(frame), priority, eta if eta is not None else time.time(), created, job_id]
        sql = (
            f"INSERT INTO {self._table} (queue, frame, priority, available_at, lease_owner, "
            f"lease_expires, attempts, created, job_id) VALUES (%s, %s, %s, %s, '', NULL, 0, %s, %s)"
        )
        if self.notify:
            sql = f"WITH inserted AS ({sql} RETURNING id) SELECT pg_notify(%s, %s) FROM inserted"
            params += [CHANNEL, queue]

        def insert() -> None:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)

        self._retrying(insert)

    def write_jobs(
        self, jobs: Sequence[TrackedFrame], *, queue: str | None = None, eta: float | None = None, priority: int = 0
    ) -> list[str]:
        """Like :meth:`write` / :meth:`write_many`, with the job ids in their own column.

        A unique job is one ``INSERT ... ON CONFLICT (unique_key) DO NOTHING``: the
        unique index makes two enqueuers race-free (on PostgreSQL the second waits
        for the first's transaction); when nothing was inserted, the queued job's
        id is read back. A claim clears ``unique_key``, so once a job has started an
        identical one may be queued again.
        """
        queue = self.default_queue(queue)
        if any(job.unique_key is not None for job in jobs):
            return [
                self._insert_unique(job, queue, eta, priority)
                if job.unique_key is not None
                else self.write_jobs([job], queue=queue, eta=eta, priority=priority)[0]
                for job in jobs
            ]
        if len(jobs) == 1:
            self._insert_one(jobs[0].frame, jobs[0].job_id, queue, eta, priority)
        else:
            self._insert_many(jobs, queue, eta, priority)
        return [job.job_id for job in jobs]

    def _insert_unique(self, job: TrackedFrame, queue: str, eta: float | None, priority: int) -> str:
        from django.utils import timezone

        conn = self._connection
        created = conn.ops.adapt_datetimefield_value(timezone.now())
        insert_sql = (
            f"INSERT INTO {self._table} (queue, frame, priority, available_at, lease_owner, "
            f"lease_expires, attempts, created, job_id, unique_key) "
            f"VALUES (%s, %s, %s, %s, '', NULL, 0, %s, %s, %s) "
            f"ON CONFLICT (unique_key) DO NOTHING RETURNING id"
        )
        params = [
            queue,
            bytes(job.frame),
            priority,
            eta if eta is not None else time.time(),
            created,
            job.job_id,
            job.unique_key,
        ]

        def insert() -> str | None:
            if self.vendor not in ("postgresql", "sqlite"):
                return self._insert_unique_orm(job, queue, eta, priority)
            with conn.cursor() as cursor:
                cursor.execute(insert_sql, params)
                if cursor.fetchone() is not None:
                    self._notify([queue], cursor)
                    return job.job_id
                cursor.execute(f"SELECT job_id FROM {self._table} WHERE unique_key = %s", [job.unique_key])
                row = cursor.fetchone()
                return row[0] if row else None

        for _ in range(LOCK_RETRIES):
            job_id = self._retrying(insert)
            if job_id is not None:
                return job_id
            # the twin was claimed between our INSERT and SELECT: try to insert again
        raise RuntimeError(f"Could not enqueue unique job {job.job_id}: its key kept changing hands.")

    def _insert_unique_orm(self, job: TrackedFrame, queue: str, eta: float | None, priority: int) -> str | None:
        """The portable form for other databases: an INSERT that ignores the unique-key
        conflict (``INSERT IGNORE`` on MySQL), then read back the key's holder."""
        from ..models import QueueJob

        row = QueueJob(
            queue=queue,
            frame=bytes(job.frame),
            priority=priority,
            available_at=eta if eta is not None else time.time(),
            job_id=job.job_id,
            unique_key=job.unique_key,
        )
        self._objects().bulk_create([row], ignore_conflicts=True)
        return self._objects().filter(unique_key=job.unique_key).values_list("job_id", flat=True).first()

    def write_many(
        self, frames: Iterable[bytes], *, queue: str | None = None, eta: float | None = None, priority: int = 0
    ) -> None:
        """Bulk insert (``BULK_SIZE`` rows per statement), then one NOTIFY."""
        self._insert_many([TrackedFrame(f, "") for f in frames], self.default_queue(queue), eta, priority)

    def _insert_many(self, jobs: Sequence[TrackedFrame], queue: str, eta: float | None, priority: int) -> None:
        from ..models import QueueJob

        available_at = eta if eta is not None else time.time()
        rows = [
            QueueJob(
                queue=queue, frame=bytes(job.frame), priority=priority, available_at=available_at, job_id=job.job_id
            )
            for job in jobs
        ]
        if not rows:
            return

        def insert() -> None:
            with transaction.atomic(using=self.alias):
                self._objects().bulk_create(rows, batch_size=BULK_SIZE)
                self._notify([queue])

        self._retrying(insert)

    def cancel(self, job_id: str, *, queue: str | None = None) -> bool:
        """Delete the row if no consumer was ever handed it (``attempts = 0``, no lease, not
        waiting for a retry): one DELETE on the caller's connection, so it is part of the
        caller's transaction."""
        sql = (
            f"DELETE FROM {self._table} WHERE job_id = %s AND attempts = 0 AND lease_owner = '' "
            f"AND lease_expires IS NULL AND queue IN ({', '.join(['%s'] * len(self._names(queue)))})"
        )

        def delete() -> int:
            with self._connection.cursor() as cursor:
                cursor.execute(sql, [job_id, *self._names(queue)])
                return cursor.rowcount

        return bool(job_id) and self._retrying(delete) > 0

    def flush(self, queue: str | None = None) -> None:
        self._retrying(lambda: self._objects().filter(queue__in=self._names(queue)).delete())

    def stats(self, queue: str | None = None) -> dict[str, int]:
        now = time.time()
        leased = Q(lease_expires__gt=now)
        counts = (
            self._objects()
            .filter(queue__in=self._names(queue))
            .aggregate(
                in_flight=Count("id", filter=leased),
                scheduled=Count("id", filter=~leased & Q(available_at__gt=now)),
                ready=Count("id", filter=~leased & Q(available_at__lte=now)),
            )
        )
        return {key: counts[key] or 0 for key in ("ready", "scheduled", "in_flight")}

    # -- claiming -------------------------------------------------------------------------
    #: Claim order; the index ``djworkers_queuejob_claim`` (queue, priority DESC,
    #: available_at, id) yields one queue's rows in exactly this order, so a claim
    #: reads ``limit`` index entries instead of sorting every waiting row.
    ORDER = "priority DESC, available_at, id"

    #: PostgreSQL: seconds a consumer may resume after its last claimed row (see :meth:`_claim_sql`)
    #: before it claims from the head of the queue again.
    RESCAN_SECONDS = 1.0

    def _claim_sql(self, limit: int, resume: bool = False) -> str:
        """The claim statement: ``UPDATE ... WHERE id IN (<pick>) RETURNING``.

        Parameters: token, lease expiry, then ``now, now`` per queue (``resume``: see
        :meth:`_claim_params`).

        ``resume`` (PostgreSQL, one queue): the pick starts right after the last row
        this consumer claimed instead of at the head of the queue. Acknowledged rows
        are deleted, and on PostgreSQL a deleted row's index entry stays in the claim
        index until VACUUM removes it; the dead entries pile up exactly at the head,
        where every claim starts, so a claim from the head walks past all rows acked
        since the last VACUUM (autovacuum wakes once a minute at best: at 1,500 jobs/s
        that is up to 90,000 entries, hundreds of index pages per claim, and the
        drain slows the longer it runs). Resuming, the index scan starts at the last
        claimed position (a row comparison ``(available_at, id) > (...)`` within its
        priority, plus any higher priority, which a new urgent job may have): it reads
        a few pages at any depth and any number of dead entries. Rows behind that
        position (a lease that ran out, a job committed late by a long transaction,
        an eta in the past) are claimed by the next claim from the head: when the
        resumed pick finds nothing, and every :attr:`RESCAN_SECONDS`. A release by
        this backend claims from the head next. SQLite removes a deleted row's index
        entry at once, so it always claims from the head.

        One queue (the usual case) picks with ``queue = %s ... ORDER BY ... LIMIT``,
        an index range scan that stops after ``limit`` rows. Several queues pick
        ``limit`` rows from each queue the same way and merge those (at most
        ``limit`` x queues rows) in the claim order: ``queue IN (...)`` would make
        both databases sort every waiting row of every queue. PostgreSQL locks
        inside each per-queue pick (``FOR UPDATE SKIP LOCKED`` in a ``LATERAL``
        subquery, as it is not allowed next to ``UNION``); SQLite needs no row
        locks (the claim runs under ``BEGIN IMMEDIATE``).
        """
        table, limit = self._table, int(limit)
        due = "available_at <= %s AND (lease_expires IS NULL OR lease_expires <= %s)"
        lock = " FOR UPDATE SKIP LOCKED" if self.vendor == "postgresql" else ""
        if resume:
            # FOR UPDATE is not allowed in a UNION arm itself: each arm locks in its own subquery.
            higher = f"queue = %s AND priority > %s AND {due}"
            after = f"queue = %s AND priority = %s AND (available_at, id) > (%s, %s) AND {due}"
            arms = " UNION ALL ".join(
                f"SELECT * FROM (SELECT id, priority, available_at FROM {table} WHERE {where} "
                f"ORDER BY {self.ORDER} LIMIT {limit}{lock}) AS {name}"
                for name, where in (("higher", higher), ("after", after))
            )
            pick = f"SELECT c.id FROM ({arms}) AS c ORDER BY c.priority DESC, c.available_at, c.id LIMIT {limit}"
        elif len(self.queues) == 1:
            pick = f"SELECT id FROM {table} WHERE queue = %s AND {due} ORDER BY {self.ORDER} LIMIT {limit}{lock}"
        elif self.vendor == "postgresql":
            # One VALUES row per queue: (name, now, now), the order of _claim_params.
            names = ", ".join(["(%s, %s, %s)"] * len(self.queues))
            pick = (
                f"SELECT c.id FROM (VALUES {names}) AS q(name, due_before, lease_before) CROSS JOIN LATERAL "
                f"(SELECT id, priority, available_at FROM {table} WHERE queue = q.name "
                f"AND available_at <= q.due_before AND (lease_expires IS NULL OR lease_expires <= q.lease_before) "
                f"ORDER BY {self.ORDER} LIMIT {limit}{lock}) AS c "
                f"ORDER BY c.priority DESC, c.available_at, c.id LIMIT {limit}"
            )
        else:
            arms = " UNION ALL ".join(
                f"SELECT * FROM (SELECT id, priority, available_at FROM {table} WHERE queue = %s AND {due} "
                f"ORDER BY {self.ORDER} LIMIT {limit})"
                for _ in self.queues
            )
            pick = f"SELECT id FROM ({arms}) ORDER BY {self.ORDER} LIMIT {limit}"
        return (
            f"UPDATE {table} SET lease_owner = %s, lease_expires = %s, attempts = attempts + 1, "
            f"unique_key = NULL WHERE id IN ({pick}) RETURNING id, queue, frame, priority, available_at, attempts"
        )

    def _claim_params(self, token: str, now: float, resume: tuple[int, float, int] | None = None) -> list[Any]:
        """The parameters of :meth:`_claim_sql`, in its order; ``resume``: the last claimed
        row's (priority, available_at, id)."""
        params: list[Any] = [token, now + self.lease_seconds]
        if resume is not None:
            priority, available_at, job_id = resume
            queue = self.queues[0]
            return [*params, queue, priority, now, now, queue, priority, available_at, job_id, now, now]
        for queue in self.queues:
            params += [queue, now, now]
        return params

    def _resume_point(self) -> tuple[int, float, int] | None:
        """Where this claim resumes (see :meth:`_claim_sql`), or None to claim from the head."""
        if (
            self.vendor != "postgresql"
            or len(self.queues) != 1
            or (time.monotonic() - self._head_claimed_at >= self.RESCAN_SECONDS)
        ):
            return None
        return self._resume_after

    def _claim(self, limit: int) -> list[Delivery]:
        """Claim up to ``limit`` rows; deletes the pending ``ack_soon`` rows in the same round
        trip (PostgreSQL: one statement) or transaction (SQLite: one commit)."""
        token = f"{owner_id()[:60]}:{uuid.uuid4().hex[:16]}"
        now = time.time()
        if self.vendor not in ("postgresql", "sqlite"):
            self.flush_acks()
            rows = self._retrying(lambda: self._claim_orm(limit, token, now))
        else:
            writes, pending = self._take_pending()
            resume = self._resume_point()
            try:
                rows = self._claim_rows(limit, token, now, pending, resume, writes)
                if resume is not None and not rows:  # nothing after the resume point: from the head
                    resume = None
                    rows = self._claim_rows(limit, token, now, [], None)
            except BaseException:
                # deleting acked rows twice deletes nothing; writing a record twice writes the same
                self._restore_pending(pending, writes)
                raise
            if resume is None:
                self._head_claimed_at = time.monotonic()
        rows.sort(key=lambda row: (-row[3], row[4], row[0]))
        if rows:
            last = rows[-1]
            self._resume_after = (last[3], last[4], last[0])
        return [Delivery(bytes(row[2]), (row[0], token), row[1], row[5]) for row in rows]

    def _claim_rows(
        self,
        limit: int,
        token: str,
        now: float,
        pending: list[tuple[int, str]],
        resume: tuple[int, float, int] | None,
        writes: Sequence[ResultRow] = (),
    ) -> list[tuple]:
        """One claim statement (PostgreSQL: with the deferred result writes' upsert and the
        pending acks' DELETE in front, one statement, one transaction; SQLite: all three in one
        transaction)."""
        params = self._claim_params(token, now, resume)
        sql = self._claim_sql(limit, resume is not None)

        def claim() -> list[tuple]:
            with self._exclusive() as cursor:
                statement, values = sql, params
                if self.vendor == "sqlite":
                    self._settle_in(cursor, pending, writes)
                elif self.vendor == "postgresql" and (pending or writes):
                    # the cursor tells how values travel (binary on our own prepared cursor)
                    ctes, cte_params = self._settle_ctes(pending, writes, isinstance(cursor, _PreparedCursor))
                    statement, values = f"WITH {ctes} {sql}", cte_params + params
                cursor.execute(statement, values)
                return cursor.fetchall()

        return self._retrying(claim, reconnect=True)

    def _claim_orm(self, limit: int, token: str, now: float) -> list[tuple]:
        """Portable claim for databases other than PostgreSQL and SQLite."""
        features = self._connection.features
        with transaction.atomic(using=self.alias):
            candidates = (
                self._objects()
                .select_for_update(skip_locked=features.has_select_for_update_skip_locked)
                .filter(
                    Q(lease_expires__isnull=True) | Q(lease_expires__lte=now),
                    queue__in=self.queues,
                    available_at__lte=now,
                )
                .order_by("-priority", "available_at", "id")
            )
            rows = list(candidates.values_list("id", "queue", "frame", "priority", "available_at", "attempts")[:limit])
            self._objects().filter(id__in=[row[0] for row in rows]).update(
                lease_owner=token,
                lease_expires=now + self.lease_seconds,
                attempts=F("attempts") + 1,
                unique_key=None,
            )
        return [(*row[:5], row[5] + 1) for row in rows]

    def _next_change(self) -> float | None:
        """Unix time when a scheduled job becomes due or a lease runs out, if any."""
        placeholders = ", ".join(["%s"] * len(self.queues))
        with self._consumer_cursor() as cursor:
            cursor.execute(
                f"SELECT MIN(CASE WHEN lease_expires > %s THEN lease_expires ELSE available_at END) "
                f"FROM {self._table} WHERE queue IN ({placeholders}) "
                f"AND (available_at > %s OR lease_expires > %s)",
                [time.time(), *self.queues, time.time(), time.time()],
            )
            row = cursor.fetchone()
        return row[0] if row and row[0] is not None else None

    def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        """Claim up to ``limit`` due jobs.

        With LISTEN/NOTIFY (PostgreSQL) an empty claim waits for a write, a job
        becoming due, or ``timeout``; otherwise it returns at once and the
        worker's poll back-off (``--delay``/``--backoff``/``--max``) paces it.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        self._local.fetching = True  # this thread settles what it fetched: results may ride with its next claim
        while True:
            deliveries = self._claim(limit)
            left = deadline - time.monotonic()
            if deliveries or not self.blocking or left <= 0:
                return deliveries
            wake = self._retrying(self._next_change, reconnect=True)
            if wake is not None:
                left = min(left, max(0.01, wake - time.time()))
            listener = self._listen()
            try:
                listener.wait(left, self.queues)
            except Exception:
                # The LISTEN connection died: drop it (the next wait opens a new one)
                # and let the worker's fetch back-off handle a server that is down.
                with self._own_lock:
                    if self._listener is listener:
                        self._listener = None
                listener.close()
                raise

    def _listen(self) -> Listener:
        with self._own_lock:
            if self._listener is None:
                self._listener = Listener(self.alias)
            return self._listener

    # -- settling (raw SQL on the consumer connection: one statement each) ----------------------
    def _settle(self, sql: str, params: list[Any]) -> int:
        def execute() -> int:
            with self._consumer_cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.rowcount

        return self._retrying(execute, reconnect=True)

    def ack(self, delivery: Delivery) -> None:
        """Delete the row, unless its lease ran out and another consumer holds it now (after any
        deferred result write: a job is never acknowledged before its result is written)."""
        if self._result_writes:
            with self._pending_lock:
                self._pending.append(tuple(delivery.receipt))
            self.flush_acks()
            return
        job_id, token = delivery.receipt
        self._settle(f"DELETE FROM {self._table} WHERE id = %s AND lease_owner = %s", [job_id, token])

    #: ack_soon deletes at once when this many acknowledgements are pending.
    MAX_PENDING_ACKS = 200

    def ack_soon(self, delivery: Delivery) -> None:
        """Acknowledge with the next claim (any thread's), the next heartbeat, or :meth:`close`.

        Saves a round trip (and on SQLite a commit) per job. The job keeps its
        lease until then, and the worker's heartbeat interval is far shorter
        than a lease (check W201), so it is not re-delivered meanwhile; if the
        process dies first, it runs again (at-least-once), never lost.
        """
        with self._pending_lock:
            self._pending.append(tuple(delivery.receipt))
            full = len(self._pending) >= self.MAX_PENDING_ACKS
        if full:
            self.flush_acks()

    def flush_acks(self) -> None:
        """Write the deferred result records, then delete the rows of every pending ``ack_soon``,
        now (PostgreSQL: one statement)."""
        writes, pending = self._take_pending()
        if not pending and not writes:
            return
        try:
            if not writes:
                self._settle(*self._ack_sql(pending))
            elif self.vendor == "postgresql":
                binary = self._prepares(self._consumer_connection())  # as _settle's cursor will
                ctes, params = self._settle_ctes(pending, writes, binary)
                self._settle(f"WITH {ctes} SELECT 1", params)
            else:

                def settle() -> None:
                    with self._exclusive() as cursor:
                        self._settle_in(cursor, pending, writes)

                self._retrying(settle, reconnect=True)
        except BaseException:
            self._restore_pending(pending, writes)
            raise

    def heartbeat(self) -> None:
        self.flush_acks()

    # -- final results written with the acks (a hook of djworkers.results.database) ------------
    #: Longest a deferred result record waits for a claim before the flusher thread writes it
    #: (a batch's next job may run long; a waiting ``get()`` should not wait for it).
    RESULT_DELAY = 0.02

    def defer_result_write(self, row: ResultRow) -> bool:
        """Write a final result record (:func:`~djworkers.results.database.result_row`) in front of the
        pending acks of the next claim (or flush): PostgreSQL in the claim's own statement (a
        data-modifying CTE), SQLite in its transaction; a short task then costs no round trip (and
        no commit) of its own for its result. Only from a thread that fetches from this backend (it
        acknowledges the job and claims again soon); elsewhere, and on other databases, returns
        False: write it now. No claim within :attr:`RESULT_DELAY` (the batch's next job runs long,
        the worker stops): a flusher thread writes it then.

        The record is taken with (or before) its job's ack and written ahead of it, in the same
        transaction: a job is never acknowledged before its result is written; a crash before that
        loses both, and the job runs again (at-least-once). :meth:`close` writes what is left."""
        if self.vendor not in ("postgresql", "sqlite") or not getattr(self._local, "fetching", False):
            return False
        with self._pending_lock:
            was_idle = not self._result_writes
            self._result_writes.append(row)
        if was_idle:
            self._wake_flusher()
        return True

    def _wake_flusher(self) -> None:
        """Have the flusher look at the deferred records within RESULT_DELAY. It always looks after
        its pause, so a flag already set is left alone (setting an Event costs a lock and a notify,
        once per claim); it is started when none runs (first record, or after a quiet minute)."""
        flusher = self._flusher
        if flusher is None or not flusher.is_alive():
            self._ensure_flusher()
        if not self._flush_event.is_set():
            self._flush_event.set()

    def _ensure_flusher(self) -> None:
        with self._pending_lock:
            flusher = self._flusher
            if flusher is not None and flusher.is_alive():
                return
            self._closing.clear()
            self._flusher = threading.Thread(target=self._flush_loop, name="djworkers-db-results", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        """Write records (and acks) no claim took within RESULT_DELAY; exit after a quiet minute."""
        failures = 0
        try:
            while not self._closing.is_set():
                if not self._flush_event.wait(60):
                    with self._pending_lock:
                        if not self._result_writes:
                            self._flusher = None  # under the lock: a new record starts a new one
                            return
                    continue
                self._flush_event.clear()
                taken = self._writes_taken
                self._closing.wait(self.RESULT_DELAY if not failures else min(5.0, 0.1 * 2**failures))
                if not failures and self._writes_taken != taken:
                    with self._pending_lock:  # a claim took them; those deferred since get their own delay
                        if self._result_writes:
                            self._flush_event.set()
                    continue
                if self._closing.is_set():
                    return  # close() writes them
                try:
                    self.flush_acks()
                    failures = 0
                except Exception as exc:
                    failures += 1
                    logger.warning("Could not write deferred job results (%s); will retry", exc)
                    self._flush_event.set()
        finally:
            with self._pending_lock:
                if self._flusher is threading.current_thread():
                    self._flusher = None

    def _settle_ctes(
        self, pending: list[tuple[int, str]], writes: Sequence[ResultRow], binary: bool
    ) -> tuple[str, list[Any]]:
        """PostgreSQL: the ``result`` (upsert + NOTIFY) and ``acked`` (DELETE) CTEs, in this order.
        ``binary``: the statement runs on a psycopg cursor of our own (see :meth:`_prepares`), so the
        records' values travel in binary."""
        from ...results.database import upsert_many_sql

        ctes: list[str] = []
        params: list[Any] = []
        if writes:
            result_sql, params = upsert_many_sql(self._connection, list(writes), binary=binary)
            ctes.append(f"result AS ({result_sql})")
        if pending:
            ack_sql, ack_params = self._ack_sql(pending)
            ctes.append(f"acked AS ({ack_sql} RETURNING id)")
            params = params + ack_params
        return ", ".join(ctes), params

    def _settle_in(self, cursor: Any, pending: list[tuple[int, str]], writes: Sequence[ResultRow]) -> None:
        """SQLite, inside the caller's transaction: the result upserts, then the acks' DELETE."""
        if writes:
            from ...results.database import upsert_sql

            last = {row[0]: row for row in writes}.values()
            cursor.executemany(upsert_sql(self._connection), list(last))
        if pending:
            cursor.execute(*self._ack_sql(pending))

    def _take_pending(self) -> tuple[list[ResultRow], list[tuple[int, str]]]:
        """Deferred result writes and pending acks, taken together (a write never trails its ack)."""
        with self._pending_lock:
            writes, self._result_writes = self._result_writes, []
            pending, self._pending = self._pending, []
            if writes:
                self._writes_taken += 1
        return writes, pending

    def _restore_pending(self, pending: list[tuple[int, str]], writes: Sequence[ResultRow] = ()) -> None:
        with self._pending_lock:
            self._pending[:0] = pending
            self._result_writes[:0] = writes

    def _ack_sql(self, receipts: list[tuple[int, str]]) -> tuple[str, list[Any]]:
        by_token: dict[str, list[int]] = {}
        for job_id, token in receipts:
            by_token.setdefault(token, []).append(job_id)
        clauses, params = [], []
        for token, ids in by_token.items():
            clauses.append(f"(lease_owner = %s AND id IN ({', '.join(['%s'] * len(ids))}))")
            params += [token, *ids]
        return f"DELETE FROM {self._table} WHERE {' OR '.join(clauses)}", params

    def release(self, delivery: Delivery) -> None:
        job_id, token = delivery.receipt
        released = self._settle(  # not started: this delivery does not count (Q16)
            f"UPDATE {self._table} SET lease_owner = '', lease_expires = NULL, "
            f"attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END "
            f"WHERE id = %s AND lease_owner = %s",
            [job_id, token],
        )
        self._resume_after = None  # the released row is behind the resume point: claim from the head next
        if released and self.notify:
            with self._consumer_cursor() as cursor:
                self._notify([delivery.queue], cursor)

    def retry(self, delivery: Delivery, raw: bytes, eta: float) -> None:
        """Rewrite the frame and due time in place: one UPDATE, so nothing is lost in a crash.

        ``attempts`` starts again from 0: it counts the deliveries of the current frame that
        were never settled (``MAX_DELIVERIES``, Q16), and a retry is a settled run. The
        ``lease_owner`` marker says it ran before, so :meth:`cancel` leaves it alone.
        """
        job_id, token = delivery.receipt
        self._settle(
            f"UPDATE {self._table} SET frame = %s, available_at = %s, lease_owner = '{RETRYING}', "
            f"lease_expires = NULL, attempts = 0 WHERE id = %s AND lease_owner = %s",
            [bytes(raw), eta, job_id, token],
        )

    def extend(self, deliveries: list[Delivery]) -> None:
        by_token: dict[str, list[int]] = {}
        for delivery in deliveries:
            job_id, token = delivery.receipt
            by_token.setdefault(token, []).append(job_id)
        until = time.time() + self.lease_seconds
        for token, ids in by_token.items():
            placeholders = ", ".join(["%s"] * len(ids))
            self._settle(
                f"UPDATE {self._table} SET lease_expires = %s WHERE lease_owner = %s AND id IN ({placeholders})",
                [until, token, *ids],
            )

    def close(self) -> None:
        """Send pending acknowledgements; close the listener and this backend's own connections."""
        self._closing.set()
        self._flush_event.set()
        flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join(5)
        try:
            self.flush_acks()
        except Exception:
            logger.exception(
                "Could not send %d pending acknowledgement(s) and %d result(s); those jobs will run again",
                len(self._pending),
                len(self._result_writes),
            )
        with self._own_lock:
            listener, self._listener = self._listener, None
            own, self._own = self._own, []
        if listener is not None:
            listener.close()
        for wrapper in own:
            with contextlib.suppress(Exception):
                wrapper.close()
        self._local = threading.local()
