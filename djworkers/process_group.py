"""Run several management commands as one group (``djworkers_run``): for development
and small deployments where one terminal or one service unit should start everything.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only the
group, which then stops the children in order: SIGTERM to each (a worker then
finishes its running jobs), wait up to ``stop_timeout``, SIGKILL what is left. A
second Ctrl-C sends a second SIGTERM (a worker's "stop now"). If a child exits on
its own, the others are stopped too and the group exits with that child's code:
a half-running demo is worse than a stopped one.

Output lines are prefixed with the child's name.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO


@dataclasses.dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = None


class ProcessGroup:
    def __init__(self, commands: Sequence[tuple[str, list[str]]], *, stop_timeout: float = 40.0,
                 out: TextIO | None = None, env: dict[str, str] | None = None):
        self.children = [Child(name, list(argv)) for name, argv in commands]
        self.stop_timeout = stop_timeout
        self.out = out or sys.stdout
        self.env = env
        self.width = max((len(c.name) for c in self.children), default=0)
        self._write_lock = threading.Lock()
        self._signals = 0

    def write(self, name: str, line: str) -> None:
        with self._write_lock:
            self.out.write(f"{name:>{self.width}} | {line.rstrip()}\n")
            self.out.flush()

    def _pump(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        for raw in iter(child.process.stdout.readline, b""):
            self.write(child.name, raw.decode("utf-8", "replace"))

    def start(self) -> None:
        env = dict(self.env if self.env is not None else os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        for child in self.children:
            child.process = subprocess.Popen(
                child.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )
            child.reader = threading.Thread(target=self._pump, args=(child,), daemon=True,
                                            name=f"output-{child.name}")
            child.reader.start()
            self.write(child.name, f"started (pid {child.process.pid}): {' '.join(child.argv[1:])}")

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals += 1
        if self._signals > 1:  # the second Ctrl-C: tell the children again ("stop now" for workers)
            self.terminate()

    def terminate(self) -> None:
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                try:
                    child.process.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def stop(self) -> None:
        """SIGTERM everyone, wait up to ``stop_timeout``, then SIGKILL."""
        self.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for child in self.children:
            process = child.process
            if process is None:
                continue
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.write(child.name, f"did not stop within {self.stop_timeout:g}s; killing it")
                process.kill()
                process.wait()
            if child.reader is not None:
                child.reader.join(2)
            code = process.returncode
            self.write(child.name, "stopped" if code in (0, -15) else f"exited with {code}")

    def run(self) -> int:
        """Start, wait for a signal or a child's exit, stop. Returns the exit code."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            self.start()
            while not self._signals:
                exited = next((c for c in self.children if c.process.poll() is not None), None)
                if exited is not None:
                    code = exited.process.returncode or 1
                    self.write(exited.name, f"exited unexpectedly with {exited.process.returncode}; stopping the others")
                    break
                time.sleep(0.2)
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code
