"""The database result store's table: one row per job that asked for its result (Q12)."""

from __future__ import annotations

from django.db import models

__all__ = ["JobResult"]


class JobResult(models.Model):
    job_id = models.CharField(max_length=64, primary_key=True)
    status = models.CharField(max_length=16, help_text="queued, running, retrying, succeeded, failed, cancelled.")
    frame = models.BinaryField(help_text="The sealed (serialized and signed) result record.")
    #: Not indexed: every write of a record moves it, and an index on it would make each of those
    #: updates a new row version with new index entries (on PostgreSQL, not a HOT update).
    expires_at = models.FloatField(help_text="Unix time after which the row is purged.")
    #: Indexed for the purge instead: set by a record's first write and never changed, so the
    #: later writes touch no indexed column. A row expires ``ttl`` seconds after its last write,
    #: so one expired now was created at least ``ttl`` seconds ago: ``created_at <= now - ttl``
    #: narrows the purge to those rows (see ``DatabaseResultStore.purge``).
    created_at = models.FloatField(default=0.0, db_index=True, help_text="Unix time of the first write.")

    class Meta:
        verbose_name = "job result"

    def __str__(self) -> str:
        return f"result of job {self.job_id} ({self.status})"
