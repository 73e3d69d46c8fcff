"""Results of the database queue backend: rows of :class:`~.models.JobResult`.

A write is one upsert on the calling thread's connection (``INSERT ... ON
CONFLICT DO UPDATE``, which SQLite and PostgreSQL both speak); on PostgreSQL a
final write also ``NOTIFY``s :data:`CHANNEL` with the job id in the same
statement, and a waiter ``LISTEN``s on a connection of its own: no polling.
Elsewhere (SQLite) a waiter polls the row with a back-off, from 50 ms up to
one second between reads.

The final record of a job its consumer acknowledges next (:meth:`DatabaseResultStore.save_soon`)
goes to the queue backend (:meth:`~djworkers.queue.backends.database.DatabaseBackend.
defer_result_write`), which writes it in the same statement (PostgreSQL, :func:`upsert_many_sql`)
or transaction (SQLite) as the job's acknowledgement and its next claim, in front of the ack.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

from django.db import OperationalError, connections

from ..queue.backends.database import LOCK_RETRIES, ResultRow, _is_lock_error
from .base import ResultStore
from .record import FINAL, ResultRecord

#: PostgreSQL channel final writes NOTIFY; payload = job id.
CHANNEL = "djworkers_results"
#: Polling back-off where there is no LISTEN/NOTIFY: first wait, factor, longest wait.
POLL = (0.05, 1.5, 1.0)


def results_table(connection: Any) -> str:
    from .models import JobResult

    return connection.ops.quote_name(JobResult._meta.db_table)


#: What one write of a record sets; ``created_at`` only when it inserts the row (see
#: ``JobResult.created_at``): no write changes an indexed column, so on PostgreSQL each
#: rewrite of a row is a HOT update (migration 0008).
_ON_CONFLICT = (
    "ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, frame = excluded.frame, "
    "expires_at = excluded.expires_at"
)


def result_row(job_id: str, status: str, frame: bytes, ttl: float) -> ResultRow:
    """A record's row as written now: ``(job id, status, frame, expires_at, created_at)``."""
    now = time.time()
    return job_id, status, bytes(frame), now + ttl, now


def upsert_sql(connection: Any) -> str:
    """One record's upsert; parameters: a :func:`result_row`."""
    return (
        f"INSERT INTO {results_table(connection)} (job_id, status, frame, expires_at, created_at) "
        f"VALUES (%s, %s, %s, %s, %s) {_ON_CONFLICT}"
    )


#: Most records one upsert writes as rows of ``VALUES`` (a consumer writes one batch's worth per
#: claim, 4 per thread by default); more go as ``unnest`` of five arrays.
MAX_VALUES_ROWS = 8


def upsert_many_sql(connection: Any, rows: list[ResultRow], binary: bool = False) -> tuple[str, list[Any]]:
    """PostgreSQL: final records (:func:`result_row`) in one upsert that NOTIFYs each
    job id (:data:`CHANNEL`), usable as a data-modifying CTE (its RETURNING runs the notifies even when
    nothing reads it). Up to :data:`MAX_VALUES_ROWS` records go as rows of plain parameters, more as
    ``unnest`` of five arrays: psycopg dumps a scalar in C, an array in Python (~17 µs for five of
    them, which a one-thread consumer paid on every claim). Each row count is its own statement
    shape, prepared once. A job id given twice keeps its last record (one upsert may not touch a
    row twice). ``binary``: the values travel in psycopg's binary format (``%b``, for a cursor
    binding on the server: not Django's, which inlines values); the text form escapes every frame
    byte by byte, which cost ~7 us per task on the consumer's hot path."""
    last = list({row[0]: row for row in rows}.values())
    sql = _upsert_many_text(results_table(connection), len(last), "%b" if binary else "%s")
    if len(last) <= MAX_VALUES_ROWS:
        return sql, [*itertools.chain.from_iterable(last), CHANNEL]
    return sql, [*(list(column) for column in zip(*last, strict=True)), CHANNEL]


@functools.lru_cache(maxsize=64)
def _upsert_many_text(table: str, count: int, p: str) -> str:
    """The text of :func:`upsert_many_sql` for ``count`` rows, built once per shape (a consumer asks
    for it with every claim that carries records)."""
    insert = f"INSERT INTO {table} (job_id, status, frame, expires_at, created_at)"
    returning = f"{_ON_CONFLICT} RETURNING pg_notify(%s, job_id)"
    if count <= MAX_VALUES_ROWS:
        one = f"({p}::varchar, {p}::varchar, {p}::bytea, {p}::float8, {p}::float8)"
        return f"{insert} VALUES {', '.join([one] * count)} {returning}"
    arrays = f"SELECT * FROM unnest({p}::varchar[], {p}::varchar[], {p}::bytea[], {p}::float8[], {p}::float8[])"
    return f"{insert} {arrays} {returning}"


class DatabaseResultStore(ResultStore):
    def __init__(
        self,
        ttl: float,
        alias: str = "default",
        connection: Callable[[], Any] | None = None,
        settle_with: Callable[[ResultRow], bool] | None = None,
    ):
        """``connection``: returns the connection to write through (the queue backend passes its
        consumer's persistent one: the thread's Django connection is closed after every job when
        ``CONN_MAX_AGE`` is 0, and reconnecting per result cost more than the job). Default: the
        thread's Django connection for ``alias``. ``settle_with``: the queue backend's
        ``defer_result_write`` (same database), which writes a final record with its job's ack."""
        super().__init__(ttl)
        self.alias = alias
        self._get_connection = connection
        self.settle_with = settle_with

    @property
    def _connection(self):
        return connections[self.alias] if self._get_connection is None else self._get_connection()

    @property
    def _table(self) -> str:
        from .models import JobResult

        return self._connection.ops.quote_name(JobResult._meta.db_table)

    @property
    def _notifies(self) -> bool:
        return self._connection.vendor == "postgresql"

    def write(self, job_id: str, status: str, frame: bytes) -> None:
        """One upsert (the status also in its own column, for the admin and for queries); on
        PostgreSQL a final one NOTIFYs in the same statement. SQLite lock errors are retried."""
        sql = upsert_sql(self._connection)
        params: list = list(result_row(job_id, status, frame, self.ttl))
        if status in FINAL and self._notifies:
            sql = f"WITH saved AS ({sql} RETURNING job_id) SELECT pg_notify(%s, job_id) FROM saved"
            params.append(CHANNEL)
        delay = 0.01
        for attempt in range(LOCK_RETRIES):
            try:
                with self._connection.cursor() as cursor:
                    cursor.execute(sql, params)
                return
            except OperationalError as exc:
                if not _is_lock_error(exc) or attempt == LOCK_RETRIES - 1:
                    raise
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(0.5, delay * 2)

    def save_soon(self, record: ResultRecord) -> None:
        """A final record of a job its consumer acknowledges next: written with that ack, in front of
        it, in the consumer's next claim (the backend decides; else written now)."""
        if self.settle_with is None or record.status not in FINAL:
            self.save(record)
            return
        self._lazy.cancel(record.job_id)
        row = result_row(record.job_id, record.status, record.seal(), self.ttl)
        if not self.settle_with(row):
            self.write(*row[:3])

    def read(self, job_id: str) -> bytes | None:
        with self._connection.cursor() as cursor:
            cursor.execute(
                f"SELECT frame FROM {self._table} WHERE job_id = %s AND expires_at > %s", [job_id, time.time()]
            )
            row = cursor.fetchone()
        return bytes(row[0]) if row else None

    def _final_frame(self, job_id: str) -> bytes | None:
        frame = self.read(job_id)
        if frame is not None and ResultRecord.unseal(frame).is_final:
            return frame
        return None

    def wait_final(self, job_id: str, timeout: float | None) -> bytes | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._notifies:
            return self._wait_notified(job_id, deadline)
        delay, factor, longest = POLL
        while True:
            frame = self._final_frame(job_id)
            if frame is not None:
                return frame
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            time.sleep(delay if left is None else min(delay, left))
            delay = min(longest, delay * factor)

    def _wait_notified(self, job_id: str, deadline: float | None) -> bytes | None:
        """LISTEN first, then read once (a result written in between is not missed), then
        read again only when a NOTIFY names this job."""
        base = connections[self.alias]
        wrapper = type(base)(copy.deepcopy(base.settings_dict), self.alias)
        try:
            wrapper.ensure_connection()
            raw = wrapper.connection
            raw.autocommit = True
            raw.execute(f"LISTEN {CHANNEL}")
            while True:
                frame = self._final_frame(job_id)
                if frame is not None:
                    return frame
                while True:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return None
                    # a finite slice even without a deadline: a dead server is noticed
                    woke = any(
                        notify.payload == job_id
                        for notify in raw.notifies(timeout=5.0 if left is None else min(left, 5.0), stop_after=1)
                    )
                    if woke:
                        break
        finally:
            with contextlib.suppress(Exception):
                wrapper.close()

    def purge(self) -> int:
        with self._connection.cursor() as cursor:
            # created_at first: the indexed column narrows the scan (see JobResult.created_at)
            now = time.time()
            cursor.execute(
                f"DELETE FROM {self._table} WHERE created_at <= %s AND expires_at <= %s", [now - self.ttl, now]
            )
            return cursor.rowcount

    def delete(self, job_id: str) -> None:
        with self._connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {self._table} WHERE job_id = %s", [job_id])
