"""Children die with their supervisor, even when it is SIGKILLed.

A supervisor that dies without stopping its children (``kill -9``, the OOM
killer, a crash) would leave them running as orphans: a ``runserver`` that
keeps port 8000, consumers nobody stops. Two mechanisms, because neither is
enough alone:

* Linux: ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` in the child, set between fork
  and exec, so it covers any command (``runserver`` too). The kernel sends the
  signal when the *thread* that forked the child exits, so the supervisor forks
  from its main thread. It survives ``exec`` (not for set-uid programs).
* Everywhere: a pipe. The supervisor keeps the only write end; each child gets
  the read end and a thread blocked on it, which reads end-of-file when the
  supervisor is gone, however it died, and sends its own process SIGTERM. An
  exec'd child finds the descriptor in ``DJWORKERS_LIFELINE_FD``; djworkers'
  long-running commands start the watcher when they install their signal
  handlers (:meth:`.shutdown.Shutdown.install`). A command that is not
  djworkers' (``runserver``) has only the first mechanism: outside Linux it can
  outlive a SIGKILLed supervisor.

Both send SIGTERM, not SIGKILL: an orphaned worker still stops gracefully (it
finishes or hands back its running jobs), as after a ``kill`` of the group.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable

logger = logging.getLogger("djworkers.runtime")

#: Environment variable naming the read end of the lifeline in an exec'd child.
ENV = "DJWORKERS_LIFELINE_FD"
#: From <linux/prctl.h>.
PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` on Linux, resolved in the parent: a child between fork and
    exec must not load libraries (another thread may hold the loader's lock)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def die_with_parent(parent_pid: int) -> None:
    """In a child: get SIGTERM when the parent dies (Linux); exit now if it already has.

    Safe between fork and exec: one foreign call, no allocation by Python beyond ints.
    """
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _watch(fd: int, what: str) -> None:
    def run() -> None:
        try:
            while os.read(fd, 512):  # nobody writes: only EOF (the parent is gone) returns b""
                pass
        except OSError:
            pass
        logger.warning("%s is gone: stopping (SIGTERM to this process)", what)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=run, daemon=True, name="djworkers-lifeline").start()


class Lifeline:
    """The supervisor's side: one pipe shared by all its children."""

    def __init__(self) -> None:
        # Non-inheritable (PEP 446): an exec'd child gets the read end only through pass_fds.
        self.read_fd, self.write_fd = os.pipe()
        self.parent_pid = os.getpid()

    def popen_kwargs(self, env: dict[str, str]) -> dict:
        """``subprocess.Popen`` arguments for an exec'd child (``env`` is updated)."""
        env[ENV] = str(self.read_fd)
        return {"pass_fds": (self.read_fd,), "preexec_fn": self._preexec, "env": env}

    def _preexec(self) -> None:
        die_with_parent(self.parent_pid)

    def in_forked_child(self) -> None:
        """Right after ``os.fork()`` in the child: drop the write end, arm both mechanisms."""
        os.close(self.write_fd)
        die_with_parent(self.parent_pid)
        _watch(self.read_fd, f"The supervisor (pid {self.parent_pid})")

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def watch_from_environment() -> None:
    """In an exec'd child: watch the lifeline named by ``DJWORKERS_LIFELINE_FD``, once.

    The variable is removed, so the child's own children (which do not get the
    descriptor) never read an unrelated file that reused its number.
    """
    value = os.environ.pop(ENV, None)
    if not value:
        return
    try:
        fd = int(value)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
    except (ValueError, OSError):
        return
    _watch(fd, f"The supervisor (pid {os.getppid()})")
