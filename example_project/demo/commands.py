"""Queue commands of the demo (found by autodiscovery of ``commands.py``).

Each press of a button on the home page enqueues one of these; ``queue_consumer``
runs them. They record their progress on a JobRun row so the page can show it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time

from django.db.models import F
from django.utils import timezone

from djworkers.queue import crontab, periodic_command, queue_command

from .models import JobRun, Upload


def _start(run_id: int) -> None:
    JobRun.objects.filter(pk=run_id).update(status=JobRun.Status.RUNNING, attempts=F("attempts") + 1)


def _finish(run_id: int, result: str) -> None:
    JobRun.objects.filter(pk=run_id).update(status=JobRun.Status.DONE, result=result, error="")


@queue_command
def process_upload(upload_id: int, run_id: int) -> dict:
    """ "Process this upload": count words and lines, checksum it (slowly, as real work is)."""
    _start(run_id)
    upload = Upload.objects.get(pk=upload_id)
    time.sleep(1)  # stands for the thumbnailing / parsing / virus scan a real upload needs
    upload.words = len(upload.text.split())
    upload.lines = len(upload.text.splitlines())
    upload.sha256 = hashlib.sha256(upload.text.encode()).hexdigest()
    upload.processed_at = timezone.now()
    upload.save()
    result = {"upload": upload.name, "words": upload.words, "lines": upload.lines, "sha256": upload.sha256[:12]}
    _finish(run_id, f"{upload.name}: {upload.words} words, {upload.lines} lines, sha256 {upload.sha256[:12]}…")
    return result


@queue_command(retries=3, retry_delay=1)
def flaky_job(run_id: int) -> str:
    """Fails on its first two attempts and succeeds on the third: retries at work."""
    _start(run_id)
    attempts = JobRun.objects.values_list("attempts", flat=True).get(pk=run_id)
    if attempts < 3:
        raise ConnectionError(f"pretend the partner API timed out (attempt {attempts})")
    _finish(run_id, f"succeeded on attempt {attempts}")
    return "ok"


@queue_command(retries=2, retry_delay=1)
def doomed_job(run_id: int) -> None:
    """Always raises: after 1 + 2 attempts it lands in the failed-job store (Admin > Failed jobs)."""
    _start(run_id)
    raise ValueError("this job always fails; replay it with manage.py djworkers_failed --replay --all")


@periodic_command(crontab(minute="*"))
def minute_heartbeat() -> None:
    """Runs once a minute however many consumers are started."""
    JobRun.objects.create(
        kind="periodic", status=JobRun.Status.DONE, attempts=1, result=f"tick at {dt.datetime.now(dt.UTC):%H:%M} UTC"
    )
