"""Admin for the core's models. Each door registers its own models in ``<door>/admin.py``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from .models import FailedJob
from .runtime.replay import ReplayError, replay


@admin.register(FailedJob)
class FailedJobAdmin(admin.ModelAdmin):
    # Few, wrapping columns: next to the admin's navigation and filter sidebars the list
    # must fit a 1280 px window (queue, door and backend are filters and on the change page).
    list_display = ("failed_at", "job", "reason", "exception", "attempts")
    list_filter = ("reason", "door", "backend", "queue", "name")
    search_fields = ("name", "job_id", "error", "arguments", "exception")
    date_hierarchy = "failed_at"
    readonly_fields = [f.name for f in FailedJob._meta.fields if f.name not in ("raw", "traceback")] + [
        "traceback_display",
        "raw_size",
    ]
    exclude = ("raw", "traceback")
    actions = ["replay_selected", "delete_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="job", ordering="name")
    def job(self, obj: FailedJob) -> str:
        return format_html('{}<div class="djw-queue">queue {}</div>', obj.name or "(undecodable)", obj.queue or "–")

    @admin.display(description="traceback")
    def traceback_display(self, obj: FailedJob) -> str:
        """In a <pre>: a traceback's indentation is what shows where each frame is."""
        return format_html('<pre class="djw-traceback">{}</pre>', obj.traceback) if obj.traceback else "–"

    @admin.display(description="frame size (bytes)")
    def raw_size(self, obj: FailedJob) -> int:
        return len(bytes(obj.raw))

    # -- the read-only change page, with a Replay button ---------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        """Every field is read-only: no Save buttons; a Replay button instead (when it can replay)."""
        failed = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "title": "Failed job",  # not "Change failed job": nothing on the page can be changed
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "can_replay": failed is not None and not failed.quarantined and self.has_change_permission(request, failed),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_replay"
        return [
            path("<path:object_id>/replay/", self.admin_site.admin_view(self.replay_view), name=name),
            *super().get_urls(),
        ]

    def replay_view(self, request, object_id):
        """POST from the change page's Replay button: replay that one job."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        failed = self.get_object(request, unquote(object_id))
        if failed is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, failed):
            raise PermissionDenied
        if self._replay(request, [failed]):
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:djworkers_failedjob_changelist"))
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:djworkers_failedjob_change", args=[failed.pk]))

    @admin.action(description="Replay selected failed jobs", permissions=["change"])
    def replay_selected(self, request, queryset):
        self._replay(request, queryset)

    def _replay(self, request, failed_jobs) -> int:
        """Replay each, with one message for the done and one per refusal; returns how many were done."""
        done, refused = 0, []
        for failed in failed_jobs:
            try:
                replay(failed)
                done += 1
            except ReplayError as exc:
                refused.append(str(exc))
            except Exception as exc:  # the transport is down: say so, keep the row, go on
                refused.append(
                    f"Failed job {failed.pk} could not be replayed: "
                    f"{type(exc).__name__}: {exc}. It is kept; try again later."
                )
        if done:
            self.message_user(request, f"Replayed {done} job(s).", messages.SUCCESS)
        for text in refused:
            self.message_user(request, text, messages.WARNING)
        return done


from .monitoring import dashboard as _dashboard  # noqa: E402,F401  (the dashboard page linked from the admin index)


def _import_door_admins() -> None:
    from importlib import import_module

    from .doors import all_doors

    for door in all_doors():
        if door.admin_module:
            import_module(door.admin_module)


_import_door_admins()
