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


# -- async jobs, results, time limits, poison (Q11, Q12, Q13, Q16) ------------------------------------
@queue_command(result=True)
async def async_record(key: str) -> str:
    """An ``async def`` command: its side effect must be visible after the consumer ran it."""
    await JobRun.objects.acreate(key=key, pid=os.getpid())
    return key.upper()


@queue_command(result=True, retries=1, retry_delay=0.1)
async def async_fails(key: str) -> None:
    await JobEvent.objects.acreate(key=key, event="attempt", pid=os.getpid(), at=time.time())
    raise ValueError(f"async_fails {key}: on purpose")


@queue_command(result=True)
def add_numbers(a: int, b: int) -> int:
    return a + b


class LedgerError(Exception):
    """An exception of the project's own: it must come back from get() as itself."""


@queue_command(result=True)
def raises_ledger_error(key: str) -> None:
    raise LedgerError(f"ledger {key} does not balance")


class UnpicklableError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.callback = lambda: None  # cannot be pickled


@queue_command(result=True)
def raises_unpicklable(key: str) -> None:
    raise UnpicklableError(f"{key}: cannot travel")


@queue_command(timeout=1, retries=0)
def hangs(key: str, seconds: float) -> None:
    """Sleeps past its one-second limit (Q13)."""
    _event(key, "started")
    time.sleep(seconds)
    JobRun.objects.create(key=key, pid=os.getpid())


@queue_command(retries=0)
def exits_hard(key: str) -> None:
    """Kills its consumer every time it runs, like a segfault or an OOM kill (Q16)."""
    _event(key, "attempt")
    os._exit(1)
