"""One ztaskd node's storage and runtime pieces: its queue name, its source, its executor.

A node keeps the messages it receives as rows of the database queue backend's
table under its own queue name (``ztask:<host>:<url>``), so several nodes may
share one database. :class:`NodeSource` is that backend with the ztask door's
name and a wake-up from the receiver (on SQLite there is no NOTIFY to wait on).
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, transaction
from django.utils.timezone import now as timezone_now

from .. import conf
from ..messages import Message
from ..queue.backends.base import Delivery
from ..queue.backends.database import CHANNEL, DatabaseBackend, _PreparedCursor
from ..registry import Job, Registry
from ..registry import registry as default_registry
from ..runtime.executor import Executor, Outcome, Result
from .door import DOOR
from .models import NODE_PREFIX

#: Longest an idle job thread waits before it looks at the table again (a retry or
#: an ``.after`` task falling due, another process's write).
IDLE_POLL = 0.2
#: Characters of the last traceback a retried message carries (shown in the admin).
LAST_ERROR_LIMIT = 4000


def node_queue(url: str, host: str | None = None) -> str:
    """The queue-table name of the node listening at ``url`` on ``host`` (max 100 characters)."""
    return f"{NODE_PREFIX}{host or socket.gethostname()}:{url}"[:100]


def database_alias() -> str:
    """The database ztaskd writes ahead to: the queue's CONNECTION when the queue uses the
    database backend, else ``default``."""
    queue = conf.section("QUEUE")
    if queue["BACKEND"] == "database" and queue["CONNECTION"]:
        return str(queue["CONNECTION"])
    return "default"


class NodeSource(DatabaseBackend):
    """The database backend under the ztask door's name, woken by the receiver.

    ``local``: the receiver runs in this process and sets :attr:`wakeup`, which wakes
    every idle job thread at once (a PostgreSQL notification wakes only one of the
    threads sharing the backend's listener). A ``--multiprocess`` worker process
    is not local: it waits on LISTEN (PostgreSQL) or polls every ``IDLE_POLL`` s.
    """

    door = DOOR
    backend = "database"

    def __init__(self, queue: str, *, alias: str | None = None, local: bool = True):
        settings = conf.section("QUEUE")
        super().__init__(
            [queue], alias or database_alias(), lease_seconds=settings["LEASE_SECONDS"], notify=bool(settings["NOTIFY"])
        )
        self.blocking = True
        self.local = local
        self.wakeup = threading.Event()

    def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        """Claim due rows; when there are none, wait for the receiver (or LISTEN) up to ``timeout``."""
        if self.notify and not self.local:
            return super().fetch(limit, timeout)
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            self.wakeup.clear()
            deliveries = self._claim(limit)
            left = deadline - time.monotonic()
            if deliveries or left <= 0:
                return deliveries
            self.wakeup.wait(min(left, IDLE_POLL))

    def write_ahead(self, frames: Sequence[tuple[bytes, float]]) -> None:
        """Insert received ``(frame, due time)`` pairs in one statement, one transaction (Z2).

        The receiver's hot path: the ORM's ``bulk_create`` built a model instance and
        compiled a placeholder per row (measured: ~65 µs of CPU per job on
        PostgreSQL, more than the claim and settle of the job together). On
        PostgreSQL the batch is one ``INSERT ... SELECT FROM unnest(arrays)``: a
        single statement shape for any batch size, so it is prepared once on the
        receiver's connection. That connection keeps ``synchronous_commit`` on (unlike
        the consumer's): a frame is durable before the next one is read. SQLite takes
        one ``executemany`` in one transaction; other databases the backend's
        ``bulk_create``.
        """
        if not frames:
            return
        queue = self.queues[0]
        conn = connections[self.alias]
        if self.vendor == "postgresql":
            self._retrying(lambda: self._write_ahead_postgresql(conn, queue, frames))
        elif self.vendor == "sqlite":
            self._retrying(lambda: self._write_ahead_sqlite(conn, queue, frames))
        else:
            for frame, due in frames:
                self.write(frame, queue=queue, eta=due)

    def _write_ahead_postgresql(self, conn: Any, queue: str, frames: Sequence[tuple[bytes, float]]) -> None:
        conn.ensure_connection()
        prepared = not conn.in_atomic_block and "prepare_threshold" not in conn.settings_dict.get("OPTIONS", {})
        # prepared: the arrays go in binary (%b), with no escaping of the frames' bytes
        arrays = "%b::bytea[], %b::float8[]" if prepared else "%s::bytea[], %s::float8[]"
        sql = (
            f"INSERT INTO {self._table} (queue, frame, priority, available_at, lease_owner, lease_expires, "
            f"attempts, created, job_id) SELECT %s, t.frame, 0, t.due, '', NULL, 0, %s, '' "
            f"FROM unnest({arrays}) WITH ORDINALITY AS t(frame, due, n) ORDER BY t.n"
        )
        params: list[Any] = [queue, timezone_now(), [frame for frame, _ in frames], [due for _, due in frames]]
        if self.notify:  # one notification per batch, sent at commit
            sql = (
                f"WITH inserted AS ({sql} RETURNING 1) "
                f"SELECT pg_notify(%s, %s) FROM (SELECT 1 FROM inserted LIMIT 1) AS one"
            )
            params += [CHANNEL, queue]
        if not prepared:
            with conn.cursor() as cursor:  # a caller's transaction (tests) or prepared statements turned off
                cursor.execute(sql, params)
            return
        with _PreparedCursor(conn) as cursor:  # this thread's own connection: the receiver's
            cursor.execute(sql, params)

    def _write_ahead_sqlite(self, conn: Any, queue: str, frames: Sequence[tuple[bytes, float]]) -> None:
        created = conn.ops.adapt_datetimefield_value(timezone_now())
        sql = (
            f"INSERT INTO {self._table} (queue, frame, priority, available_at, lease_owner, lease_expires, "
            f"attempts, created, job_id) VALUES (%s, %s, 0, %s, '', NULL, 0, %s, '')"
        )
        with transaction.atomic(using=self.alias), conn.cursor() as cursor:
            cursor.executemany(sql, [(queue, frame, due, created) for frame, due in frames])

    def release_all(self) -> int:
        """Give back every lease on this node's rows: at start, the only holder of those
        leases was this node's previous run, which is gone (the bound port proves it)."""
        return self._settle(
            f"UPDATE {self._table} SET lease_owner = '', lease_expires = NULL "
            f"WHERE queue = %s AND lease_expires IS NOT NULL",
            [self.queues[0]],
        )


class TaskJobs(Registry):
    """The registry as ztaskd sees it: ztask jobs with ``RETRY_COUNT`` retries every
    ``RETRY_AFTER`` seconds (a constant delay, as the original), other jobs unchanged."""

    def __init__(self, base: Registry, retries: int, delay: float):
        super().__init__()
        self.base, self.retries, self.delay = base, retries, delay
        #: name -> (the registry's job, this view of it): the executor and the worker look a job
        #: up about twice per run, and a ``dataclasses.replace`` each time cost ~5 µs apiece.
        self._views: dict[str, tuple[Job, Job]] = {}

    def get(self, name: str) -> Job:
        job = self.base.get(name)
        view = self._views.get(name)
        if view is not None and view[0] is job:  # still the registered job (not re-registered since)
            return view[1]
        if job.door != DOOR:
            return job
        ztask_job = dataclasses.replace(
            job,
            retries=self.retries if job.retries is None else job.retries,
            retry_delay=self.delay if job.retry_delay is None else job.retry_delay,
            retry_backoff=1.0,
        )
        self._views[name] = (job, ztask_job)
        return ztask_job

    def names(self) -> list[str]:
        return self.base.names()

    def __len__(self) -> int:
        # Not 0: the executor takes ``registry or default_registry``, and an empty-looking
        # view would be replaced by the plain registry (no ztask retry settings).
        return len(self.base)


class NodeExecutor(Executor):
    """The core executor, recording this node's queue on failed jobs and carrying the last
    error of a retried task in its frame (the admin shows it on the pending row)."""

    def __init__(self, queue: str, *, registry: Registry | None = None, **kwargs: Any):
        settings = conf.section("ZTASK")
        jobs = TaskJobs(registry or default_registry, int(settings["RETRY_COUNT"]), float(settings["RETRY_AFTER"]))
        super().__init__(DOOR, "database", registry=jobs, **kwargs)
        self.queue = queue

    def run(self, message: Message, raw: bytes | None = None, abandoned: Callable[[], bool] | None = None) -> Result:
        result = super().run(message.replace(queue=self.queue), raw, abandoned)
        if result.outcome is Outcome.RETRY and result.traceback:
            options = {**result.message.options, "last_error": result.traceback[-LAST_ERROR_LIMIT:]}
            result.message = result.message.replace(options=options)
        return result
