"""The Gearman door's buttons on the home page (see ``demo/buttons.py``)."""

from __future__ import annotations

from demo.buttons import button
from demo.models import JobRun
from djworkers.gearman import GearmanClient, GearmanError


@button("gearman-reverse", "Reverse a sentence (foreground, waits)", door="Gearman")
def reverse(run):
    try:
        value = GearmanClient().submit_job(
            "gearman_example.reverse", f"Run {run.pk}: never odd or even", poll_timeout=10
        )
    except GearmanError as exc:
        JobRun.objects.filter(pk=run.pk).update(status=JobRun.Status.FAILED, error=str(exc))
        return None
    JobRun.objects.filter(pk=run.pk).update(status=JobRun.Status.DONE, attempts=1, result=value)
    return None


@button("gearman-counting", "Background counting (5 s)", door="Gearman")
def counting(run):
    return GearmanClient().dispatch_background_task("gearman_example.background_counting", run.pk)
