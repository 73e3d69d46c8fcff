"""ztask tasks used by tests/test_ztask*.py; autodiscovered like a project's ``tasks.py`` (Z1)."""

from __future__ import annotations

import os
import time

from djworkers.ztask import task

from .models import JobEvent, JobRun


def _event(key: str, event: str) -> None:
    JobEvent.objects.create(key=key, event=event, pid=os.getpid(), at=time.time())


@task()
def print_this(what_to_print: str) -> None:
    """The django-ztask README example; records what it printed so the tests can see it ran."""
    print(what_to_print)
    _event(what_to_print, "printed")


@task
def record(key: str) -> None:
    """A unique row per key: a second run of the same task raises IntegrityError."""
    JobRun.objects.create(key=key, pid=os.getpid())


@task()
def fail_times(key: str, failures: int) -> None:
    """Fail the first ``failures`` attempts, then succeed (each attempt is a JobEvent)."""
    _event(key, "attempt")
    if JobEvent.objects.filter(key=key, event="attempt").count() <= failures:
        raise RuntimeError(f"{key}: planned failure")
    JobRun.objects.create(key=key, pid=os.getpid())


@task()
def slow(key: str, seconds: float) -> None:
    _event(key, "started")
    time.sleep(seconds)
    JobRun.objects.create(key=key, pid=os.getpid())


def on_load() -> None:
    """An ON_LOAD callable: records each call."""
    _event("on-load", "called")
