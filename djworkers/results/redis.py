"""Results of the Redis queue backend: one key per job, expiring by itself.

``<prefix>:<job id>`` holds the sealed record (``SET ... PX ttl``: Redis
expires it, nothing to purge). A final write also leaves one token on
``<prefix>:<job id>:done`` (unless nobody blocks on the record, as with
django.tasks' records: see :attr:`~.record.ResultRecord.wakes`); a waiter
blocks in ``BLPOP`` on that list (no polling) and, in one round trip, pushes
the token back (every other waiter wakes too) and reads the record. A job
already finished has its token there: ``BLPOP`` returns at once, so ``get()``
costs two round trips whether it waits or not.

The Lua that writes final records (:data:`SETTLE_RESULTS_LUA`) runs inside the
queue's FETCH and ACK scripts: a consumer's records travel with its next fetch
in the same script run (no script run and reply of their own).
:data:`FINAL_WRITES` runs it alone, for a record written outside a fetch.
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

#: Lua defining ``settle_results(key_base, arg_base, count)``: writes ``count`` final records.
#: From ``KEYS[key_base + 1]``: (record, done list) of each; from ``ARGV[arg_base]``: (frame,
#: ttl in ms, wake) of each, in the same order. The record first: a waiter woken by the token
#: reads the final record (a script runs whole, so it never sees one without the other). Wake
#: ``'0'`` (:attr:`~.record.ResultRecord.wakes`): no token, for a record nobody blocks on. The
#: queue's FETCH and ACK scripts carry it (:mod:`djworkers.queue.backends.redis_scripts`).
SETTLE_RESULTS_LUA = r"""
local function settle_results(key_base, arg_base, count)
  for i = 0, count - 1 do
    local record, done = KEYS[key_base + 2 * i + 1], KEYS[key_base + 2 * i + 2]
    local a = arg_base + 3 * i
    redis.call('SET', record, ARGV[a], 'PX', ARGV[a + 1])
    if ARGV[a + 2] == '1' then
      redis.call('DEL', done)
      redis.call('RPUSH', done, '1')
      redis.call('PEXPIRE', done, ARGV[a + 1])
    end
  end
end
"""

#: Final records written on their own. KEYS: record, done list of each; ARGV: frame, ttl in ms,
#: wake of each (:data:`SETTLE_RESULTS_LUA`).
FINAL_WRITES = LuaScript(
    "djworkers-result-final",
    SETTLE_RESULTS_LUA
    + """
settle_results(0, 1, #KEYS / 2)
return #KEYS / 2
""",
)


def flattened(writes: list[tuple[tuple, tuple]]) -> tuple[list, list]:
    """The KEYS and ARGV of :data:`SETTLE_RESULTS_LUA` for ``(keys, args)`` pairs."""
    return [key for keys, _ in writes for key in keys], [arg for _, args in writes for arg in args]


def send_final_writes(client: Any, writes: list[tuple[tuple, tuple]]) -> None:
    """Run FINAL_WRITES for ``(keys, args)`` pairs (loading the script if the server lost it)."""
    FINAL_WRITES(client, *flattened(writes))


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

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def _final_write(self, job_id: str, frame: bytes, wake: bool) -> tuple[tuple, tuple]:
        """The (keys, args) of one final record for :data:`SETTLE_RESULTS_LUA` (written out, not
        through ``_key`` and ``_ttl_ms``: a consumer calls this for every job it runs)."""
        key = f"{self.prefix}:{job_id}"
        return (key, f"{key}:done"), (bytes(frame), max(1, int(self.ttl * 1000)), 1 if wake else 0)

    def write(self, job_id: str, status: str, frame: bytes) -> None:
        if status not in FINAL:  # running, retrying: one SET, one round trip (no MULTI/EXEC to parse)
            self.client.set(self._key(job_id), bytes(frame), px=self._ttl_ms)
            return
        send_final_writes(self.client, [self._final_write(job_id, frame, wake=True)])

    def save_soon(self, record: ResultRecord) -> None:
        """A final record of a job its consumer acknowledges next: it goes out with the ack, in
        front of it, in the consumer's next round trip (the backend decides; else written now)."""
        if self.settle_with is None or record.status not in FINAL:
            self.save(record)
            return
        self._lazy.cancel(record.job_id)
        keys, args = self._final_write(record.job_id, record.seal(), record.wakes)
        if not self.settle_with(keys, args):
            send_final_writes(self.client, [(keys, args)])

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
                pipe.pexpire(done, self._ttl_ms)
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
