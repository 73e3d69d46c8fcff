"""What the demo's jobs work on (uploads) and what the home page shows about them (runs)."""

from __future__ import annotations

from django.db import models


class Upload(models.Model):
    """A text "file" someone uploaded; ``process_upload`` fills in the figures."""

    name = models.CharField(max_length=100)
    text = models.TextField()
    uploaded_at = models.DateTimeField(auto_now_add=True)
    words = models.PositiveIntegerField(null=True, blank=True)
    lines = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class JobRun(models.Model):
    """One press of a button on the home page, followed through the queue.

    Jobs update their own row; the final "failed" state is set by a receiver of
    the ``job_failed`` signal (see ``demo/signals.py``), because a job that
    failed for good is no longer running to say so.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        RETRYING = "retrying"
        DONE = "done"
        FAILED = "failed"

    kind = models.CharField(max_length=20, help_text="The button (see demo/buttons.py) or 'periodic'.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    job_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    result = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.label} #{self.pk}: {self.status}"

    @property
    def label(self) -> str:
        from .buttons import label_for

        return label_for(self.kind)

    def as_dict(self) -> dict:
        return {
            "id": self.pk,
            "kind": self.kind,
            "label": self.label,
            "status": self.status,
            "attempts": self.attempts,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
