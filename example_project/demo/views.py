"""The home page and the small JSON API its JavaScript polls."""

from __future__ import annotations

import random

from django.http import HttpRequest, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from djworkers import dumbwaiter
from djworkers.status import collect

from . import commands
from .models import JobRun, Upload

SAMPLE_TEXTS = [
    "The quick brown fox jumps over the lazy dog.\nPack my box with five dozen liquor jugs.",
    "It was the best of times,\nit was the worst of times,\nit was the age of wisdom.",
    "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer",
]

#: Button name -> how to enqueue it. A new front door's example app adds its buttons on its own page.
ENQUEUE = {
    JobRun.Kind.UPLOAD: lambda run: commands.process_upload(
        Upload.objects.create(name=f"upload-{run.pk}.txt", text=random.choice(SAMPLE_TEXTS)).pk, run_id=run.pk),
    JobRun.Kind.FLAKY: lambda run: commands.flaky_job(run_id=run.pk),
    JobRun.Kind.DOOMED: lambda run: commands.doomed_job(run_id=run.pk),
}


def cached_values() -> list[dict]:
    """Every dumbwaiter function with its current value and age (None until first computed)."""
    values = []
    for entry in dumbwaiter.status():
        values.append({
            "name": entry["name"],
            "value": dumbwaiter.get_value(entry["name"], default=None),
            "age": None if entry["age"] is None else round(entry["age"], 1),
            "frequency": entry["frequency"],
            "stale": entry["stale"],
            "last_error": entry["last_error"],
        })
    return values


@ensure_csrf_cookie  # the page's script posts with the CSRF cookie's token
def home(request: HttpRequest):
    return render(request, "demo/home.html", {"buttons": [(k.value, k.label) for k in ENQUEUE]})


@require_GET
def state(request: HttpRequest) -> JsonResponse:
    """Everything the home page shows, refreshed every second by its script."""
    status = collect()
    return JsonResponse({
        "cached": cached_values(),
        "runs": [run.as_dict() for run in JobRun.objects.all()[:15]],
        "queues": next((s for s in status["sections"] if s["door"] == "queue"), None),
        "failed_total": sum(r["count"] for s in status["sections"] if s["door"] == "failed" for r in s["rows"]),
        "healthy": status["healthy"],
        "problems": status["problems"],
        "throughput": {k: status["throughput"][k] for k in ("processed", "failed", "window_minutes")},
    })


@require_POST
def enqueue(request: HttpRequest, kind: str) -> JsonResponse:
    if kind not in ENQUEUE:
        return HttpResponseBadRequest(f"unknown job kind {kind!r}; expected one of {', '.join(ENQUEUE)}")
    run = JobRun.objects.create(kind=kind)
    handle = ENQUEUE[JobRun.Kind(kind)](run)
    job_id = getattr(handle, "id", None) or getattr(handle, "job_id", "") or ""
    JobRun.objects.filter(pk=run.pk).update(job_id=str(job_id))
    run.refresh_from_db()
    return JsonResponse({"run": run.as_dict()}, status=201)
