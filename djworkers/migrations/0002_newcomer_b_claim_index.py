"""The claim index: (queue, priority DESC, available_at, id), the database backend's claim order.

The old index (queue, priority, available_at) could not serve ``ORDER BY priority
DESC, available_at, id``: every claim sorted the whole queue.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("djworkers", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="queuejob", name="djworkers_queuejob_due"),
        migrations.AddIndex(
            model_name="queuejob",
            index=models.Index(fields=["queue", "-priority", "available_at", "id"], name="djworkers_queuejob_claim"),
        ),
    ]
