"""The queue door's buttons on the home page (see ``demo/buttons.py``)."""

from __future__ import annotations

import random

from . import commands
from .buttons import button
from .models import JobRun, Upload

SAMPLE_TEXTS = [
    "The quick brown fox jumps over the lazy dog.\nPack my box with five dozen liquor jugs.",
    "It was the best of times,\nit was the worst of times,\nit was the age of wisdom.",
    "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer",
]


@button("upload", "Process an upload", door="Queue")
def upload(run):
    upload = Upload.objects.create(name=f"upload-{run.pk}.txt", text=random.choice(SAMPLE_TEXTS))
    return commands.process_upload(upload.pk, run_id=run.pk)


@button("flaky", "Flaky job (fails twice, then succeeds)", door="Queue")
def flaky(run):
    return commands.flaky_job(run_id=run.pk)


@button("doomed", "Doomed job (always fails)", door="Queue")
def doomed(run):
    return commands.doomed_job(run_id=run.pk)


@button("django-task", "Django task (@task, enqueued with .enqueue())", door="Django tasks")
def django_task(run):
    from djworkers.tasks import compat

    if not compat.AVAILABLE:
        JobRun.objects.filter(pk=run.pk).update(status=JobRun.Status.FAILED, error=compat.MISSING)
        return None
    from .tasks import count_letters

    return count_letters.enqueue(random.choice(SAMPLE_TEXTS), run_id=run.pk)
