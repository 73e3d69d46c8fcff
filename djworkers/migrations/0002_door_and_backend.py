"""Name the door and the backend kind separately (they were one "transport" field).

A failed job recorded by the Redis queue backend said ``transport="redis"``, so
replay could not find the queue door and ran it inline; such rows become
``door="queue", backend="redis"``. The same holds for job statistics.
"""

from django.db import migrations, models

#: Old "transport" values that were backend kinds of the queue door.
QUEUE_BACKEND_KINDS = ("redis",)


def split_transport(apps, schema_editor):
    FailedJob = apps.get_model("djworkers", "FailedJob")
    JobStat = apps.get_model("djworkers", "JobStat")
    for kind in QUEUE_BACKEND_KINDS:
        FailedJob.objects.filter(door=kind).update(door="queue", backend=kind)
        # Per-minute rows of "redis" and "queue" for one minute and queue would collide: add them up.
        for row in JobStat.objects.filter(door=kind):
            target, created = JobStat.objects.get_or_create(
                minute=row.minute,
                door="queue",
                queue=row.queue,
                defaults={"processed": row.processed, "failed": row.failed},
            )
            if not created:
                target.processed += row.processed
                target.failed += row.failed
                target.save(update_fields=["processed", "failed"])
            row.delete()


def join_transport(apps, schema_editor):
    FailedJob = apps.get_model("djworkers", "FailedJob")
    for kind in QUEUE_BACKEND_KINDS:
        FailedJob.objects.filter(door="queue", backend=kind).update(door=kind)


class Migration(migrations.Migration):
    dependencies = [("djworkers", "0001_initial")]

    operations = [
        migrations.RenameField("failedjob", "transport", "door"),
        migrations.AlterField(
            "failedjob",
            "door",
            models.CharField(
                db_index=True,
                max_length=50,
                help_text="The front door that delivered the job (replay sends it back there).",
            ),
        ),
        migrations.AddField(
            "failedjob",
            "backend",
            models.CharField(
                blank=True,
                max_length=50,
                default="",
                help_text="The door's storage kind (database, redis, memory, ...).",
            ),
            preserve_default=False,
        ),
        migrations.RemoveConstraint("jobstat", "djworkers_jobstat_unique"),
        migrations.RenameField("jobstat", "transport", "door"),
        migrations.AddConstraint(
            "jobstat",
            models.UniqueConstraint(fields=("minute", "door", "queue"), name="djworkers_jobstat_unique"),
        ),
        migrations.AlterModelOptions(
            "jobstat", {"ordering": ["-minute", "door", "queue"], "verbose_name": "job statistic"}
        ),
        migrations.RunPython(split_transport, join_transport),
    ]
