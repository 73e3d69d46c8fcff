"""Admin for ztask: the tasks ztaskd nodes hold (pending, scheduled, running) and the nodes.

Failed tasks are in the core failed-job store's admin (door ``ztask``), with replay.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin

from ..exceptions import InvalidMessage
from ..messages import Message, decode
from .models import NODE_PREFIX, ZtaskNode, ZtaskTask


def _message(obj: ZtaskTask) -> Message | None:
    try:
        return decode(bytes(obj.frame))  # verified first: a row never holds an unsigned frame
    except InvalidMessage:
        return None


@admin.register(ZtaskTask)
class ZtaskTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "function", "arguments", "attempt", "next_attempt", "state", "node", "created")
    list_filter = ("queue",)
    readonly_fields = (
        "id",
        "node",
        "function",
        "arguments",
        "attempt",
        "next_attempt",
        "state",
        "created",
        "last_error",
    )
    fields = readonly_fields
    ordering = ("available_at", "id")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="node")
    def node(self, obj: ZtaskTask) -> str:
        return obj.queue[len(NODE_PREFIX) :]

    @admin.display(description="function")
    def function(self, obj: ZtaskTask) -> str:
        message = _message(obj)
        return message.name if message else "(undecodable)"

    @admin.display(description="args, kwargs")
    def arguments(self, obj: ZtaskTask) -> str:
        message = _message(obj)
        return f"{message.args!r}, {message.kwargs!r}"[:200] if message else ""

    @admin.display(description="retries so far")
    def attempt(self, obj: ZtaskTask) -> int | None:
        message = _message(obj)
        return message.attempt if message else None

    @admin.display(description="next attempt")
    def next_attempt(self, obj: ZtaskTask) -> dt.datetime:
        return dt.datetime.fromtimestamp(obj.available_at, tz=dt.UTC)

    @admin.display(description="state")
    def state(self, obj: ZtaskTask) -> str:
        import time

        if obj.lease_expires and obj.lease_expires > time.time():
            return "running"
        return "scheduled" if obj.available_at > time.time() else "pending"

    @admin.display(description="last exception")
    def last_error(self, obj: ZtaskTask) -> str:
        message = _message(obj)
        return str(message.options.get("last_error", "")) if message else ""


@admin.register(ZtaskNode)
class ZtaskNodeAdmin(admin.ModelAdmin):
    list_display = ("url", "host", "pid", "started", "last_seen", "received", "stopped")
    readonly_fields = [f.name for f in ZtaskNode._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
