"""The LISTEN side of the database backend's wake-up on PostgreSQL.

Writers ``NOTIFY`` the :data:`CHANNEL` with the queue name as payload (in the
same statement as the INSERT); idle consumers wait here instead of polling.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Sequence

from django.db import connections

#: PostgreSQL channel the writers NOTIFY and idle consumers LISTEN on; payload = queue name.
CHANNEL = "djworkers_queue"


class Listener:
    """A dedicated PostgreSQL connection that LISTENs for queue writes, shared by the job threads.

    Several job threads may wait at once; one connection serves them all. The
    first waiter reads notifications (holding ``_reader``); the others sleep on
    a condition variable and wake when the reader saw a notification for one of
    the backend's queues (``_seen`` is bumped), or when their own timeout runs
    out. A waiter that finds no reader becomes the reader.
    """

    #: Longest a reader blocks in one read, so waiters take over promptly when it leaves.
    READ_SLICE = 0.5

    def __init__(self, alias: str):
        base = connections[alias]
        self.wrapper = type(base)(copy.deepcopy(base.settings_dict), alias)
        self.wrapper.inc_thread_sharing()  # any job thread may read, the main thread closes
        self.wrapper.ensure_connection()
        self.raw = self.wrapper.connection
        self.raw.autocommit = True
        self.raw.execute(f"LISTEN {CHANNEL}")
        self._reader = threading.Lock()
        self._changed = threading.Condition()
        self._seen = 0

    def wait(self, timeout: float, queues: Sequence[str]) -> bool:
        """Block up to ``timeout`` seconds for a NOTIFY about one of ``queues``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            start = self._seen
        while True:
            left = deadline - time.monotonic()
            if self._seen != start:
                return True
            if left <= 0:
                return False
            if self._reader.acquire(blocking=False):
                try:
                    for notify in self.raw.notifies(timeout=min(left, self.READ_SLICE), stop_after=1):
                        if notify.payload in queues:
                            with self._changed:
                                self._seen += 1
                                self._changed.notify_all()
                finally:
                    self._reader.release()
            else:
                with self._changed:
                    if self._seen == start:
                        self._changed.wait(min(left, self.READ_SLICE))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.wrapper.close()
