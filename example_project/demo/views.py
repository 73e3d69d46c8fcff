"""The home page and the small JSON API its JavaScript polls."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from djworkers import dumbwaiter
from djworkers.monitoring.status import collect

from . import buttons
from .models import JobRun


def cached_values() -> list[dict]:
    """Every dumbwaiter function with its current value and age (None until first computed)."""
    values = []
    for entry in dumbwaiter.status():
        values.append(
            {
                "name": entry["name"],
                "value": dumbwaiter.get_value(entry["name"], default=None),
                "age": None if entry["age"] is None else round(entry["age"], 1),
                "frequency": entry["frequency"],
                "stale": entry["stale"],
                "last_error": entry["last_error"],
            }
        )
    return values


@ensure_csrf_cookie  # the page's script posts with the CSRF cookie's token
def home(request: HttpRequest):
    return render(request, "demo/home.html", {"doors": buttons.by_door()})


@require_GET
def state(request: HttpRequest) -> JsonResponse:
    """Everything the home page shows, refreshed every second by its script."""
    status = collect()
    return JsonResponse(
        {
            "cached": cached_values(),
            "runs": [run.as_dict() for run in JobRun.objects.all()[:15]],
            "queues": next((s for s in status["sections"] if s["door"] == "queue"), None),
            "gearman": next((s for s in status["sections"] if s["door"] == "gearman"), None),
            "ztask": next((s for s in status["sections"] if s["door"] == "ztask"), None),
            "failed_total": sum(r["count"] for s in status["sections"] if s["door"] == "failed" for r in s["rows"]),
            "healthy": status["healthy"],
            "problems": status["problems"],
            "throughput": {k: status["throughput"][k] for k in ("processed", "failed", "window_minutes")},
        }
    )


@require_POST
def enqueue(request: HttpRequest, kind: str) -> JsonResponse:
    if kind not in buttons.BUTTONS:
        return HttpResponseBadRequest(f"unknown job kind {kind!r}; expected one of {', '.join(buttons.BUTTONS)}")
    run = JobRun.objects.create(kind=kind)
    handle = buttons.BUTTONS[kind].enqueue(run)
    # A queue JobHandle has .id; ztask's .delay() returns the message id itself.
    job_id = handle if isinstance(handle, str) else getattr(handle, "id", None) or getattr(handle, "job_id", "") or ""
    JobRun.objects.filter(pk=run.pk).update(job_id=str(job_id))
    run.refresh_from_db()
    return JsonResponse({"run": run.as_dict()}, status=201)
