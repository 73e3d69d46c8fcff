"""Models owned by the core. Each built-in front door keeps its models in its own
package (``djworkers/<door>/models.py``, named by its descriptor) and they are
imported at the bottom, so Django registers them in the one djworkers app."""

from __future__ import annotations

from django.db import models


class FailedJob(models.Model):
    """A job that failed for the last time, or a frame that could not be decoded.

    ``raw`` keeps the exact bytes the transport delivered, so a job can be
    replayed as it was and a quarantined frame can be inspected. Quarantined
    frames (``reason`` other than ``exception``) are never deserialized.
    """

    class Reason(models.TextChoices):
        EXCEPTION = "exception", "Raised an exception"
        BAD_SIGNATURE = "bad-signature", "Bad signature (quarantined)"
        MALFORMED = "malformed", "Malformed frame (quarantined)"
        UNKNOWN_JOB = "unknown-job", "Unknown job name"
        TIMED_OUT = "timed-out", "Ran past its time limit"
        POISON = "poison", "Delivered too many times (its consumer died each time)"

    job_id = models.CharField(max_length=64, blank=True, db_index=True)
    name = models.CharField(max_length=255, blank=True, db_index=True)
    queue = models.CharField(max_length=100, blank=True, db_index=True)
    door = models.CharField(
        max_length=50, db_index=True, help_text="The front door that delivered the job (replay sends it back there)."
    )
    backend = models.CharField(
        max_length=50, blank=True, help_text="The door's storage kind (database, redis, memory, ...)."
    )
    reason = models.CharField(max_length=20, choices=Reason.choices, db_index=True)
    raw = models.BinaryField()
    arguments = models.TextField(blank=True, help_text="repr() of args and kwargs, for reading.")
    exception = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    failed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-failed_at", "-id"]
        verbose_name = "failed job"

    def __str__(self) -> str:
        return f"{self.name or '(undecodable)'} [{self.reason}] {self.failed_at:%Y-%m-%d %H:%M:%S}"

    @property
    def quarantined(self) -> bool:
        return self.reason in (self.Reason.BAD_SIGNATURE, self.Reason.MALFORMED)


class TickClaim(models.Model):
    """ "Periodic work ``name`` for tick ``tick`` was taken by ``owner``."

    The unique constraint is the lock: of several runners that try to insert the
    same (name, tick), exactly one succeeds. Old rows are pruned by the claimer.
    """

    name = models.CharField(max_length=255)
    tick = models.BigIntegerField()
    owner = models.CharField(max_length=255)
    claimed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "tick"], name="djworkers_tick_unique")]

    def __str__(self) -> str:
        return f"{self.name} tick {self.tick} by {self.owner}"


from .monitoring.models import *  # noqa: E402, F403
from .results.models import *  # noqa: E402, F403


def _import_door_models() -> None:
    from importlib import import_module

    from .doors import builtin_doors

    for door in builtin_doors():
        if door.models_module:
            import_module(door.models_module)


_import_door_models()
