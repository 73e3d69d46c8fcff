"""This process's id, read without a system call.

``os.getpid()`` is a system call on every read (glibc stopped caching it), and
the consumer's per-job bookkeeping asked it several times a job (fork checks,
the worker id of a result record); on virtual machines a system call in a job's
path costs microseconds. The id is kept current by a fork handler instead.
"""

from __future__ import annotations

import os

_pid = os.getpid()


def current_pid() -> int:
    """``os.getpid()``, kept up to date in forked children by :func:`os.register_at_fork`."""
    return _pid


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork)
