"""PostgreSQL: drop the ``varchar_pattern_ops`` twins Django adds beside indexed ``CharField``s.

Django gives every indexed or unique ``CharField`` on PostgreSQL a second index
for ``LIKE 'prefix%'`` queries. Nothing here runs one on these columns (the
admin searches with ``icontains``, which no btree serves), yet every write paid
for them: each result record (an upsert per job, a new index entry each time
since ``expires_at`` changes) and each enqueued job. Measured on a django.tasks
drain: ~7 µs of server CPU and ~20 µs of wall time per task for the results
table's alone. Other databases have no such indexes: nothing to do there.
"""

from django.db import migrations

#: (table, column) whose pattern index goes
PATTERN_INDEXED = (
    ("djworkers_jobresult", "job_id"),
    ("djworkers_queuejob", "job_id"),
    ("djworkers_queuejob", "unique_key"),
)


def _pattern_indexes(cursor, table: str, column: str) -> list[str]:
    cursor.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s AND indexdef LIKE %s",
        [table, f"%({column} varchar_pattern_ops)%"],
    )
    return [row[0] for row in cursor.fetchall()]


def _on_postgresql(change):
    """A migration function calling ``change(schema_editor, table, column, existing index names)``
    for each pattern-indexed column, on PostgreSQL only."""

    def run(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            for table, column in PATTERN_INDEXED:
                change(schema_editor, table, column, _pattern_indexes(cursor, table, column))

    return run


def _drop(schema_editor, table: str, column: str, names: list[str]) -> None:
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def _create(schema_editor, table: str, column: str, names: list[str]) -> None:
    if not names:
        name = schema_editor.quote_name(f"{table}_{column}_like")
        schema_editor.execute(f"CREATE INDEX {name} ON {table} ({column} varchar_pattern_ops)")


drop_pattern_indexes = _on_postgresql(_drop)
create_pattern_indexes = _on_postgresql(_create)


class Migration(migrations.Migration):
    dependencies = [
        ("djworkers", "0006_claim_index"),
    ]

    operations = [
        migrations.RunPython(drop_pattern_indexes, create_pattern_indexes, elidable=False),
    ]
