"""The raw database ceilings: claim one row, run the job, delete the row, in one transaction.

What a database queue costs on its own, as the raw redis-py loop is for Redis:
no ORM, no envelope, no signing, no lease. PostgreSQL (psycopg 3) claims with
``SELECT ... FOR UPDATE SKIP LOCKED`` (concurrent loops skip each other's
rows); SQLite (the stdlib ``sqlite3``) takes the write lock first with
``BEGIN IMMEDIATE``. The table has the columns a queue orders by (queue,
priority, available_at) and an index that serves the claim's ``ORDER BY``, so
the loop's rate holds at any depth: it is the ceiling the database backend is
compared with. One row per transaction, as a one-job-at-a-time loop: the
backend, which claims and deletes in batches, can beat it on commits alone.
On PostgreSQL the loop's transactions skip the WAL flush wait
(``synchronous_commit = off``), as the backend's consumer connection does.

Run as a worker: ``python -m benchmarks.peers.raw_db postgres|sqlite`` (exits
when a claim finds nothing: a burst worker). The connection comes from the
``BENCH_PG_*`` / ``BENCH_SQLITE_PATH`` variables the harness sets.
"""

from __future__ import annotations

import os
import sys
import time

from .. import workload
from .base import Peer
from .raw import work

TABLE = "bench_raw_jobs"
QUEUE = "default"
CLAIM = (
    f"SELECT id, frame FROM {TABLE} WHERE queue = {{p}} AND available_at <= {{p}} "
    f"ORDER BY priority DESC, available_at, id LIMIT 1"
)
INSERT = f"INSERT INTO {TABLE} (queue, priority, available_at, frame) VALUES ({{p}}, 0, {{p}}, {{p}})"
DELETE = f"DELETE FROM {TABLE} WHERE id = {{p}}"

SCHEMA = {
    "postgres": [
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, queue varchar(100) NOT NULL, "
        "priority smallint NOT NULL, available_at double precision NOT NULL, frame bytea NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_claim ON {TABLE} (queue, priority DESC, available_at, id)",
    ],
    "sqlite": [
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id integer PRIMARY KEY AUTOINCREMENT, queue varchar(100) NOT NULL, "
        "priority smallint NOT NULL, available_at real NOT NULL, frame blob NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_claim ON {TABLE} (queue, priority DESC, available_at, id)",
    ],
}


def connect(db: str):
    """An autocommit connection to the run's database (transactions are explicit)."""
    if db == "postgres":
        import psycopg

        return psycopg.connect(
            host=os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
            port=os.environ.get("BENCH_PG_PORT", "5432"),
            user=os.environ.get("BENCH_PG_USER", "postgres"),
            dbname=os.environ["BENCH_PG_NAME"],
            autocommit=True,
        )
    import sqlite3

    return sqlite3.connect(os.environ["BENCH_SQLITE_PATH"], timeout=30, isolation_level=None)


def sql(db: str, statement: str) -> str:
    return statement.format(p="%s" if db == "postgres" else "?")


def create_table(connection, db: str) -> None:
    for statement in SCHEMA[db]:
        connection.execute(statement)


def loop(db: str) -> None:
    """Claim the first due row, INCR, delete it, commit; exit when nothing is due."""
    connection = connect(db)
    if db == "postgres":
        # As djworkers' consumer connection: a claim or delete lost in a server crash means the
        # job runs again (at-least-once); enqueues stay durable.
        connection.execute("SET synchronous_commit TO OFF")
    client = workload.client()
    claim = sql(db, CLAIM) + (" FOR UPDATE SKIP LOCKED" if db == "postgres" else "")
    delete = sql(db, DELETE)
    begin = "BEGIN" if db == "postgres" else "BEGIN IMMEDIATE"
    while True:
        connection.execute(begin)
        try:
            row = connection.execute(claim, (QUEUE, time.time())).fetchone()
            if row is None:
                connection.execute("COMMIT")
                return
            work(client, bytes(row[1]))
            connection.execute(delete, (row[0],))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


class RawDatabase(Peer):
    """Enqueue = one INSERT in autocommit; bulk = executemany in one transaction."""

    burst = True

    def __init__(self, db: str) -> None:
        self.db = db
        self.name = f"raw {db}"
        self._connection = None

    @property
    def connection(self):
        if self._connection is None:
            self._connection = connect(self.db)
            create_table(self._connection, self.db)
        return self._connection

    def setup(self) -> None:
        if self.db == "postgres" and not os.environ.get("BENCH_PG_NAME"):
            from ..harness import Unavailable

            raise Unavailable("no PostgreSQL database in this run")
        self.connection  # noqa: B018  (creates the table before any measurement)

    def enqueuer(self, job: str):
        connection, insert, payload = self.connection, sql(self.db, INSERT), workload.RAW_PAYLOAD
        return lambda: connection.execute(insert, (QUEUE, time.time(), payload))

    def bulk(self, job: str, count: int) -> None:
        insert, payload = sql(self.db, INSERT), workload.RAW_PAYLOAD
        connection = self.connection
        for start in range(0, count, 1000):
            now = time.time()
            rows = [(QUEUE, now, payload) for _ in range(min(1000, count - start))]
            connection.execute("BEGIN")
            if self.db == "postgres":
                with connection.cursor() as cursor:
                    cursor.executemany(insert, rows)
            else:
                connection.executemany(insert, rows)
            connection.execute("COMMIT")

    def clear(self) -> None:
        self.connection.execute(f"DELETE FROM {TABLE}")

    def worker(self, threads: int, child, burst: bool = True):
        return [child.python, "-m", "benchmarks.peers.raw_db", self.db], {}

    def queued(self) -> int:
        return self.connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]


if __name__ == "__main__":
    loop(sys.argv[1])
