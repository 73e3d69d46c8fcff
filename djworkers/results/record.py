"""One job's result as the store keeps it: status, value or error, and timings (Q12).

A :class:`ResultRecord` is sealed (serialized and signed, like a message: see
:func:`djworkers.messages.seal`) before it reaches any store, so a store moves
opaque bytes and a forged result is never deserialized.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any

from ..exceptions import JobCancelled, MalformedMessage, RemoteJobError
from ..messages import seal, unseal
from ..serializers import get_serializer

QUEUED = "queued"
RUNNING = "running"
RETRYING = "retrying"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"

#: Statuses after which nothing changes: a waiter stops waiting.
FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
STATUSES = (QUEUED, RUNNING, RETRYING, SUCCEEDED, FAILED, CANCELLED)

#: Version 2 records are sealed as ``(2, *field values)`` in :data:`SEALED_FIELDS` order; version 1
#: records (a dict of fields with ``"v": 1``) are still read.
RECORD_VERSION = 2


@dataclasses.dataclass
class ResultRecord:
    """What ``django.tasks``' TaskResult needs later: status, value, error, attempts, worker, times."""

    job_id: str
    status: str
    name: str = ""
    queue: str = ""
    value: Any = None
    #: The job's exception, serialized on its own (None when it could not be): loading it
    #: may fail in a process that cannot import its class, and then only the text is used.
    exception: bytes | None = None
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""
    attempts: int = 0
    worker: str = ""
    enqueued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    #: The message's arguments, for jobs enqueued with ``options["result_args"]`` (the
    #: django.tasks door rebuilds a TaskResult from them); empty otherwise.
    args: list = dataclasses.field(default_factory=list)
    kwargs: dict = dataclasses.field(default_factory=dict)
    #: Earlier attempts of a retried job, oldest first: ``{"worker", "error_type", "traceback"}``
    #: (kept for ``result_args`` jobs, whose front door reports every attempt).
    history: list = dataclasses.field(default_factory=list)

    #: Whether the final write wakes ``get()`` waiters (not sealed: the executor sets it per job).
    #: False for jobs enqueued with ``options["result_wait"] = False``, whose front door never
    #: blocks on them (django.tasks reads results, it does not wait): a store may then skip its
    #: wake-up (Redis: the per-job token list). A waiter on such a record still finds it, by
    #: reading, at the end of its current blocking slice (Redis: at most 5 s).
    wakes = True  # no annotation: not a dataclass field

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    def set_error(self, exc: BaseException, traceback: str) -> None:
        """Keep ``exc`` as itself when the serializer can carry it both ways, and always as text."""
        self.error_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
        self.error_message = str(exc)
        self.traceback = traceback
        serializer = get_serializer()
        try:
            blob = serializer.dumps(exc)
            if type(serializer.loads(blob)) is type(exc):  # the getter must rebuild it too
                self.exception = blob
        except Exception:
            self.exception = None

    def error(self) -> BaseException:
        """The job's exception: itself when it deserializes, else a :class:`RemoteJobError`."""
        if self.status == CANCELLED:
            return JobCancelled(f"Job {self.name or self.job_id} [{self.job_id}] was cancelled.")
        if self.exception is not None:
            try:
                exc = get_serializer().loads(self.exception)
                if isinstance(exc, BaseException):
                    return exc
            except Exception:
                pass
        return RemoteJobError(self.error_type, self.error_message, self.traceback)

    # -- sealing -------------------------------------------------------------------------
    def seal(self) -> bytes:
        """Signed bytes: the field values in :data:`SEALED_FIELDS` order, behind the version
        (no field names: a record sealed ~40% smaller and ~1.5 µs faster than a dict of its
        fields). A return value the serializer refuses is replaced by an error the getter sees
        (the job ran; its value cannot travel)."""
        try:
            return seal((RECORD_VERSION, *_field_values(self.__dict__)))
        except Exception as exc:
            data = dict(self.__dict__)
            failure = exc
        if data["exception"] is not None:
            data["exception"] = None  # e.g. a serializer that cannot hold bytes
            try:
                return seal((RECORD_VERSION, *_field_values(data)))
            except Exception as exc:
                failure = exc
        if self.status == SUCCEEDED:
            data.update(
                status=FAILED,
                value=None,
                error_type="djworkers.exceptions.SerializationError",
                error_message=(
                    f"the return value of job {self.name!r} (type "
                    f"{type(self.value).__qualname__}) cannot be stored: {failure}"
                ),
            )
        else:
            data["value"] = None
        return seal((RECORD_VERSION, *_field_values(data)))

    @classmethod
    def unseal(cls, raw: bytes) -> ResultRecord:
        data = unseal(raw)
        if isinstance(data, dict):  # version 1: the fields by name
            return cls(**{key: value for key, value in data.items() if key in _FIELD_NAMES})
        if isinstance(data, list | tuple) and len(data) > 2 and data[0] == RECORD_VERSION:
            # a record from a later release may carry more fields: those this one knows
            return cls(*data[1 : 1 + len(SEALED_FIELDS)])
        raise MalformedMessage("not a job result record", raw=bytes(raw))


#: The order of a version 2 record's values: the dataclass's fields. A new field goes last, with a
#: default, so that older records (fewer values) still unseal.
SEALED_FIELDS = tuple(field.name for field in dataclasses.fields(ResultRecord))
_FIELD_NAMES = frozenset(SEALED_FIELDS)
_field_values = operator.itemgetter(*SEALED_FIELDS)
