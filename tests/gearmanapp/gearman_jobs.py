"""Gearman jobs of the Gearman tests (autodiscovered in their worker subprocesses: G1, G2)."""

from __future__ import annotations

import os
import time

from djworkers.gearman import gearman_job


@gearman_job
def reverse(text):
    """Bare decorator: registered as ``tests.gearmanapp.reverse`` (G1, G2)."""
    return text[::-1]


@gearman_job(name="tests.echo")
def echo(*args, **kwargs):
    """Returns exactly what it received (the falsy-argument and README tests)."""
    return [list(args), kwargs]


@gearman_job(name="readme.my-task-name")
def my_task_function(foo):
    return {"foo": foo, "type": type(foo).__name__}


@gearman_job(name="readme.three")
def three(one, two, three):
    return [one, two, three]


@gearman_job(name="readme.reserved")
def reserved(background, unique):
    return {"background": background, "unique": unique}


@gearman_job(queue="my-queue-name")
def some_job(some_arg):
    return f"queue job got {some_arg}"


@gearman_job(name="tests.boom")
def boom(message):
    raise ValueError(message)


@gearman_job(name="tests.sleep")
def sleep(seconds, path=None):
    time.sleep(seconds)
    if path:
        with open(path, "a") as handle:
            handle.write(f"slept {os.getpid()}\n")
    return seconds


@gearman_job(name="tests.record_pid")
def record_pid(path, token, pause=0.0):
    """Appends "pid token" to ``path`` (the -w N and background tests)."""
    time.sleep(pause)
    with open(path, "a") as handle:
        handle.write(f"{os.getpid()} {token}\n")
    return os.getpid()


@gearman_job(name="tests.flaky", retries=2, retry_delay=0.2, retry_backoff=1.0)
def flaky(path, failures):
    """Fails ``failures`` times (counted in ``path``), then succeeds (background retries)."""
    with open(path, "a") as handle:
        handle.write("attempt\n")
    with open(path) as handle:
        attempts = len(handle.read().splitlines())
    if attempts <= failures:
        raise RuntimeError(f"attempt {attempts} fails")
    return attempts


@gearman_job(name="tests.record")
def record(path, *args, **kwargs):
    """Appends the JSON of its arguments to ``path`` (background submissions)."""
    import json

    with open(path, "a") as handle:
        handle.write(json.dumps([list(args), kwargs]) + "\n")


@gearman_job(name="tests.flaky_later", retries=1, retry_delay=2.0, retry_backoff=1.0)
def flaky_later(path, failures):
    """Like tests.flaky, with a retry 2 s later (held by the worker meanwhile)."""
    return flaky(path, failures)
