"""The claim index: (queue, priority DESC, available_at, id), the database backend's claim order.

The old index (queue, priority, available_at) could not serve ``ORDER BY priority
DESC, available_at, id``: every claim sorted the whole queue.

On PostgreSQL the queue table is also vacuumed after every 1,000 deleted rows
instead of after 20% of the table: acknowledged jobs are deleted from the head
of the claim index, and until VACUUM removes their dead entries every claim
steps over them (measured: 90,000 dead entries make a claim read ~450 index
pages, 1 ms, instead of 4 pages).
"""

from django.db import migrations, models

QUEUE_TABLE_AUTOVACUUM = "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000"


def tune_autovacuum(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE djworkers_queuejob SET ({QUEUE_TABLE_AUTOVACUUM})")


def reset_autovacuum(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE djworkers_queuejob RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("djworkers", "0005_ztask_nodes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="queuejob", name="djworkers_queuejob_due"),
        migrations.AddIndex(
            model_name="queuejob",
            index=models.Index(fields=["queue", "-priority", "available_at", "id"], name="djworkers_queuejob_claim"),
        ),
        migrations.RunPython(tune_autovacuum, reset_autovacuum, elidable=False),
    ]
