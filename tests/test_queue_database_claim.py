"""The database backend's claim is served by an index, not a sort of the whole queue (Q5).

With 20,000 rows queued, ``EXPLAIN`` of the exact claim statement the backend
sends must show an index scan in the claim order: on PostgreSQL no ``Seq Scan``
of the table and no ``Sort`` of its rows; on SQLite no ``USE TEMP B-TREE`` for
the ORDER BY. Runs on SQLite, and on PostgreSQL under DJWORKERS_TEST_DB=postgres.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 20_000
LIMIT = 10


@pytest.fixture
def deep_queue():
    """20,000 waiting rows over two queues, three priorities, some scheduled and some leased."""
    from djworkers.queue.backends.database import DatabaseBackend

    writer = DatabaseBackend(["default", "other"])
    now = time.time()
    for priority in (0, 5, -1):
        for queue in ("default", "other"):
            writer.write_many([b"x"] * (ROWS // 6), queue=queue, priority=priority, eta=now - 10)
    writer.write_many([b"later"] * 100, queue="default", priority=9, eta=now + 3600)
    leased = writer.fetch(50, 0)  # in flight: claimed, not acked
    assert len(leased) == 50
    from django.db import connection

    with connection.cursor() as cursor:
        # What autovacuum does on a live queue; before any statistics PostgreSQL takes a
        # fresh table for a few rows and may sort them whatever the indexes.
        cursor.execute("ANALYZE")
    yield writer
    writer.flush()
    writer.close()


def _plan(backend) -> list[str]:
    """The database's plan for the claim statement ``backend`` sends, one line per node."""
    from django.db import connection

    sql = backend._claim_sql(LIMIT)
    params = backend._claim_params("token", time.time())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"EXPLAIN {sql}", params)  # no ANALYZE: nothing is claimed
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return [row[3] for row in cursor.fetchall()]


def _assert_served_by_the_claim_index(plan: list[str], vendor: str, *, queues: int) -> None:
    text = "\n".join(plan)
    assert "djworkers_queuejob_claim" in text, text
    if vendor == "postgresql":
        assert "Seq Scan" not in text, text
        # A sort by the claim order (a "Sort Key: ... priority DESC ..." line); PostgreSQL may
        # also sort the <= LIMIT picked ids to deduplicate them for IN, which is harmless.
        sorts = [i for i, line in enumerate(plan) if "Sort Key:" in line and "priority" in line]
        if queues == 1:
            assert not sorts, text
        else:
            # Several queues: one bounded sort of the per-queue picks (LIMIT rows each),
            # above a per-queue Limit over the index scan, never over the table itself.
            assert len(sorts) == 1, text
            below = "\n".join(plan[sorts[0] :])
            assert "Limit" in below and "LockRows" in below and "Values Scan" in below, text
    else:
        table_access = [line for line in plan if "djworkers_queuejob" in line]
        for line in table_access:
            assert "USING INDEX djworkers_queuejob_claim (queue=?" in line or "PRIMARY KEY" in line, text
        temp_sorts = [line for line in plan if "USE TEMP B-TREE" in line]
        if queues == 1:
            assert not temp_sorts, text
        else:
            # Several queues: one sort of the merged per-queue picks (LIMIT rows each).
            assert temp_sorts == ["USE TEMP B-TREE FOR ORDER BY"], text


def test_claim_on_one_queue_reads_the_index_in_order(deep_queue):
    """Q5: ORDER BY priority DESC, available_at, id is the claim index's order: no sort, no scan."""
    from django.db import connection

    from djworkers.queue.backends.database import DatabaseBackend

    backend = DatabaseBackend(["default"])
    try:
        _assert_served_by_the_claim_index(_plan(backend), connection.vendor, queues=1)
    finally:
        backend.close()


def test_claim_on_several_queues_merges_per_queue_index_reads(deep_queue):
    """Q5: with several queues each queue is read through the index; only LIMIT x queues rows are sorted."""
    from django.db import connection

    from djworkers.queue.backends.database import DatabaseBackend

    backend = DatabaseBackend(["default", "other", "empty"])
    try:
        _assert_served_by_the_claim_index(_plan(backend), connection.vendor, queues=3)
    finally:
        backend.close()


def test_claim_order_across_queues_is_priority_then_due_time_then_id(deep_queue):
    """Q5, Q14: the merged claim keeps the global order: highest priority first, then oldest, then id."""
    from djworkers.queue.backends.database import DatabaseBackend

    deep_queue.flush()
    now = time.time()
    deep_queue.write(b"other-p1-old", queue="other", priority=1, eta=now - 30)
    deep_queue.write(b"default-p1-new", queue="default", priority=1, eta=now - 20)
    deep_queue.write(b"default-p7", queue="default", priority=7, eta=now - 5)
    deep_queue.write(b"other-p0", queue="other", priority=0, eta=now - 60)
    deep_queue.write(b"default-p1-newer", queue="default", priority=1, eta=now - 20)
    backend = DatabaseBackend(["default", "other"])
    try:
        got = [d.raw for d in backend.fetch(4, 0)]
        assert got == [b"default-p7", b"other-p1-old", b"default-p1-new", b"default-p1-newer"]
        assert [d.raw for d in backend.fetch(4, 0)] == [b"other-p0"]
    finally:
        backend.close()


def test_postgresql_vacuums_the_queue_table_often():
    """Q5: on PostgreSQL the queue table is vacuumed every 1,000 deleted rows, so the dead index
    entries acknowledged jobs leave at the head of the claim index do not pile up."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (autovacuum); run with DJWORKERS_TEST_DB=postgres")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'djworkers_queuejob'")
        options = set(cursor.fetchone()[0] or [])
    assert {"autovacuum_vacuum_scale_factor=0", "autovacuum_vacuum_threshold=1000"} <= options


def test_postgresql_writes_pay_for_no_pattern_indexes_nothing_queries():
    """Q5, Q12: the ``varchar_pattern_ops`` twins Django adds beside indexed CharFields on PostgreSQL
    (for LIKE 'prefix%', which nothing here runs) are dropped: every result upsert and every enqueue
    paid for them. The migration's reverse puts them back."""
    import importlib

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (pattern indexes); run with DJWORKERS_TEST_DB=postgres")
    migration = importlib.import_module("djworkers.migrations.0007_drop_pattern_indexes")

    def pattern_indexes() -> set[tuple[str, str]]:
        with connection.cursor() as cursor:
            return {
                (table, column)
                for table, column in migration.PATTERN_INDEXED
                if migration._pattern_indexes(cursor, table, column)
            }

    assert pattern_indexes() == set()
    with connection.schema_editor() as editor:
        migration.create_pattern_indexes(None, editor)
    try:
        assert pattern_indexes() == set(migration.PATTERN_INDEXED)
    finally:
        with connection.schema_editor() as editor:
            migration.drop_pattern_indexes(None, editor)
    assert pattern_indexes() == set()


def _postgresql_only() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (resumed claims); run with DJWORKERS_TEST_DB=postgres")


def _index_pages_read(backend, resume) -> int:
    """Shared buffers the claim's index scan(s) read, per EXPLAIN (ANALYZE, BUFFERS), rolled back."""
    from django.db import connection, transaction

    sql = backend._claim_sql(1, resume is not None)
    params = backend._claim_params("token", time.time(), resume)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)  # ANALYZE ran the claim: undo it
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)

    def walk(node) -> int:
        own = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
        here = own if node.get("Index Name") == "djworkers_queuejob_claim" else 0
        return here + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


def test_postgresql_claim_resumes_past_the_dead_entries_of_acked_jobs():
    """Q5: acked rows leave dead entries at the head of the claim index until VACUUM; a claim
    resumed after the last claimed row reads a few index pages however many there are."""
    _postgresql_only()
    from django.db import connection

    from djworkers.queue.backends.database import DatabaseBackend

    backend = DatabaseBackend(["default"])
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE djworkers_queuejob SET (autovacuum_enabled = false)")
    try:
        backend.write_many([b"x"] * 6_000, eta=time.time() - 10)
        for _ in range(50):
            for delivery in backend.fetch(100, 0):
                backend.ack_soon(delivery)
        backend.flush_acks()  # 5,000 rows deleted at the head, not vacuumed
        resume = backend._resume_after
        assert resume is not None
        from_head, resumed = _index_pages_read(backend, None), _index_pages_read(backend, resume)
        assert resumed <= 10 < from_head, (resumed, from_head)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE djworkers_queuejob RESET (autovacuum_enabled)")
        backend.flush()
        backend.close()


def test_postgresql_resumed_claim_still_takes_urgent_released_and_late_jobs():
    """Q5, Q14, Q16: a resumed claim takes a new higher-priority job first; a job released by this
    consumer is claimed next; a job behind the resume point (committed late, or an eta in the
    past) when the resumed pick finds nothing, or at the next claim from the head."""
    _postgresql_only()
    from djworkers.queue.backends.database import DatabaseBackend

    backend = DatabaseBackend(["default"])
    backend.RESCAN_SECONDS = 3600  # only the rules under test decide, not the clock
    now = time.time()

    def claim() -> bytes:
        (delivery,) = backend.fetch(1, 0)
        return delivery

    try:
        backend.write_many([b"a", b"b", b"c", b"d"], eta=now - 10)
        assert claim().raw == b"a"
        backend.write(b"urgent", priority=5)
        assert claim().raw == b"urgent"
        b = claim()
        assert b.raw == b"b"
        backend.release(b)
        assert claim().raw == b"b"
        backend.write(b"late", eta=now - 60)  # before every row claimed so far
        assert claim().raw == b"c"
        assert claim().raw == b"d"
        assert claim().raw == b"late"  # nothing after d: from the head
        backend.write_many([b"e", b"f"], eta=now - 5)
        assert claim().raw == b"e"
        backend.write(b"later-late", eta=now - 60)
        backend.RESCAN_SECONDS = 0  # every claim from the head
        assert claim().raw == b"later-late"
        assert claim().raw == b"f"
        assert backend.fetch(1, 0) == []
    finally:
        backend.flush()
        backend.close()
