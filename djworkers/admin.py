"""Admin for the core's models. Each door registers its own models in ``<door>/admin.py``."""

from __future__ import annotations

from django.contrib import admin, messages

from .models import FailedJob
from .runtime.replay import ReplayError, replay


@admin.register(FailedJob)
class FailedJobAdmin(admin.ModelAdmin):
    list_display = ("failed_at", "name", "queue", "door", "backend", "reason", "exception", "attempts")
    list_filter = ("reason", "door", "backend", "queue", "name")
    search_fields = ("name", "job_id", "error", "arguments", "exception")
    date_hierarchy = "failed_at"
    readonly_fields = [f.name for f in FailedJob._meta.fields if f.name != "raw"] + ["raw_size"]
    exclude = ("raw",)
    actions = ["replay_selected", "delete_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="frame size (bytes)")
    def raw_size(self, obj: FailedJob) -> int:
        return len(bytes(obj.raw))

    @admin.action(description="Replay selected failed jobs", permissions=["change"])
    def replay_selected(self, request, queryset):
        done, refused = 0, []
        for failed in queryset:
            try:
                replay(failed)
                done += 1
            except ReplayError as exc:
                refused.append(str(exc))
            except Exception as exc:  # the transport is down: say so, keep the row, go on
                refused.append(f"Failed job {failed.pk} could not be replayed: "
                               f"{type(exc).__name__}: {exc}. It is kept; try again later.")
        if done:
            self.message_user(request, f"Replayed {done} job(s).", messages.SUCCESS)
        for text in refused:
            self.message_user(request, text, messages.WARNING)


from .monitoring import dashboard as _dashboard  # noqa: E402,F401  (the dashboard page linked from the admin index)


def _import_door_admins() -> None:
    from importlib import import_module

    from .doors import all_doors

    for door in all_doors():
        if door.admin_module:
            import_module(door.admin_module)


_import_door_admins()
