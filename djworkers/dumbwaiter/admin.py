"""Admin for the dumbwaiter (D8): one row per function with its age, size and
last error; the stored values and errors (with tracebacks) on its page; and a
"Refresh now" action that asks the runner to compute the function (the request
itself never computes it).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from ..exceptions import BadSignature
from . import storage
from .config import current
from .exceptions import UnknownFunction
from .models import CachedError, CachedFunction, CachedValue

PREVIEW_CHARS = 300


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CachedValueInline(_ReadOnlyInline):
    model = CachedValue
    fields = readonly_fields = ("computed_at", "duration", "size", "serializer", "preview")
    verbose_name_plural = "stored values (newest first)"

    @admin.display(description="value")
    def preview(self, obj: CachedValue) -> str:
        try:
            text = repr(storage.decode(bytes(obj.value), obj.serializer, current()))
        except BadSignature:
            return "(signature does not verify: never deserialized)"
        except Exception as exc:
            return f"(cannot decode: {type(exc).__name__}: {exc})"
        return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


class CachedErrorInline(_ReadOnlyInline):
    model = CachedError
    fields = readonly_fields = ("failed_at", "duration", "exception", "message", "traceback_text")
    verbose_name_plural = "errors (newest first)"

    @admin.display(description="traceback")
    def traceback_text(self, obj: CachedError) -> str:
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', obj.traceback)


@admin.register(CachedFunction)
class CachedFunctionAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "configured",
        "age",
        "last_size",
        "last_success_at",
        "short_error",
        "last_error_at",
        "running",
    )
    search_fields = ("name", "last_error")
    readonly_fields = (
        "name",
        "configured",
        "age",
        "last_success_at",
        "last_duration",
        "last_size",
        "last_error",
        "last_error_at",
        "running_until",
        "running_on",
        "refresh_requested_at",
    )
    inlines = [CachedValueInline, CachedErrorInline]
    actions = ["refresh_now"]

    def has_add_permission(self, request) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        # Functions the runner has not seen yet still get a row (showing "never").
        try:
            storage.ensure_rows(list(current().functions))
        except Exception as exc:  # a bad configuration must not hide the page
            self.message_user(request, f"Dumbwaiter configuration: {exc}", messages.ERROR)
        return super().changelist_view(request, extra_context)

    @admin.display(description="frequency")
    def configured(self, obj: CachedFunction) -> str:
        spec = current().functions.get(obj.name)
        return f"every {spec.frequency:g}s" if spec else "not configured"

    @admin.display(description="age")
    def age(self, obj: CachedFunction) -> str:
        if obj.last_success_at is None:
            return "never computed"
        seconds = (timezone.now() - obj.last_success_at).total_seconds()
        spec = current().functions.get(obj.name)
        stale = spec is not None and seconds > 2 * spec.frequency
        return f"{seconds:.0f}s" + (" (stale)" if stale else "")

    @admin.display(description="last error")
    def short_error(self, obj: CachedFunction) -> str:
        return obj.last_error if len(obj.last_error) <= 80 else obj.last_error[:80] + "…"

    @admin.display(description="running", boolean=True)
    def running(self, obj: CachedFunction) -> bool:
        return obj.running_until is not None and obj.running_until >= timezone.now()

    @admin.action(description="Refresh now (ask the runner to compute the selected functions)", permissions=["change"])
    def refresh_now(self, request, queryset):
        """Hand the work to ``run_dumbwaiter`` (D8): a request never computes a function."""
        from .api import request_refresh

        requested = []
        for row in queryset:
            try:
                request_refresh(row.name)
            except UnknownFunction:
                self.message_user(request, f"Did not request {row.name}: it is no longer configured.", messages.WARNING)
            else:
                requested.append(row.name)
        if requested:
            self.message_user(
                request,
                f"Refresh requested for {', '.join(requested)}: a run_dumbwaiter runner computes "
                "it within a second or two (after the run in progress, if any).",
                messages.SUCCESS,
            )
