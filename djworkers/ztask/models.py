"""ztask's tables.

Messages a ztaskd received are rows of the database queue backend's table
(:class:`~djworkers.queue.models.QueueJob`, queue ``ztask:<host>:<url>``): that
table already is a write-ahead log with a due time, a lease, ordered claims and
crash recovery, so ztask adds no second one. :class:`ZtaskTask` is a proxy of it
for the admin; :class:`ZtaskNode` is one row per ztaskd node, for the status
page (messages received, when it was last seen).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from ..queue.models import QueueJob

__all__ = ["ZtaskNode", "ZtaskTask"]

#: Prefix of the queue names ztaskd nodes keep their messages under.
NODE_PREFIX = "ztask:"


class ZtaskTaskManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(queue__startswith=NODE_PREFIX)


class ZtaskTask(QueueJob):
    """A message a ztaskd received and has not finished: pending, scheduled (``.after``,
    a retry) or running. Deleted when the task succeeds or fails for good."""

    objects: ClassVar[ZtaskTaskManager] = ZtaskTaskManager()

    class Meta:
        proxy = True
        verbose_name = "ztask task"


class ZtaskNode(models.Model):
    """A ztaskd node: where it listens and what it received. Updated by the node about
    every second while it runs."""

    queue = models.CharField(max_length=100, unique=True, help_text="The queue-table name its messages are kept under.")
    url = models.CharField(max_length=255)
    host = models.CharField(max_length=255)
    pid = models.IntegerField(null=True, blank=True)
    started = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    received = models.BigIntegerField(default=0, help_text="Messages written ahead since the node first ran.")
    stopped = models.BooleanField(default=False, help_text="The node stopped cleanly.")

    class Meta:
        verbose_name = "ztask node"

    def __str__(self) -> str:
        return f"ztaskd {self.url} on {self.host}"
