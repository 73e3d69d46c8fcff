"""What the dumbwaiter stores in the database.

* :class:`CachedFunction`: one row per configured function: when it last
  succeeded and failed, and the run lease (``running_until``/``running_on``)
  that keeps two runner processes from computing it at the same time, and
  ``refresh_requested_at``: the admin's "refresh now", which a runner picks up.
* :class:`CachedValue`: the history of results, newest first, capped at
  ``max_saved`` rows per function. ``value`` holds the serialized result in a
  signed frame (:mod:`djworkers.serializers.signing`), so a row written by
  anyone but a runner holding the project's key is refused, never unpickled.
* :class:`CachedError`: the history of failures with the full traceback,
  capped the same way (django-dumbwaiter kept none).

The history tables point at their function by name (``to_field="name"``), so
reading the newest value of a function is one indexed query, no join.
"""

from __future__ import annotations

from django.db import models

__all__ = ["CachedFunction", "CachedValue", "CachedError"]


class CachedFunction(models.Model):
    name = models.CharField(max_length=255, unique=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_duration = models.FloatField(null=True, blank=True, help_text="Seconds the last successful run took.")
    last_size = models.PositiveIntegerField(null=True, blank=True, help_text="Bytes of the last value, serialized.")
    last_error = models.TextField(blank=True, help_text="Exception type and message of the last failure.")
    last_error_at = models.DateTimeField(null=True, blank=True)
    running_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Run lease: a runner is computing this function until this time (extended while it runs).",
    )
    running_on = models.CharField(max_length=255, blank=True, help_text="host:pid of the runner holding the lease.")
    refresh_requested_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text='"Refresh now" was asked for (admin); a runner computes it on its next tick and clears this.',
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "cached value"
        verbose_name_plural = "cached values (dumbwaiter)"

    def __str__(self) -> str:
        return self.name


class CachedValue(models.Model):
    function = models.ForeignKey(
        CachedFunction, to_field="name", db_column="name", on_delete=models.CASCADE, related_name="values"
    )
    value = models.BinaryField(help_text="Signed frame around the serialized value.")
    serializer = models.CharField(max_length=100, help_text="Serializer that produced the value.")
    size = models.PositiveIntegerField(default=0)
    duration = models.FloatField(default=0.0)
    computed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes = [models.Index(fields=["function", "-computed_at"], name="djworkers_dwvalue_newest")]
        verbose_name = "stored value"

    def __str__(self) -> str:
        return f"{self.function_id} @ {self.computed_at:%Y-%m-%d %H:%M:%S}"


class CachedError(models.Model):
    function = models.ForeignKey(
        CachedFunction, to_field="name", db_column="name", on_delete=models.CASCADE, related_name="errors"
    )
    exception = models.CharField(max_length=255)
    message = models.TextField(blank=True)
    traceback = models.TextField()
    duration = models.FloatField(default=0.0)
    failed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-failed_at", "-id"]
        verbose_name = "error"

    def __str__(self) -> str:
        return f"{self.function_id}: {self.exception} @ {self.failed_at:%Y-%m-%d %H:%M:%S}"
