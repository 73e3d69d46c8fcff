"""djworkers as the worker behind Django's ``django.tasks`` (T1).

Name a backend in ``TASKS``::

    TASKS = {"default": {"BACKEND": "djworkers.tasks.DatabaseBackend"}}

and ``queue_consumer`` runs every ``@task`` enqueued through it, beside the
queue's own jobs, with results in the queue's result store. See
``docs/tasks.rst``. This package imports cleanly without ``django.tasks``
(Django 5.2 without the backport): the backends are loaded on first use, and
system check ``djworkers.E701`` says what is missing.
"""

from __future__ import annotations

from typing import Any

from . import shim  # noqa: F401  (registers the one job that runs every task)

BACKENDS = ("TaskBackend", "DatabaseBackend", "RedisBackend")


def __getattr__(name: str) -> Any:
    if name in BACKENDS:
        from . import backends

        return getattr(backends, name)
    raise AttributeError(f"module 'djworkers.tasks' has no attribute {name!r}")


__all__ = list(BACKENDS)
