"""Run N copies of a worker in child processes (``--processes N``).

The parent forks children (closing database connections first, so no socket
is shared across a fork), forwards SIGTERM/SIGINT to them, restarts a child
that died unexpectedly (non-zero exit or a signal), and exits when all
children have exited: after a stop, or because each finished its work (a child
that exits 0 on its own, as in ``--burst``, is not restarted).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

from .connections import close_all_connections
from .shutdown import Shutdown

logger = logging.getLogger("djworkers.supervisor")


class Supervisor:
    def __init__(self, target: Callable[[], int], processes: int, restart_delay: float = 1.0):
        if processes < 1:
            raise ValueError("processes must be >= 1")
        self.target = target
        self.processes = processes
        self.restart_delay = restart_delay
        self.children: dict[int, int] = {}  # pid -> slot
        self.shutdown = Shutdown(on_force=self._forward)

    def _spawn(self, slot: int) -> None:
        close_all_connections()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                code = self.target()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                logger.exception("Worker process crashed")
            finally:
                os._exit(code or 0)
        self.children[pid] = slot
        logger.info("Started worker process %d (slot %d)", pid, slot)

    def _forward(self) -> None:
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self) -> int:
        self.shutdown.install()
        try:
            for slot in range(self.processes):
                self._spawn(slot)
            forwarded = False
            worst = 0
            while self.children:
                if self.shutdown.requested and not forwarded:
                    self._forward()
                    forwarded = True
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    time.sleep(0.1)
                    continue
                slot = self.children.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                if code != 0 and not self.shutdown.requested:
                    # A crash already answered by a restart does not make a later
                    # graceful stop fail; only exits during the stop count.
                    logger.error("Worker process %d exited with %d; restarting", pid, code)
                    time.sleep(self.restart_delay)
                    if not self.shutdown.requested:  # no new child once a stop began
                        self._spawn(slot)
                    continue
                if not self.shutdown.requested:
                    # Exit 0 on its own: the child's work is done (``--burst``).
                    logger.info("Worker process %d finished; not restarted", pid)
                worst = max(worst, abs(code))
            return worst
        finally:
            self.shutdown.uninstall()
