"""Throughput counters: jobs processed and failed per minute.

One row per (minute, door, queue). Workers never write a row per job:
:mod:`djworkers.monitoring.stats` adds up counts in memory and flushes them at most every
``DJWORKERS["STATS"]["FLUSH_INTERVAL"]`` seconds with one UPDATE ... SET
processed = processed + n per row touched. The admin dashboard and
``djworkers_status`` read these rows for the last hour.
"""

from __future__ import annotations

from django.db import models


class JobStat(models.Model):
    """Counts for one minute of one door's queue.

    ``processed`` counts jobs that returned; ``failed`` counts jobs that failed
    for good (after their last retry) or could not be decoded. Retries are not
    counted as failures: the job is still alive.
    """

    minute = models.DateTimeField(db_index=True, help_text="Start of the minute (UTC).")
    door = models.CharField(max_length=50)
    queue = models.CharField(max_length=100, blank=True)
    processed = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-minute", "door", "queue"]
        verbose_name = "job statistic"
        constraints = [models.UniqueConstraint(fields=["minute", "door", "queue"], name="djworkers_jobstat_unique")]

    def __str__(self) -> str:
        return (
            f"{self.minute:%Y-%m-%d %H:%M} {self.door}/{self.queue or '-'}: {self.processed} ok, {self.failed} failed"
        )


class Dashboard(JobStat):
    """No table of its own: the admin shows the djworkers dashboard as this "model".

    Registering a proxy model is how a reusable app gets a link on the admin
    index without asking the project to add a URL pattern.
    """

    class Meta:
        proxy = True
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"


__all__ = ["Dashboard", "JobStat"]
