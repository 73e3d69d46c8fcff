"""Signal handling shared by every long-running command.

First SIGTERM/SIGINT: ``requested`` becomes true (stop fetching, finish what is
running). Second: ``forced`` becomes true and the ``on_force`` callback runs (the
worker hands its jobs back and exits at once).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

logger = logging.getLogger("djworkers.runtime")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Shutdown:
    def __init__(self, on_force: Callable[[], None] | None = None):
        self.event = threading.Event()
        self.forced = False
        self.on_force = on_force
        self._previous: dict[int, object] = {}

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
            self.request()
            return
        logger.warning("Received %s again: stopping now", name)
        self.forced = True
        if self.on_force is not None:
            self.on_force()

    def install(self) -> None:
        """Install the handlers (only possible from the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
