"""``TASKS`` backends that hand ``django.tasks`` tasks to the djworkers queue (T1).

``TaskBackend`` writes to whatever ``DJWORKERS["QUEUE"]["BACKEND"]`` is;
``DatabaseBackend`` and ``RedisBackend`` say which one they expect (a check,
``djworkers.E705``, fails when the queue is configured otherwise), so the same
``queue_consumer`` that runs queue jobs runs the tasks. A task becomes one
message of the shim job (:mod:`.shim`) on the queue named by its
``queue_name``, with its priority and ``run_after`` as the queue's priority and
eta; its result lives in the queue's result store and
:meth:`~TaskBackend.get_result` works from any process.

Enqueueing follows ``DJWORKERS["QUEUE"]["ENQUEUE_ON_COMMIT"]`` (or the backend's
``OPTIONS["ENQUEUE_ON_COMMIT"]``): when on, inside a transaction the task is
written at commit, and a rollback drops it.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from django.db import transaction

from .. import conf
from ..messages import Message
from ..results.record import QUEUED, ResultRecord
from . import compat
from .backends_names import OPTION_NAMES  # noqa: F401  (re-exported)
from .results import SHIM_NAME, is_task_record, timestamp, to_task_result

compat.require()


class TaskBackend(compat.backends_base.BaseTaskBackend):
    """Runs tasks on the djworkers queue configured in ``DJWORKERS["QUEUE"]``."""

    supports_defer = True  # run_after -> the queue's eta
    supports_priority = True  # the queue runs higher priorities first
    supports_get_result = True  # the queue's result store, shared between processes
    supports_async_task = True  # the executor runs coroutine functions to completion

    #: The queue backend kind this backend expects, or None for any.
    kind: str | None = None

    def __init__(self, alias: str, params: dict[str, Any]):
        super().__init__(alias, params)
        #: ``OPTIONS["ENQUEUE_ON_COMMIT"]``: None follows ``QUEUE["ENQUEUE_ON_COMMIT"]``.
        self.enqueue_on_commit: bool | None = self.options.get("ENQUEUE_ON_COMMIT")

    # -- the queue underneath ------------------------------------------------------------
    def _queue_backend(self, queue: str | None = None) -> Any:
        from ..queue.api import get_backend

        return get_backend(queue or self.default_queue())

    def default_queue(self) -> str:
        """The queue results are read through (all queues of a connection share one store)."""
        name = conf.section("QUEUE")["NAME"]
        return name if not self.queues or name in self.queues else sorted(self.queues)[0]

    def _store(self, queue: str | None = None) -> Any:
        return self._queue_backend(queue).result_store()

    # -- django.tasks API -------------------------------------------------------------------
    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        self.validate_task(task)
        from ..queue import api

        now = time.time()
        meta = {"backend": self.alias, "priority": task.priority, "run_after": timestamp(task.run_after)}
        result = compat.base.TaskResult(  # normalizes args to JSON types, or raises TypeError
            task=task,
            id="",
            status=compat.base.TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        # result_wait: django.tasks reads results (get_result, refresh), never blocks on one
        options: dict[str, Any] = {"result": True, "result_args": True, "result_wait": False}
        if task.priority:
            options["priority"] = task.priority
        message = Message(
            name=SHIM_NAME,
            args=(task.module_path, result.args, result.kwargs, meta),
            queue=task.queue_name,
            eta=meta["run_after"],
            enqueued_at=now,
            options=options,
        )
        record = ResultRecord(
            message.id, QUEUED, name=SHIM_NAME, queue=message.queue, enqueued_at=now, args=list(message.args)
        )
        if conf.section("QUEUE")["ALWAYS_EAGER"]:
            return self._run_eagerly(task, message, record)
        backend = self._queue_backend(message.queue)
        store = backend.result_store()

        alias = api.commit_alias(backend)
        # On the database backend the record and the job go in one transaction: never one without
        # the other, and one commit instead of two (~1.4x the enqueue rate on SQLite).
        from ..queue.backends.database import DatabaseBackend as DatabaseQueue

        on_database = isinstance(backend, DatabaseQueue)
        together = transaction.atomic(using=alias, savepoint=False) if on_database else contextlib.nullcontext()

        def write() -> None:
            with together:
                store.save(record)  # first: get_result() by id says READY, not "does not exist"
                api.enqueue_message(message, on_commit=False)

        if api.enqueue_on_commit(backend, self.enqueue_on_commit) and transaction.get_connection(alias).in_atomic_block:
            transaction.on_commit(write, using=alias)
        else:
            write()
        task_result = to_task_result(record, task)
        compat.signals.task_enqueued.send(type(self), task_result=task_result)
        return task_result

    def _run_eagerly(self, task: Any, message: Message, record: ResultRecord) -> Any:
        """``QUEUE["ALWAYS_EAGER"]``: run it now through the executor; errors land in the result."""
        from ..queue.api import DOOR
        from ..runtime.executor import Executor

        store = self._store(message.queue)
        store.save(record)
        Executor(DOOR, "eager", record_failures=False, results=store).run(
            message.replace(options={**message.options, "no_retry": True})
        )
        return self.get_result(message.id)

    def get_result(self, result_id: str) -> Any:
        record = self._store().load(result_id)
        if not is_task_record(record):
            raise compat.exceptions.TaskResultDoesNotExist(result_id)
        return to_task_result(record)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias!r}>"


class DatabaseBackend(TaskBackend):
    """Tasks on the database queue (``DJWORKERS["QUEUE"]["BACKEND"] = "database"``)."""

    kind = "database"


class RedisBackend(TaskBackend):
    """Tasks on the Redis queue (``DJWORKERS["QUEUE"]["BACKEND"] = "redis"``)."""

    kind = "redis"
