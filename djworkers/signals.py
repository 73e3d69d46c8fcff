"""Signals sent around every job, whichever front door made it.

All are sent with ``sender`` = the door's name (``"queue"``, ``"ztask"``, ...)
and ``message`` = the :class:`~djworkers.messages.Message`; the ones a worker
sends also carry ``backend``, the storage kind under the door (``"redis"``, ...).
"""

from django.dispatch import Signal

#: A job was handed to a transport. Extra: none.
job_enqueued = Signal()
#: A worker is about to run a job. Extra: none.
job_started = Signal()
#: The job returned. Extra: ``result``, ``duration`` (seconds).
job_succeeded = Signal()
#: The job raised and will run again. Extra: ``exception``, ``eta`` (unix time).
job_retried = Signal()
#: The job raised for the last time (or could not run). Extra: ``exception``, ``traceback``.
job_failed = Signal()
