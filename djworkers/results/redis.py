"""Results of the Redis queue backend: one key per job, expiring by itself.

``<prefix>:<job id>`` holds the sealed record (``SET ... PX ttl``: Redis
expires it, nothing to purge). A final write also pushes a token on
``<prefix>:<job id>:done``; a waiter blocks in ``BLPOP`` on that list (no
polling) and pushes the token back, so every other waiter wakes too.
"""

from __future__ import annotations

import time
from typing import Any

from .base import ResultStore
from .record import FINAL

KEY_PREFIX = "djworkers:result"
#: Longest single BLPOP when the client has no socket timeout to stay inside.
MAX_BLOCK = 5.0


class RedisResultStore(ResultStore):
    def __init__(self, ttl: float, client: Any, prefix: str = KEY_PREFIX):
        super().__init__(ttl)
        self.client = client
        self.prefix = prefix
        socket_timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        self.max_block = min(MAX_BLOCK, float(socket_timeout) * 0.6) if socket_timeout else MAX_BLOCK

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}:{job_id}"

    def write(self, job_id: str, status: str, frame: bytes) -> None:
        ttl_ms = max(1, int(self.ttl * 1000))
        key = self._key(job_id)
        if status not in FINAL:  # running, retrying: one SET, one round trip (no MULTI/EXEC to parse)
            self.client.set(key, bytes(frame), px=ttl_ms)
            return
        # In order on one connection: a waiter that wakes on the token reads the final record. A
        # pipeline cut halfway leaves no token; waiters re-read the record every slice anyway.
        done = f"{key}:done"
        pipe = self.client.pipeline(transaction=False)
        pipe.set(key, bytes(frame), px=ttl_ms)
        pipe.delete(done)
        pipe.rpush(done, b"1")
        pipe.pexpire(done, ttl_ms)
        pipe.execute()

    def read(self, job_id: str) -> bytes | None:
        value = self.client.get(self._key(job_id))
        return None if value is None else bytes(value)

    def wait_final(self, job_id: str, timeout: float | None) -> bytes | None:
        from .record import ResultRecord

        deadline = None if timeout is None else time.monotonic() + timeout
        done = f"{self._key(job_id)}:done"
        while True:
            frame = self.read(job_id)
            if frame is not None and ResultRecord.unseal(frame).is_final:
                return frame
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            block = self.max_block if left is None else min(self.max_block, left)
            if self.client.blpop([done], timeout=max(0.01, round(block, 3))) is not None:
                # hand the token back: other waiters on the same job wake too
                pipe = self.client.pipeline(transaction=True)
                pipe.rpush(done, b"1")
                pipe.pexpire(done, max(1, int(self.ttl * 1000)))
                pipe.execute()

    def delete(self, job_id: str) -> None:
        key = self._key(job_id)
        self.client.delete(key, f"{key}:done")
