"""Results of the memory queue backend: a dict in this process, waited on with a condition."""

from __future__ import annotations

import threading
import time

from .base import ResultStore
from .record import FINAL


class MemoryResultStore(ResultStore):
    #: A dict write costs nothing: RUNNING is written at once.
    running_delay = 0.0

    def __init__(self, ttl: float):
        super().__init__(ttl)
        self.frames: dict[str, tuple[bytes, float, bool]] = {}
        self.condition = threading.Condition()

    def write(self, job_id: str, status: str, frame: bytes) -> None:
        final = status in FINAL
        with self.condition:
            self.frames[job_id] = (bytes(frame), self.expires_at(), final)
            if final:
                self.condition.notify_all()

    def _live(self, job_id: str) -> tuple[bytes, float, bool] | None:
        entry = self.frames.get(job_id)
        return entry if entry is not None and entry[1] > time.time() else None

    def read(self, job_id: str) -> bytes | None:
        with self.condition:
            entry = self._live(job_id)
        return entry[0] if entry else None

    def wait_final(self, job_id: str, timeout: float | None) -> bytes | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.condition:
            while True:
                entry = self._live(job_id)
                if entry is not None and entry[2]:
                    return entry[0]
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self.condition.wait(left)

    def purge(self) -> int:
        now = time.time()
        with self.condition:
            expired = [job_id for job_id, entry in self.frames.items() if entry[1] <= now]
            for job_id in expired:
                del self.frames[job_id]
        return len(expired)

    def delete(self, job_id: str) -> None:
        with self.condition:
            self.frames.pop(job_id, None)
