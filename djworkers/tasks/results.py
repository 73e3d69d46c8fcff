"""A core :class:`~djworkers.results.ResultRecord` seen as a ``django.tasks`` ``TaskResult`` (T1).

The record of a task's job carries the job's arguments (``options["result_args"]``):
``(task module path, args, kwargs, meta)``, where ``meta`` keeps the backend alias,
priority and ``run_after`` the task was enqueued with. Statuses map as:

=====================  ==========================================================
core record            ``TaskResultStatus``
=====================  ==========================================================
queued                 READY
running                RUNNING
retrying               READY (it runs again; ``errors`` holds the failed attempts)
succeeded              SUCCESSFUL
failed, cancelled      FAILED
=====================  ==========================================================
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from ..results.record import CANCELLED, FAILED, QUEUED, RETRYING, RUNNING, SUCCEEDED, ResultRecord
from . import compat

#: The name of the one queue job that runs every django.tasks task (see :mod:`.shim`).
SHIM_NAME = "djworkers.tasks.run"

_STATUS = {
    QUEUED: "READY",
    RETRYING: "READY",
    RUNNING: "RUNNING",
    SUCCEEDED: "SUCCESSFUL",
    FAILED: "FAILED",
    CANCELLED: "FAILED",
}


def when(timestamp: float | None) -> datetime.datetime | None:
    """A unix time as Django wants it: aware UTC with ``USE_TZ``, naive local time without."""
    if timestamp is None:
        return None
    if settings.USE_TZ:
        return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return datetime.datetime.fromtimestamp(timestamp)


def timestamp(value: datetime.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def load_task(path: str) -> Any:
    """The ``Task`` object at module path ``path`` (what ``@task`` left in its module)."""
    try:
        task = import_string(path)
    except ImportError as exc:
        raise ImportError(f"django.tasks task {path!r} cannot be imported: {exc}") from exc
    if not isinstance(task, compat.base.Task):
        raise TypeError(f"{path!r} is a {type(task).__name__}, not a task: decorate it with @task.")
    return task


def is_task_record(record: ResultRecord | None) -> bool:
    return record is not None and record.name == SHIM_NAME and len(record.args) == 4


def to_task_result(record: ResultRecord, task: Any = None) -> Any:
    """The ``TaskResult`` for ``record`` (a record of the shim job, see :func:`is_task_record`)."""
    path, args, kwargs, meta = record.args
    if task is None:
        task = load_task(path)
    changes: dict[str, Any] = {
        "queue_name": record.queue or task.queue_name,
        "priority": meta.get("priority", task.priority),
        "backend": meta.get("backend", task.backend),
    }
    run_after = when(meta.get("run_after"))
    if run_after is not None:
        changes["run_after"] = run_after
    task = _replace(task, changes)
    errors = [_error(item["error_type"], item["traceback"]) for item in record.history if item.get("error_type")]
    workers = [item["worker"] for item in record.history]
    if record.status == CANCELLED:
        errors.append(
            _error("djworkers.exceptions.JobCancelled", f"Job {record.job_id} was cancelled before it ran.\n")
        )
    elif record.status in (RETRYING, FAILED) and record.error_type:
        # A job failed without running (poison: its consumers kept dying) has no traceback: the message says why.
        errors.append(_error(record.error_type, record.traceback or f"{record.error_type}: {record.error_message}\n"))
    if record.worker and record.status != QUEUED:
        workers.append(record.worker)
    result = compat.base.TaskResult(
        task=task,
        id=record.job_id,
        status=compat.base.TaskResultStatus[_STATUS[record.status]],
        enqueued_at=when(record.enqueued_at),
        started_at=when(record.started_at),
        finished_at=when(record.finished_at),
        last_attempted_at=when(record.started_at),
        args=list(args),
        kwargs=dict(kwargs),
        backend=changes["backend"],
        errors=errors,
        worker_ids=workers,
    )
    if record.status == SUCCEEDED:
        object.__setattr__(result, "_return_value", record.value)
    return result


def _replace(task: Any, changes: dict[str, Any]) -> Any:
    """``task`` with other defaults, without ``Task.using`` (which skips falsy values such as priority 0)."""
    import dataclasses

    current = {key: getattr(task, key) for key in changes}
    if current == changes:
        return task
    return dataclasses.replace(task, **changes)


def _error(error_type: str, traceback: str) -> Any:
    return compat.base.TaskError(exception_class_path=error_type, traceback=traceback)
