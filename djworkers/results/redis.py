"""Results of the Redis queue backend: one key per job, expiring by itself.

``<prefix>:<job id>`` holds the sealed record (``SET ... PX ttl``: Redis
expires it, nothing to purge). A final write also leaves one token on
``<prefix>:<job id>:done`` (one script, :data:`FINAL_WRITES`: one command, one
round trip); a waiter blocks in ``BLPOP`` on that list (no polling) and, in
one round trip, pushes the token back (every other waiter wakes too) and reads
the record. A job already finished has its token there: ``BLPOP`` returns at
once, so ``get()`` costs two round trips whether it waits or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..redis_client import LuaScript
from .base import ResultStore
from .record import FINAL, ResultRecord

KEY_PREFIX = "djworkers:result"
#: Longest single BLPOP when the client has no socket timeout to stay inside.
MAX_BLOCK = 5.0

#: KEYS: record, done list (of each record); ARGV: frame, ttl in ms (of each record, in the
#: same places). The record first: a waiter woken by the token reads the final record (a
#: script runs whole, so it never sees one without the other). A consumer sends the records
#: of a batch of jobs in one call: one script run per batch, not per job.
FINAL_WRITES = LuaScript(
    "djworkers-result-final",
    """
for i = 1, #KEYS, 2 do
  redis.call('SET', KEYS[i], ARGV[i], 'PX', ARGV[i + 1])
  redis.call('DEL', KEYS[i + 1])
  redis.call('RPUSH', KEYS[i + 1], '1')
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[i + 1])
end
return #KEYS / 2
""",
)


def _flattened(writes: list[tuple[tuple, tuple]]) -> tuple[list, list]:
    """The KEYS and ARGV of :data:`FINAL_WRITES` for ``(keys, args)`` pairs."""
    return [key for keys, _ in writes for key in keys], [arg for _, args in writes for arg in args]


def final_writes_command(writes: list[tuple[tuple, tuple]]) -> tuple:
    """The EVALSHA of :data:`FINAL_WRITES` for ``(keys, args)`` pairs (for a pipeline)."""
    return FINAL_WRITES.command(*_flattened(writes))


def send_final_writes(client: Any, writes: list[tuple[tuple, tuple]]) -> None:
    """Run FINAL_WRITES for ``(keys, args)`` pairs (loading the script if the server lost it)."""
    FINAL_WRITES(client, *_flattened(writes))


class RedisResultStore(ResultStore):
    """``settle_with``: the queue backend's :meth:`~djworkers.queue.backends.redis.RedisBackend.
    defer_result_write`, which sends a job's final record with the job's ack (:meth:`save_soon`)."""

    def __init__(
        self,
        ttl: float,
        client: Any,
        prefix: str = KEY_PREFIX,
        settle_with: Callable[[tuple, tuple], bool] | None = None,
    ):
        super().__init__(ttl)
        self.client = client
        self.prefix = prefix
        self.settle_with = settle_with
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
        send_final_writes(self.client, [((key, f"{key}:done"), (bytes(frame), ttl_ms))])

    def save_soon(self, record: ResultRecord) -> None:
        """A final record of a job its consumer acknowledges next: it goes out with the ack, in
        front of it, in the consumer's next round trip (the backend decides; else written now)."""
        if self.settle_with is None or not record.is_final:
            self.save(record)
            return
        self._lazy.cancel(record.job_id)
        key = self._key(record.job_id)
        ttl_ms = max(1, int(self.ttl * 1000))
        frame = bytes(record.seal())
        if not self.settle_with((key, f"{key}:done"), (frame, ttl_ms)):
            self.write(record.job_id, record.status, frame)

    def read(self, job_id: str) -> bytes | None:
        value = self.client.get(self._key(job_id))
        return None if value is None else bytes(value)

    def wait(self, job_id: str, timeout: float | None = None) -> ResultRecord | None:
        frame = self.wait_final(job_id, timeout)
        return None if frame is None else ResultRecord.unseal(frame)

    def wait_final(self, job_id: str, timeout: float | None) -> bytes | None:
        """Block on the job's token first (there already when the job is done), then hand it back
        and read the record in one round trip; between slices of ``max_block`` read the record
        alone (a record whose token was lost, e.g. deleted by hand, is still found)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        key = self._key(job_id)
        done = f"{key}:done"
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            block = self.max_block if left is None else min(self.max_block, max(0.0, left))
            woke = self.client.blpop([done], timeout=max(0.01, round(block, 3))) is not None
            if woke:
                pipe = self.client.pipeline(transaction=False)
                pipe.rpush(done, b"1")
                pipe.pexpire(done, max(1, int(self.ttl * 1000)))
                pipe.get(key)
                frame = pipe.execute()[2]
            else:
                frame = self.client.get(key)
            if frame is not None and ResultRecord.unseal(bytes(frame)).is_final:
                return bytes(frame)
            if deadline is not None and time.monotonic() >= deadline:
                return None
            if woke:  # a token but no final record (the job runs again after a lost ack): no hot loop
                time.sleep(0.05)

    def delete(self, job_id: str) -> None:
        key = self._key(job_id)
        self.client.delete(key, f"{key}:done")
