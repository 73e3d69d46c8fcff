"""Queue jobs used by the queue tests; autodiscovered like a project's ``commands.py`` (Q3)."""

from __future__ import annotations

import os
import time

from djworkers.queue import QueueCommand, queue_command

from .models import Churnable, JobEvent, JobRun


def _event(key: str, event: str) -> None:
    JobEvent.objects.create(key=key, event=event, pid=os.getpid(), at=time.time())


@queue_command
def churn_data(model_instance: Churnable, some_data: str, another_value: int) -> str:
    """The djutils README example: a model instance and data, churned in the background."""
    important_results = model_instance.process_data(some_data, another_value)
    model_instance.propagate_results(important_results)
    return important_results


@queue_command
def record_run(key: str) -> None:
    """Insert a row with a unique key: a second run of the same job raises IntegrityError."""
    JobRun.objects.create(key=key, pid=os.getpid())


@queue_command(retries=0)
def slow_job(key: str, seconds: float) -> None:
    """Log a start event, sleep, then record the run (crash recovery, graceful shutdown)."""
    _event(key, "started")
    time.sleep(seconds)
    JobRun.objects.create(key=key, pid=os.getpid())


@queue_command(retries=3, retry_delay=0.2, retry_backoff=2.0)
def flaky(key: str, failures: int) -> None:
    """Fail the first ``failures`` attempts, then succeed."""
    attempts = JobEvent.objects.filter(key=key, event="attempt").count()
    _event(key, "attempt")
    if attempts < failures:
        raise ValueError(f"flaky {key}: attempt {attempts + 1} fails on purpose")
    JobRun.objects.create(key=key, pid=os.getpid())


@queue_command(retries=2, retry_delay=0.3, retry_backoff=3.0)
def always_fails(key: str) -> None:
    _event(key, "attempt")
    raise RuntimeError(f"always_fails {key}: nothing will help")


@queue_command
def fails_until_fixed(key: str) -> None:
    """Raise until a "fixed" event exists for ``key`` (then replay makes it succeed)."""
    _event(key, "attempt")
    if not JobEvent.objects.filter(key=key, event="fixed").exists():
        raise LookupError(f"{key} is not fixed yet")
    JobRun.objects.create(key=key, pid=os.getpid())


@queue_command(queue="other")
def on_other_queue(key: str) -> None:
    JobRun.objects.create(key=key, pid=os.getpid())


class RecordCommand(QueueCommand):
    """The class-based form (Q2): ``RecordCommand("key").enqueue()``."""

    def execute(self) -> str:
        JobRun.objects.create(key=self.data, pid=os.getpid())
        return self.data
