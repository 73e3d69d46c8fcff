"""The Redis queue's key layout and the Lua scripts that move jobs between keys.

Every state change that touches more than one key is a Lua script, so it is
atomic: a job is always in exactly one of these places, never in none.

Per queue (the ``{name}`` hash tag keeps a queue's keys in one cluster slot)::

    djworkers:queue:{name}:ready       LIST  frames at priority 0 (LPUSH in, RPOP out: FIFO)
    djworkers:queue:{name}:ready:<p>   LIST  frames at priority p (higher p is served first)
    djworkers:queue:{name}:levels      ZSET  the non-zero priorities that have a list
    djworkers:queue:{name}:scheduled   ZSET  "<tag>|<frame>" scored by due time (delayed jobs, retries)
    djworkers:queue:{name}:leases      ZSET  receipt scored by lease expiry (jobs being run)
    djworkers:queue:{name}:inflight    HASH  receipt -> frame (jobs being run)
    djworkers:queue:{name}:wake        LIST  wake-up tokens idle consumers BLPOP on

A receipt is ``<process token>.<n>`` (``/<p>`` appended for priority ``p``): unique
per delivery, so acknowledging a delivery whose lease expired and that was
handed to someone else under a new receipt is a harmless no-op. All times are
the Redis server's clock (``TIME``), so consumers on hosts with skewed clocks
agree on when a lease expires.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

KEY_PREFIX = "djworkers:queue"


@dataclasses.dataclass(frozen=True)
class QueueKeys:
    """The Redis keys of one queue (see the module docstring)."""

    ready: str
    levels: str
    scheduled: str
    leases: str
    inflight: str
    wake: str

    @classmethod
    def for_queue(cls, queue: str, prefix: str = KEY_PREFIX) -> "QueueKeys":
        base = f"{prefix}:{{{queue}}}"
        return cls(*(f"{base}:{part}" for part in (
            "ready", "levels", "scheduled", "leases", "inflight", "wake")))

    def all(self) -> tuple[str, ...]:
        """The six keys, in the order the scripts expect them."""
        return (self.ready, self.levels, self.scheduled, self.leases, self.inflight, self.wake)

    def ready_for(self, priority: int) -> str:
        return self.ready if priority == 0 else f"{self.ready}:{priority}"


class LuaScript:
    """A script run with EVALSHA, loaded on the first NOSCRIPT (e.g. after a server restart).

    Leaner than redis-py's ``register_script`` on the hot path: one
    ``execute_command`` and no per-call object juggling.
    """

    def __init__(self, name: str, body: str):
        self.name = name
        self.source = PRELUDE + body
        self.sha = hashlib.sha1(self.source.encode("utf-8")).hexdigest()

    def __call__(self, client: Any, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        try:
            return client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except _no_script_error():
            client.execute_command("SCRIPT", "LOAD", self.source)
            return client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)

    def __repr__(self) -> str:
        return f"<LuaScript {self.name} {self.sha[:8]}>"


def _no_script_error() -> type[Exception]:
    """redis-py's NOSCRIPT exception, imported only when a script call fails."""
    from redis.exceptions import NoScriptError

    return NoScriptError


#: Helpers shared by every script. ``k`` tables hold one queue's six keys.
PRELUDE = r"""
local function level_of(tag)
  return string.match(tag, '/(%-?%d+)$') or '0'
end
local function list_for(ready, level)
  if level == '0' then return ready end
  return ready .. ':' .. level
end
local function wake_up(wake)
  if redis.call('LLEN', wake) < 64 then redis.call('LPUSH', wake, '1') end
end
local function push_ready(k, level, frame, front)
  if front then
    redis.call('RPUSH', list_for(k.ready, level), frame)
  else
    redis.call('LPUSH', list_for(k.ready, level), frame)
  end
  if level ~= '0' then redis.call('ZADD', k.levels, level, level) end
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function queue_keys(i)
  local b = (i - 1) * 6
  return {ready = KEYS[b + 1], levels = KEYS[b + 2], scheduled = KEYS[b + 3],
          leases = KEYS[b + 4], inflight = KEYS[b + 5], wake = KEYS[b + 6]}
end
local function levels_desc(k, bad, q)
  -- non-zero priorities from the levels set, with '0' merged in its place. A member
  -- that is not an integer (written by something else) is skipped, never compared:
  -- one bad member must not stop the queue. With a table ``bad``, (q, member) pairs
  -- of the skipped members are appended to it for the caller to report.
  local order, zero = {}, false
  for _, level in ipairs(redis.call('ZREVRANGEBYSCORE', k.levels, '+inf', '-inf')) do
    if string.match(level, '^%-?%d+$') == nil then
      if bad then bad[#bad + 1] = q; bad[#bad + 1] = level end
    else
      if not zero and tonumber(level) < 0 then order[#order + 1] = '0'; zero = true end
      order[#order + 1] = level
    end
  end
  if not zero then order[#order + 1] = '0' end
  return order
end
local function in_chunks(list, fn)
  for i = 1, #list, 500 do fn(unpack(list, i, math.min(i + 499, #list))) end
end
-- Acknowledge receipts: KEYS from key_base are (leases, inflight) pairs, one per
-- group; ARGV from arg_base holds, per group, a count then that many receipts.
local function ack_groups(key_base, arg_base, groups)
  local a = arg_base
  for g = 1, groups do
    local n = tonumber(ARGV[a])
    local leases, inflight = KEYS[key_base + 2 * g - 1], KEYS[key_base + 2 * g]
    local receipts = {}
    for i = 1, n do receipts[i] = ARGV[a + i] end
    in_chunks(receipts, function(...)
      redis.call('ZREM', leases, ...)
      redis.call('HDEL', inflight, ...)
    end)
    a = a + n + 1
  end
end
-- Move due scheduled frames and expired leases of one queue back to ready.
-- Returns how many expired leases were handed back.
local function recover(k, now, batch)
  local due = redis.call('ZRANGEBYSCORE', k.scheduled, '-inf', now, 'LIMIT', 0, batch)
  for _, member in ipairs(due) do
    local bar = string.find(member, '|', 1, true)
    if bar then
      push_ready(k, level_of(string.sub(member, 1, bar - 1)), string.sub(member, bar + 1), false)
    else
      push_ready(k, '0', member, false)
    end
  end
  if #due > 0 then redis.call('ZREM', k.scheduled, unpack(due)) end
  local expired = redis.call('ZRANGEBYSCORE', k.leases, '-inf', now, 'LIMIT', 0, batch)
  if #expired > 0 then
    local frames = redis.call('HMGET', k.inflight, unpack(expired))
    -- to the head of the queue, the longest-expired ending up first in line
    for i = #expired, 1, -1 do
      if frames[i] then push_ready(k, level_of(expired[i]), frames[i], true) end
    end
    redis.call('ZREM', k.leases, unpack(expired))
    redis.call('HDEL', k.inflight, unpack(expired))
  end
  if #due + #expired > 0 then wake_up(k.wake) end
  return #expired
end
"""

#: Acknowledge, recover, then pop up to ``limit`` frames and lease them.
#: KEYS: six per consumer queue, then (leases, inflight) per ack group.
#: ARGV: limit, lease seconds, recover batch, lease? ('1' lease, '0' take for
#: good), receipt prefix, first receipt number, queue count, ack group count,
#: then the ack groups. Returns {ms to the next due job or lease expiry (-1:
#: none; only computed when nothing was delivered), leases recovered,
#: {(queue index, member) of each non-integer member of a levels set, skipped},
#: then (queue index, receipt, frame) per delivery}.
FETCH = LuaScript("fetch", r"""
local limit, lease, batch = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local leasing, prefix, counter = ARGV[4] == '1', ARGV[5], tonumber(ARGV[6])
local nq, ng = tonumber(ARGV[7]), tonumber(ARGV[8])
ack_groups(nq * 6, 9, ng)
local now = clock()
local bad = {}
local out = {-1, 0, bad}
local remaining = limit
for q = 1, nq do
  local k = queue_keys(q)
  out[2] = out[2] + recover(k, now, batch)
  if remaining > 0 then
    for _, level in ipairs(levels_desc(k, bad, q)) do
      if remaining <= 0 then break end
      local items = redis.call('RPOP', list_for(k.ready, level), remaining)
      local got = items and #items or 0
      if got < remaining and level ~= '0' then redis.call('ZREM', k.levels, level) end
      if got > 0 then
        if leasing then
          local expiry, fields, scores = now + lease, {}, {}
          for i = 1, got do
            local receipt = prefix .. string.format('%d', counter)
            if level ~= '0' then receipt = receipt .. '/' .. level end
            counter = counter + 1
            fields[2 * i - 1], fields[2 * i] = receipt, items[i]
            scores[2 * i - 1], scores[2 * i] = expiry, receipt
            local n = #out
            out[n + 1], out[n + 2], out[n + 3] = q, receipt, items[i]
          end
          redis.call('HSET', k.inflight, unpack(fields))
          redis.call('ZADD', k.leases, unpack(scores))
        else
          for i = 1, got do
            local n = #out
            out[n + 1], out[n + 2], out[n + 3] = q, '', items[i]
          end
        end
        remaining = remaining - got
      end
    end
    -- every level of this queue is empty now: tokens left would only cause idle wake-ups
    if remaining > 0 then redis.call('DEL', k.wake) end
  end
end
if #out == 3 then
  local soonest = nil
  for q = 1, nq do
    local k = queue_keys(q)
    for _, key in ipairs({k.scheduled, k.leases}) do
      local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      if first[2] then
        local delta = tonumber(first[2]) - now
        if soonest == nil or delta < soonest then soonest = delta end
      end
    end
  end
  if soonest ~= nil then out[1] = math.max(0, math.floor(soonest * 1000)) end
end
return out
""")

#: KEYS: (leases, inflight) per group. ARGV: per group, a count then the receipts.
ACK = LuaScript("ack", r"""
ack_groups(0, 1, #KEYS / 2)
return 1
""")

#: Append frames at one priority. KEYS: ready list of that priority, levels, wake.
#: ARGV: priority, frames...
WRITE = LuaScript("write", r"""
redis.call('LPUSH', KEYS[1], unpack(ARGV, 2))
if ARGV[1] ~= '0' then redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1]) end
wake_up(KEYS[3])
return 1
""")

#: Delay frames. KEYS: scheduled, wake. ARGV: due time, "<tag>|<frame>", ...
SCHEDULE = LuaScript("schedule", r"""
redis.call('ZADD', KEYS[1], unpack(ARGV))
wake_up(KEYS[2])
return 1
""")

#: Replace a leased frame by a delayed one. KEYS: the queue's six keys.
#: ARGV: receipt, due time, new frame. Returns 0 when the lease was already
#: lost (the old frame was handed out again, so the job is not lost either).
RETRY = LuaScript("retry", r"""
local k = queue_keys(1)
if redis.call('ZREM', k.leases, ARGV[1]) == 0 then return 0 end
redis.call('HDEL', k.inflight, ARGV[1])
redis.call('ZADD', k.scheduled, ARGV[2], 'r' .. ARGV[1] .. '|' .. ARGV[3])
wake_up(k.wake)
return 1
""")

#: Hand a leased frame back to the head of its queue. KEYS: the queue's six keys.
#: ARGV: receipt. Returns 0 when the lease was already lost.
RELEASE = LuaScript("release", r"""
local k = queue_keys(1)
if redis.call('ZREM', k.leases, ARGV[1]) == 0 then return 0 end
local frame = redis.call('HGET', k.inflight, ARGV[1])
redis.call('HDEL', k.inflight, ARGV[1])
if frame then
  push_ready(k, level_of(ARGV[1]), frame, true)
  wake_up(k.wake)
end
return 1
""")

#: Renew leases. KEYS: leases. ARGV: lease seconds, receipts... Returns how many
#: were still held (an expired one is not resurrected: it may be running elsewhere).
EXTEND = LuaScript("extend", r"""
local expiry = clock() + tonumber(ARGV[1])
local args = {}
for i = 2, #ARGV do args[#args + 1] = expiry; args[#args + 1] = ARGV[i] end
local renewed = 0
in_chunks(args, function(...) renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', ...) end)
return renewed
""")

#: {ready, scheduled, in flight} summed over the queues. KEYS: six per queue.
STATS = LuaScript("stats", r"""
local ready, scheduled, running = 0, 0, 0
for q = 1, #KEYS / 6 do
  local k = queue_keys(q)
  for _, level in ipairs(levels_desc(k)) do
    ready = ready + redis.call('LLEN', list_for(k.ready, level))
  end
  scheduled = scheduled + redis.call('ZCARD', k.scheduled)
  running = running + redis.call('ZCARD', k.leases)
end
return {ready, scheduled, running}
""")

#: Delete every job of the queues. KEYS: six per queue.
FLUSH = LuaScript("flush", r"""
for q = 1, #KEYS / 6 do
  local k = queue_keys(q)
  for _, level in ipairs(levels_desc(k)) do redis.call('DEL', list_for(k.ready, level)) end
  redis.call('DEL', k.levels, k.scheduled, k.leases, k.inflight, k.wake)
end
return 1
""")

SCRIPTS = (FETCH, ACK, WRITE, SCHEDULE, RETRY, RELEASE, EXTEND, STATS, FLUSH)
