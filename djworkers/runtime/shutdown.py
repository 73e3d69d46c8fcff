"""Signal handling shared by every long-running command and the supervisor.

First SIGTERM, SIGINT or SIGHUP: ``requested`` becomes true (stop fetching,
finish what is running). Second: ``forced`` becomes true and the ``on_force``
callback runs (the worker hands its jobs back and exits at once). SIGHUP is a
closed terminal or a lost SSH session: a graceful stop, like SIGTERM, rather
than the default immediate death that loses running jobs' progress.

A repeat within ``repeat_window`` seconds of the first signal is the same stop
request, not a second one: Ctrl-C in a terminal (SIGINT to the whole process
group) and systemd's default ``KillMode=control-group`` (SIGTERM to every
process of the unit) reach a supervisor's children directly *and* through the
supervisor's forwarding, within milliseconds. Counting that as "stop now" would
cut every running job short on an ordinary stop.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from .lifeline import watch_from_environment

logger = logging.getLogger("djworkers.runtime")

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

# What signal.signal() returns and accepts: a handler, SIG_DFL/SIG_IGN, or None (not set from Python).
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Shutdown:
    #: Seconds after the first signal during which a repeat is not a second signal.
    REPEAT_WINDOW = 1.0

    def __init__(self, on_force: Callable[[], None] | None = None, repeat_window: float | None = None):
        self.event = threading.Event()
        self.forced = False
        self.on_force = on_force
        self.repeat_window = self.REPEAT_WINDOW if repeat_window is None else repeat_window
        self._first_at: float | None = None
        self._previous: dict[int, _Handler] = {}

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def request(self) -> None:
        self.event.set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; returns True as soon as shutdown is requested."""
        return self.event.wait(timeout)

    def _handle(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if not self.requested:
            logger.warning("Received %s: finishing running jobs (send again to stop now)", name)
            self._first_at = time.monotonic()
            self.request()
            return
        if self._first_at is not None and time.monotonic() - self._first_at < self.repeat_window:
            logger.info("Received %s again at once: the same stop request (process group/forwarded)", name)
            return
        logger.warning("Received %s again: stopping now", name)
        self.forced = True
        if self.on_force is not None:
            self.on_force()

    def install(self) -> None:
        """Install the handlers (only possible from the main thread).

        In a process started by the supervisor, also watch its lifeline, so this
        process stops (through these handlers) when the supervisor dies.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        watch_from_environment()

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
