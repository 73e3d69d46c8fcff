"""Job results in the admin (database result store): django.tasks results and queue jobs' alike.

Each row is a sealed record; the columns unseal it (a row whose signature fails
says so instead of showing data). Results kept in Redis are read with
``get_result`` / ``djworkers_status``, not here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from ..results.models import JobResult
from ..results.record import ResultRecord
from .results import SHIM_NAME, when


def _record(obj: JobResult) -> ResultRecord | None:
    cache = obj.__dict__.setdefault("_record", {})
    if "value" not in cache:
        try:
            cache["value"] = ResultRecord.unseal(bytes(obj.frame))
        except Exception:
            cache["value"] = None
    return cache["value"]


@admin.register(JobResult)
class JobResultAdmin(admin.ModelAdmin):
    list_display = ("job_id", "status", "job", "attempts", "worker", "enqueued", "finished", "error")
    list_filter = ("status",)
    search_fields = ("job_id",)
    exclude = ("frame",)
    readonly_fields = (
        "job_id",
        "status",
        "expires_at",
        "job",
        "attempts",
        "worker",
        "enqueued",
        "finished",
        "error",
        "value",
        "traceback",
    )

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    @admin.display(description="task or job")
    def job(self, obj: JobResult) -> str:
        record = _record(obj)
        if record is None:
            return "(unreadable: bad signature)"
        if record.name == SHIM_NAME and record.args:
            return f"task {record.args[0]}"
        return record.name

    @admin.display(description="attempts")
    def attempts(self, obj: JobResult) -> int | None:
        record = _record(obj)
        return None if record is None else record.attempts

    @admin.display(description="worker")
    def worker(self, obj: JobResult) -> str:
        record = _record(obj)
        return "" if record is None else record.worker

    @admin.display(description="enqueued")
    def enqueued(self, obj: JobResult) -> Any:
        record = _record(obj)
        return None if record is None else when(record.enqueued_at)

    @admin.display(description="finished")
    def finished(self, obj: JobResult) -> Any:
        record = _record(obj)
        return None if record is None else when(record.finished_at)

    @admin.display(description="error")
    def error(self, obj: JobResult) -> str:
        record = _record(obj)
        return "" if record is None or not record.error_type else f"{record.error_type}: {record.error_message}"

    @admin.display(description="return value")
    def value(self, obj: JobResult) -> str:
        record = _record(obj)
        return "" if record is None else repr(record.value)

    @admin.display(description="traceback")
    def traceback(self, obj: JobResult) -> str:
        record = _record(obj)
        return "" if record is None else record.traceback
