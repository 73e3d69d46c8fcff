"""The djworkers dashboard in the admin: the figures of ``djworkers_status`` and a
chart of jobs processed/failed per minute over the last hour.

It is registered as the changelist of the proxy model
:class:`~djworkers.monitoring.models.Dashboard`, so it appears on the admin index
("Djworkers > Dashboard") with the admin's own permissions and URL, and a
project adds nothing to its URLconf. ``?format=json`` returns the same dict as
``djworkers_status --json``.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from .models import Dashboard
from .status import StatusOptions, collect
from .svgchart import per_minute_chart

#: Seconds between automatic reloads of the dashboard page.
REFRESH_SECONDS = 10


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Anyone who may see failed jobs may see the dashboard.
        return (
            request.user.is_active
            and request.user.is_staff
            and (request.user.has_perm("djworkers.view_failedjob") or request.user.has_perm("djworkers.view_dashboard"))
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        status = collect(StatusOptions())
        if request.GET.get("format") == "json":
            return JsonResponse(status, json_dumps_params={"indent": 2})
        tables = [
            [[(c["key"], row.get(c["key"])) for c in section["columns"]] for row in section["rows"]]
            for section in status["sections"]
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "djworkers dashboard",
            "opts": self.model._meta,
            "status": status,
            "sections": list(zip(status["sections"], tables, strict=True)),
            "chart": per_minute_chart(
                status["throughput"]["per_minute"], title="Jobs processed and failed per minute, last hour (UTC)"
            ),
            "refresh_seconds": REFRESH_SECONDS,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "djworkers/dashboard.html", context)
