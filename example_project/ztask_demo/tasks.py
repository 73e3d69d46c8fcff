"""ztask tasks of the demo (found by autodiscovery of ``tasks.py``); ``ztaskd`` runs them.

They report on the home page's JobRun rows like the queue's commands do; the
demo's signal receivers mark retries and failures (they listen to every door).
"""

from __future__ import annotations

import time

from django.db.models import F

from demo.models import JobRun
from djworkers.ztask import task


def _start(run_id: int) -> int:
    JobRun.objects.filter(pk=run_id).update(status=JobRun.Status.RUNNING, attempts=F("attempts") + 1)
    return JobRun.objects.values_list("attempts", flat=True).get(pk=run_id)


@task()
def send_thank_you(run_id: int, address: str) -> None:
    """ "Send" an email: the kind of call django-ztask was for (keep the request fast)."""
    _start(run_id)
    time.sleep(0.5)  # stands for the SMTP round trip
    JobRun.objects.filter(pk=run_id).update(status=JobRun.Status.DONE, result=f"thank-you sent to {address}")


@task()
def reminder(run_id: int, sent_at: float) -> None:
    """Sent with ``.after(5, ...)``: shows how late it ran (ztaskd keeps it in the database meanwhile)."""
    _start(run_id)
    JobRun.objects.filter(pk=run_id).update(
        status=JobRun.Status.DONE, result=f"ran {time.time() - sent_at:.1f} s after the click"
    )


@task()
def flaky_sync(run_id: int) -> None:
    """Fails twice, then succeeds: retried every RETRY_AFTER seconds by ztaskd."""
    attempts = _start(run_id)
    if attempts < 3:
        raise ConnectionError(f"pretend the partner API timed out (attempt {attempts})")
    JobRun.objects.filter(pk=run_id).update(
        status=JobRun.Status.DONE, result=f"succeeded on attempt {attempts}", error=""
    )
