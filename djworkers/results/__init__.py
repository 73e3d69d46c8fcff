"""The core result store (Q12): what a job returned or raised, for whoever asks later.

Opt in per job (``@queue_command(result=True)``) or for all
(``DJWORKERS["QUEUE"]["RESULTS"]``). The executor writes a
:class:`~.record.ResultRecord` when such a job starts, retries and finishes;
the store is the queue backend's own (:meth:`QueueBackend.result_store`): a
table for the database backend, keys for Redis, a dict for memory. Records
expire after ``RESULT_TTL`` seconds. Jobs that did not ask write nothing.
"""

from __future__ import annotations

from .base import ResultStore
from .record import (
    CANCELLED,
    FAILED,
    FINAL,
    QUEUED,
    RETRYING,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    ResultRecord,
)


def get_store(queue: str | None = None) -> ResultStore:
    """The result store of the configured queue backend (this process's shared one)."""
    from ..queue.api import get_backend

    return get_backend(queue).result_store()


__all__ = [
    "CANCELLED",
    "FAILED",
    "FINAL",
    "QUEUED",
    "RETRYING",
    "RUNNING",
    "STATUSES",
    "SUCCEEDED",
    "ResultRecord",
    "ResultStore",
    "get_store",
]
