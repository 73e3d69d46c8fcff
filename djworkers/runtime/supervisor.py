"""The one supervisor for every multi-process run.

Two uses, one process model:

* ``queue_consumer --processes N``: N forked copies of a worker
  (:meth:`Supervisor.forking`). A copy that crashes (non-zero exit or a signal)
  is restarted after ``restart_delay``; a copy that exits 0 on its own has
  finished its work (``--burst``) and is not. The supervisor exits when every
  copy has exited.
* ``djworkers_run``: several ``manage.py`` commands (:meth:`Supervisor.commands`),
  their output prefixed by name. If one exits on its own the others are
  stopped and the group exits with that child's code (1 if it was 0): a
  half-running demo is worse than a stopped one.

Signals, one style for both (:class:`.shutdown.Shutdown`): the first SIGTERM,
SIGINT or SIGHUP is a graceful stop: SIGTERM to each child (a worker finishes its
running jobs), up to ``stop_timeout`` seconds, then SIGKILL for what is left.
The same signal again within a second is the same request (Ctrl-C and systemd's
``KillMode=control-group`` reach children directly too); a later one is "stop
now": SIGTERM again to each child (a worker then hands its jobs back at once).

Children run in their own session, so a terminal's signals reach them only
through the supervisor, in this order; and they die with it even when it is
SIGKILLed (:mod:`.lifeline`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from .connections import close_all_connections
from .lifeline import Lifeline
from .shutdown import Shutdown

logger = logging.getLogger("djworkers.supervisor")


@dataclasses.dataclass
class Child:
    """One slot of the group: a command to exec (``argv``) or a callable to fork (``target``)."""

    name: str
    argv: list[str] | None = None
    target: Callable[[], int] | None = None
    pid: int | None = None
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code (negative: killed by that signal) once exited, else None."""
        if self.returncode is not None or self.pid is None:
            return self.returncode
        if self.process is not None:
            self.returncode = self.process.poll()
        else:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 1  # reaped elsewhere: its code is lost
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


class Supervisor:
    def __init__(
        self,
        children: Sequence[Child],
        *,
        restart: bool,
        stop_timeout: float | None = None,
        restart_delay: float = 1.0,
        out: TextIO | None = None,
        env: dict[str, str] | None = None,
    ):
        """``restart``: restart crashed children (worker copies) instead of stopping the group.
        ``stop_timeout``: seconds after the stop's SIGTERM before SIGKILL (None: wait).
        ``out``: where prefixed status and output lines go; None = the log (forked workers
        write their own output)."""
        if not children:
            raise ValueError("a supervisor needs at least one child")
        self.children = list(children)
        self.restart = restart
        self.stop_timeout = stop_timeout
        self.restart_delay = restart_delay
        self.out = out
        self.env = env
        self.width = max(len(c.name) for c in self.children)
        self.shutdown = Shutdown(on_force=self.terminate)
        self._write_lock = threading.Lock()
        self._lifeline: Lifeline | None = None

    @classmethod
    def forking(
        cls, target: Callable[[], int], processes: int, *, restart_delay: float = 1.0, stop_timeout: float | None = None
    ) -> Supervisor:
        """``processes`` forked copies of ``target`` (a worker's ``run``), restarted when they crash."""
        if processes < 1:
            raise ValueError("processes must be >= 1")
        return cls(
            [Child(f"worker-{slot}", target=target) for slot in range(processes)],
            restart=True,
            restart_delay=restart_delay,
            stop_timeout=stop_timeout,
        )

    @classmethod
    def commands(
        cls,
        commands: Sequence[tuple[str, list[str]]],
        *,
        stop_timeout: float = 40.0,
        out: TextIO | None = None,
        env: dict[str, str] | None = None,
    ) -> Supervisor:
        """A group of named commands (``[(name, argv)]``); one exiting stops the rest."""
        return cls(
            [Child(name, argv=list(argv)) for name, argv in commands],
            restart=False,
            stop_timeout=stop_timeout,
            out=out or sys.stdout,
            env=env,
        )

    # -- output ------------------------------------------------------------------------------------
    def write(self, name: str, line: str, level: int = logging.INFO) -> None:
        """A status line about a child: prefixed on ``out``, or to the log."""
        if self.out is None:
            logger.log(level, "%s: %s", name, line.rstrip())
            return
        with self._write_lock:
            self.out.write(f"{name:>{self.width}} | {line.rstrip()}\n")
            self.out.flush()

    def _pump(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        for raw in iter(child.process.stdout.readline, b""):
            self.write(child.name, raw.decode("utf-8", "replace"))

    # -- starting ----------------------------------------------------------------------------------
    def _spawn(self, child: Child) -> None:
        """Start one child (from the main thread: PR_SET_PDEATHSIG follows the forking thread)."""
        assert self._lifeline is not None
        child.returncode = child.process = child.reader = None
        if child.argv is not None:
            env = dict(self.env if self.env is not None else os.environ)
            env.setdefault("PYTHONUNBUFFERED", "1")
            piped = self.out is not None
            child.process = subprocess.Popen(
                child.argv,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                stdout=subprocess.PIPE if piped else None,
                stderr=subprocess.STDOUT if piped else None,
                **self._lifeline.popen_kwargs(env),
            )
            child.pid = child.process.pid
            self.write(child.name, f"started (pid {child.pid}): {' '.join(child.argv[1:])}")
            return
        close_all_connections()  # no database socket shared across the fork
        pid = os.fork()
        if pid == 0:
            self._run_forked(child)
        child.pid = pid
        self.write(child.name, f"started worker process {pid}")

    def _run_forked(self, child: Child) -> None:
        """The forked child's whole life; never returns."""
        code = 1
        try:
            os.setsid()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)  # until the worker installs its own
            assert self._lifeline is not None and child.target is not None
            self._lifeline.in_forked_child()
            code = child.target()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            logger.exception("Worker process crashed")
        finally:
            os._exit(code or 0)

    def _start_readers(self) -> None:
        # After every fork: a thread running during a fork can leave a lock held in the child.
        for child in self.children:
            if child.process is not None and child.process.stdout is not None and child.reader is None:
                child.reader = threading.Thread(
                    target=self._pump, args=(child,), daemon=True, name=f"output-{child.name}"
                )
                child.reader.start()

    # -- stopping ----------------------------------------------------------------------------------
    def terminate(self) -> None:
        """SIGTERM to every running child (a second one is a worker's "stop now")."""
        for child in self.children:
            if child.pid is not None and child.poll() is None:
                try:
                    os.kill(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def _wait(self, child: Child, deadline: float | None) -> int:
        assert child.pid is not None, "only started children are waited for (stop() skips the rest)"
        while (code := child.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                self.write(child.name, f"did not stop within {self.stop_timeout:g}s; killing it", logging.WARNING)
                try:
                    os.kill(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                deadline = None
            time.sleep(0.05)
        if child.reader is not None:
            child.reader.join(2)
        return code

    def stop(self) -> int:
        """SIGTERM everyone, wait up to ``stop_timeout``, SIGKILL the rest. The worst exit code."""
        self.terminate()
        deadline = None if self.stop_timeout is None else time.monotonic() + self.stop_timeout
        worst = 0
        for child in self.children:
            if child.pid is None:
                continue
            code = self._wait(child, deadline)
            self.write(child.name, "stopped" if code in (0, -signal.SIGTERM) else f"exited with {code}")
            worst = max(worst, abs(code))
        return worst

    # -- the loop ----------------------------------------------------------------------------------
    def _exited(self) -> Child | None:
        return next((c for c in self.children if c.pid is not None and c.poll() is not None), None)

    def run(self) -> int:
        """Start, supervise until a signal (or the end of the work), stop. Returns the exit code."""
        self.shutdown.install()
        self._lifeline = Lifeline()
        try:
            try:
                for child in self.children:
                    self._spawn(child)
            except BaseException:
                self.stop()  # a command that cannot start: do not leave the others running
                raise
            self._start_readers()
            code = self._supervise()
            stopped = self.stop()
            return stopped if self.restart else code
        finally:
            self.shutdown.uninstall()
            self._lifeline.close()

    def _supervise(self) -> int:
        """Until a stop is requested or (restart mode) every child finished: the group's exit code."""
        while not self.shutdown.requested:
            child = self._exited()
            if child is None:
                time.sleep(0.1)
                continue
            code = child.returncode
            if not self.restart:
                self.write(child.name, f"exited unexpectedly with {code}; stopping the others", logging.ERROR)
                return code or 1
            if code == 0:
                # Exit 0 on its own: the child's work is done (``--burst``).
                self.write(child.name, f"worker process {child.pid} finished; not restarted")
                child.pid = None
                if all(c.pid is None for c in self.children):
                    return 0
                continue
            # A crash answered by a restart does not make a later graceful stop fail.
            self.write(child.name, f"worker process {child.pid} exited with {code}; restarting", logging.ERROR)
            child.pid = None
            self.shutdown.wait(self.restart_delay)
            if not self.shutdown.requested:  # no new child once a stop began
                self._spawn(child)
                self._start_readers()
        return 0
