"""The one queue job that runs every ``django.tasks`` task: no task is registered by hand (T1).

Django names a task by its module path, so the message carries the path and
the consumer imports the ``Task`` there and calls its function. A
``takes_context`` task gets a ``TaskContext`` whose result is the running job's
own (its id, attempts and workers); a coroutine function is returned as a
coroutine, which the executor runs to completion. Return values are
normalized to JSON types, as Django's own backends do.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from ..registry import Job, registry
from . import compat
from .results import SHIM_NAME, load_task, to_task_result


def run(path: str, args: list, kwargs: dict, meta: dict) -> Any:
    """Import the task at ``path`` and run its function with ``args`` and ``kwargs``."""
    task, is_async = _task_at(path)
    if task.takes_context:
        args = [compat.base.TaskContext(task_result=_running_result(task, path, args, kwargs, meta)), *args]
    if is_async:
        return _run_async(task.func, args, kwargs)
    return compat.normalize_json(task.func(*args, **kwargs))


@functools.lru_cache(maxsize=1024)
def _task_at(path: str) -> tuple[Any, bool]:
    """The task at ``path`` and whether its function is a coroutine function, looked up once
    per process (an import and an ``inspect`` call cost a few µs of every task otherwise).
    A path that cannot be imported raises each time: nothing is cached for it (nor when
    ``django.tasks`` is missing: :func:`~.compat.require` says what to install)."""
    compat.require()
    task = load_task(path)
    return task, inspect.iscoroutinefunction(task.func)


async def _run_async(func: Any, args: list, kwargs: dict) -> Any:
    return compat.normalize_json(await func(*args, **kwargs))


def _running_result(task: Any, path: str, args: list, kwargs: dict, meta: dict) -> Any:
    """The running job's TaskResult: its stored RUNNING record, or one built from the message."""
    from ..results import get_store
    from ..results.record import RUNNING, ResultRecord
    from ..runtime.coordination import owner_id
    from ..runtime.executor import current_message

    message = current_message.get()
    if message is None:  # called outside a consumer (a test calling run() directly)
        raise RuntimeError(f"Task {path} takes a context, which exists only while a consumer runs it.")
    record = None
    try:
        record = get_store(message.queue).load(message.id)
    except Exception:
        record = None
    if record is None or record.status != RUNNING:
        record = ResultRecord(
            message.id,
            RUNNING,
            name=SHIM_NAME,
            queue=message.queue,
            attempts=message.attempt + 1,
            worker=owner_id(),
            enqueued_at=message.enqueued_at,
            args=[path, args, kwargs, meta],
        )
    return to_task_result(record, task)


#: Registered on import (``djworkers.tasks`` is imported by autodiscovery in every process).
#: ``retries`` etc. follow ``DJWORKERS["QUEUE"]``; the result is always stored (``get_result``).
JOB = registry.register(Job.declare(SHIM_NAME, run, "tasks", result=True))
