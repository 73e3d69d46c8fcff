"""The database result store's table: one row per job that asked for its result (Q12)."""

from __future__ import annotations

from django.db import models

__all__ = ["JobResult"]


class JobResult(models.Model):
    job_id = models.CharField(max_length=64, primary_key=True)
    status = models.CharField(max_length=16, help_text="queued, running, retrying, succeeded, failed, cancelled.")
    frame = models.BinaryField(help_text="The sealed (serialized and signed) result record.")
    expires_at = models.FloatField(db_index=True, help_text="Unix time after which the row is purged.")

    class Meta:
        verbose_name = "job result"

    def __str__(self) -> str:
        return f"result of job {self.job_id} ({self.status})"
