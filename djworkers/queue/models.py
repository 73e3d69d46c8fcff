"""The database queue backend's one table.

A row is a job waiting, scheduled or leased. Its state is in its columns, so
every state has a way back: a leased row whose ``lease_expires`` has
passed is simply ready again; ``ack`` deletes the row; a retry rewrites the
frame and ``available_at``. Times are unix seconds (floats) so lease and eta
arithmetic is the same on every database and independent of ``USE_TZ``.
"""

from __future__ import annotations

from django.db import models

__all__ = ["QueueJob"]


class QueueJob(models.Model):
    queue = models.CharField(max_length=100)
    frame = models.BinaryField(help_text="The signed message, exactly as enqueued; never decoded here.")
    priority = models.SmallIntegerField(default=0, help_text="Higher runs first.")
    available_at = models.FloatField(help_text="Unix time from which the job may run (eta).")
    lease_owner = models.CharField(
        max_length=100, blank=True, default="", help_text="Token of the consumer fetch that holds the job."
    )
    lease_expires = models.FloatField(
        null=True, blank=True, help_text="Unix time when the lease runs out; NULL = not leased."
    )
    attempts = models.PositiveIntegerField(
        default=0,
        help_text="Times this frame was handed to a consumer that did not settle it yet "
        "(MAX_DELIVERIES); a retry starts again from 0, a release takes one back.",
    )
    created = models.DateTimeField(auto_now_add=True)
    job_id = models.CharField(
        max_length=100,
        blank=True,
        default="",
        db_index=True,
        help_text="The message id, so the job can be cancelled (Q14).",
    )
    unique_key = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        help_text="Set while a unique job is queued (Q14); cleared when a consumer claims it.",
    )

    class Meta:
        verbose_name = "queued job"
        indexes = [
            # The claim order (DatabaseBackend.ORDER) within one queue, so a claim reads
            # ``limit`` index entries instead of sorting the whole queue (SQLite and PostgreSQL).
            models.Index(fields=["queue", "-priority", "available_at", "id"], name="djworkers_queuejob_claim"),
        ]

    def __str__(self) -> str:
        state = "leased" if self.lease_expires else "waiting"
        return f"queue job {self.pk} on {self.queue!r} ({state})"
