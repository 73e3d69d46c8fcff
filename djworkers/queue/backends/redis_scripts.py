"""The Redis queue's key layout and the Lua scripts that move jobs between keys.

Every state change that touches more than one key is a Lua script, so it is
atomic: a job is always in exactly one of these places, never in none.

Per queue (the ``{name}`` hash tag keeps a queue's keys in one cluster slot)::

    djworkers:queue:{name}:ready       LIST  frames at priority 0 (LPUSH in, RPOP out: FIFO)
    djworkers:queue:{name}:ready:<p>   LIST  frames at priority p (higher p is served first)
    djworkers:queue:{name}:levels      ZSET  the non-zero priorities that have a list
    djworkers:queue:{name}:scheduled   ZSET  "<tag>|<frame>" scored by due time (delayed jobs, retries)
    djworkers:queue:{name}:leases      ZSET  receipt scored by lease expiry, whole ms (jobs being run)
    djworkers:queue:{name}:inflight    HASH  receipt -> frame (jobs being run)
    djworkers:queue:{name}:wake        LIST  wake-up tokens idle consumers BLPOP on
    djworkers:queue:{name}:queued      HASH  id -> "" (ready) or its scheduled member (delayed),
                                             for jobs written by id and not started (Q14)
    djworkers:queue:{name}:cancelled   SET   ids cancelled while in a ready list; fetch drops them
    djworkers:queue:{name}:unique      HASH  unique key -> id of the job last queued under it

Jobs written by id (``write_jobs``: every front-door enqueue) wait as
``#<job id>|<frame>``; fetch strips the prefix, so consumers only ever see the
frame, and removes the id from ``queued``: from then on the job has started and
can no longer be cancelled. Cancelling (one script, no list scan) removes a
delayed job from the scheduled set outright; a ready job's id moves to
``cancelled`` and the fetch that meets its frame drops it (``stats`` does not
count it). Frames written with plain ``write`` (replays, retries, leases handed
back) carry no id and cannot be cancelled.

A frame whose lease expired goes back to ready tagged ``\xff<n>|`` (``n``:
deliveries lost so far, for ``MAX_DELIVERIES``); :meth:`RedisBackend._fetch`
strips the tag. A receipt is ``<process token>.<n>`` (``/<p>`` appended for priority ``p``): unique
per delivery, so acknowledging a delivery whose lease expired and that was
handed to someone else under a new receipt is a harmless no-op. All times are
the Redis server's clock (``TIME``), so consumers on hosts with skewed clocks
agree on when a lease expires.

Lease expiries are whole milliseconds, written as integers: Redis formats a fractional
score with ``printf("%.17g")`` on every ZADD into a small sorted set and Lua formats a
number with ``"%.14g"`` when it passes one to Redis, and those conversions were an
eighth of a fetch's server time. (Releases before this scored leases in seconds: a
lease taken by one of them looks long expired to this code and is handed out again,
which at-least-once delivery allows; leases taken by this code never expire for them.)
"""

from __future__ import annotations

import dataclasses
import re

from ...redis_client import LuaScript
from ...results.redis import SETTLE_RESULTS_LUA

KEY_PREFIX = "djworkers:queue"
#: Keys per queue that the scripts take (``QueueKeys.all()``).
KEYS_PER_QUEUE = 9


@dataclasses.dataclass(frozen=True)
class QueueKeys:
    """The Redis keys of one queue (see the module docstring)."""

    ready: str
    levels: str
    scheduled: str
    leases: str
    inflight: str
    wake: str
    queued: str
    cancelled: str
    unique: str

    @classmethod
    def for_queue(cls, queue: str, prefix: str = KEY_PREFIX) -> QueueKeys:
        base = f"{prefix}:{{{queue}}}"
        return cls(
            *(
                f"{base}:{part}"
                for part in (
                    "ready",
                    "levels",
                    "scheduled",
                    "leases",
                    "inflight",
                    "wake",
                    "queued",
                    "cancelled",
                    "unique",
                )
            )
        )

    def all(self) -> tuple[str, ...]:
        """The nine keys (:data:`KEYS_PER_QUEUE`), in the order the scripts expect them."""
        return (
            self.ready,
            self.levels,
            self.scheduled,
            self.leases,
            self.inflight,
            self.wake,
            self.queued,
            self.cancelled,
            self.unique,
        )

    def ready_for(self, priority: int) -> str:
        return self.ready if priority == 0 else f"{self.ready}:{priority}"


#: Helpers the scripts share, each ``(name, Lua source)``, a helper after those it calls;
#: ``k`` tables hold one queue's nine keys. A script carries only the helpers it uses
#: (:func:`_script`): Redis runs a script's whole body on every call, so each helper it
#: carries costs a closure per call, used or not.
HELPERS: tuple[tuple[str, str], ...] = (
    (
        "STRIDE",
        r"""
local STRIDE = 9
""",
    ),
    (
        "in_chunks",
        r"""
local function in_chunks(list, fn)
  for i = 1, #list, 500 do fn(unpack(list, i, math.min(i + 499, #list))) end
end
""",
    ),
    (
        "level_of",
        r"""
local function level_of(tag)
  return string.match(tag, '/(%-?%d+)$') or '0'
end
""",
    ),
    (
        "list_for",
        r"""
local function list_for(ready, level)
  if level == '0' then return ready end
  return ready .. ':' .. level
end
""",
    ),
    (
        "wake_up",
        r"""
local function wake_up(wake)
  if redis.call('LLEN', wake) < 64 then redis.call('LPUSH', wake, '1') end
end
""",
    ),
    (
        "push_ready",
        r"""
local function push_ready(k, level, frame, front)
  if front then
    redis.call('RPUSH', list_for(k.ready, level), frame)
  else
    redis.call('LPUSH', list_for(k.ready, level), frame)
  end
  if level ~= '0' then redis.call('ZADD', k.levels, level, level) end
end
""",
    ),
    (
        "clock",
        r"""
-- The server's time: seconds, the same as text, whole milliseconds, the same as text.
-- Texts are built with '%d' so that no float is formatted (see the module docstring).
local function clock()
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  local ms = s * 1000 + math.floor(us / 1000)
  return s + us / 1000000, string.format('%d.%06d', s, us), ms, string.format('%d', ms)
end
""",
    ),
    (
        "queue_keys",
        r"""
local function queue_keys(i)
  local b = (i - 1) * STRIDE
  return {ready = KEYS[b + 1], levels = KEYS[b + 2], scheduled = KEYS[b + 3],
          leases = KEYS[b + 4], inflight = KEYS[b + 5], wake = KEYS[b + 6],
          queued = KEYS[b + 7], cancelled = KEYS[b + 8], unique = KEYS[b + 9]}
end
""",
    ),
    (
        "started",
        r"""
-- Strip the "#<id>|" prefix of frames written by id: the id leaves 'queued' (the job
-- has started), and a frame whose id was cancelled is dropped. Returns the frames.
local function started(k, items)
  local frames = {}
  local check = redis.call('SCARD', k.cancelled) > 0
  for i = 1, #items do
    local item = items[i]
    -- '#': written by id (a signed frame starts with "DJW1"). Only an id this queue
    -- tracks (or cancelled) makes it ours: a foreign frame that merely starts with '#'
    -- and holds a '|' goes to the consumer whole, to be quarantined as it was pushed.
    local bar = string.byte(item, 1) == 35 and string.find(item, '|', 2, true)
    if bar then
      local id = string.sub(item, 2, bar - 1)
      if check and redis.call('SREM', k.cancelled, id) == 1 then
        item = nil
      elseif redis.call('HDEL', k.queued, id) == 1 then
        item = string.sub(item, bar + 1)
      end
    end
    if item then frames[#frames + 1] = item end
  end
  return frames
end
""",
    ),
    (
        "levels_desc",
        r"""
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
""",
    ),
    (
        "ack_groups",
        r"""
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
""",
    ),
    ("settle_results", SETTLE_RESULTS_LUA),
    (
        "redelivered",
        r"""
-- A frame whose lease ran out goes back tagged "\255<n>|" where n counts such lost
-- deliveries (MAX_DELIVERIES, Q16); the client strips the tag. A retry's new frame is untagged.
local function redelivered(frame)
  if string.byte(frame, 1) == 255 then
    -- a foreign frame may start with \255 too: only "\255<digits>|" is a tag
    local bar = string.find(frame, '|', 2, true)
    local lost = bar and string.match(string.sub(frame, 2, bar - 1), '^%d+$')
    if lost then return '\255' .. (tonumber(lost) + 1) .. '|' .. string.sub(frame, bar + 1) end
  end
  return '\255' .. '1|' .. frame
end
""",
    ),
    (
        "recover",
        r"""
-- Move due scheduled frames and expired leases of one queue back to ready: now_text
-- and now_ms are clock()'s second and fourth answers, batch the most of each to move,
-- all texts (a Lua number passed to Redis is formatted with printf). Returns how many
-- expired leases were handed back.
local function recover(k, now_text, now_ms, batch)
  local due = redis.call('ZRANGEBYSCORE', k.scheduled, '-inf', now_text, 'LIMIT', '0', batch)
  for _, member in ipairs(due) do
    local bar = string.find(member, '|', 1, true)
    if bar then
      push_ready(k, level_of(string.sub(member, 1, bar - 1)), string.sub(member, bar + 1), false)
    else
      push_ready(k, '0', member, false)
    end
  end
  if #due > 0 then redis.call('ZREM', k.scheduled, unpack(due)) end
  local expired = redis.call('ZRANGEBYSCORE', k.leases, '-inf', now_ms, 'LIMIT', '0', batch)
  if #expired > 0 then
    local frames = redis.call('HMGET', k.inflight, unpack(expired))
    -- to the head of the queue, the longest-expired ending up first in line
    for i = #expired, 1, -1 do
      if frames[i] then push_ready(k, level_of(expired[i]), redelivered(frames[i]), true) end
    end
    redis.call('ZREM', k.leases, unpack(expired))
    redis.call('HDEL', k.inflight, unpack(expired))
  end
  if #due + #expired > 0 then wake_up(k.wake) end
  return #expired
end
""",
    ),
)


def _script(name: str, body: str) -> LuaScript:
    """A queue script: ``body`` behind the helpers of :data:`HELPERS` it uses, directly or
    through another helper (found by name), in their declared order."""
    used: set[str] = set()
    text = body
    for helper, source in reversed(HELPERS):  # a helper only calls those declared before it
        if re.search(rf"\b{helper}\b", text):
            used.add(helper)
            text += source
    return LuaScript(name, "".join(source for helper, source in HELPERS if helper in used) + body)


#: Acknowledge, recover, then pop up to ``limit`` frames and lease them.
#: Final result records of jobs acknowledged here are written first (``settle_results``).
#: KEYS: nine per consumer queue, then (record, done list) per result, then (leases,
#: inflight) per ack group. ARGV: limit, lease seconds, recover batch, lease? ('1' lease,
#: '0' take for good), receipt prefix, first receipt number, queue count, ack group count,
#: result count, then (frame, ttl ms, wake) per result, then the ack groups. Returns {ms to
#: the next due job or lease expiry (-1: none; only computed when nothing was delivered),
#: leases recovered, {(queue index, member) of each non-integer member of a levels set,
#: skipped}, then (queue index, receipt, frame) per delivery}.
FETCH = _script(
    "fetch",
    r"""
local limit, lease, batch = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local leasing, prefix, counter = ARGV[4] == '1', ARGV[5], tonumber(ARGV[6])
local nq, ng, nr = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
-- the results first: a script stopped by an error keeps what it did, so never an ack alone
settle_results(nq * STRIDE, 10, nr)
ack_groups(nq * STRIDE + 2 * nr, 10 + 3 * nr, ng)
local now, now_text, ms, now_ms = clock()
local bad = {}
local out = {-1, 0, bad}
local remaining = limit
for q = 1, nq do
  local k = queue_keys(q)
  out[2] = out[2] + recover(k, now_text, now_ms, ARGV[3])
  if remaining > 0 then
    for _, level in ipairs(levels_desc(k, bad, q)) do
      if remaining <= 0 then break end
      -- the count as text: ARGV[1] for the first list, which is all most fetches read
      local count = remaining == limit and ARGV[1] or string.format('%d', remaining)
      local items = redis.call('RPOP', list_for(k.ready, level), count)
      local popped = items and #items or 0
      if popped < remaining and level ~= '0' then redis.call('ZREM', k.levels, level) end
      if popped > 0 then items = started(k, items) end
      local got = popped > 0 and #items or 0
      if got > 0 then
        if leasing then
          local expiry, fields, scores = string.format('%d', ms + math.floor(lease * 1000 + 0.5)), {}, {}
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
      end
      remaining = remaining - popped
    end
    -- every level of this queue is empty now: tokens left would only cause idle wake-ups
    if remaining > 0 then redis.call('DEL', k.wake) end
  end
end
if #out == 3 then
  local soonest = nil
  for q = 1, nq do
    local k = queue_keys(q)
    -- scheduled jobs are scored in seconds, leases in milliseconds
    for key, unit in pairs({[k.scheduled] = 1, [k.leases] = 1000}) do
      local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      if first[2] then
        local delta = tonumber(first[2]) / unit - now
        if soonest == nil or delta < soonest then soonest = delta end
      end
    end
  end
  if soonest ~= nil then out[1] = math.max(0, math.floor(soonest * 1000)) end
end
return out
""",
)

#: Write final result records, then acknowledge. KEYS: (record, done list) per result, then
#: (leases, inflight) per ack group. ARGV: result count, (frame, ttl ms, wake) per result, then
#: per group a count and its receipts.
ACK = _script(
    "ack",
    r"""
local nr = tonumber(ARGV[1])
settle_results(0, 2, nr)
ack_groups(2 * nr, 2 + 3 * nr, (#KEYS - 2 * nr) / 2)
return 1
""",
)

#: Append frames at one priority. KEYS: ready list of that priority, levels, wake.
#: ARGV: priority, frames...
WRITE = _script(
    "write",
    r"""
redis.call('LPUSH', KEYS[1], unpack(ARGV, 2))
if ARGV[1] ~= '0' then redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1]) end
wake_up(KEYS[3])
return 1
""",
)

#: Delay frames. KEYS: scheduled, wake. ARGV: due time, "<tag>|<frame>", ...
SCHEDULE = _script(
    "schedule",
    r"""
redis.call('ZADD', KEYS[1], unpack(ARGV))
wake_up(KEYS[2])
return 1
""",
)

#: Replace a leased frame by a delayed one. KEYS: the queue's nine keys.
#: ARGV: receipt, due time, new frame. Returns 0 when the lease was already
#: lost (the old frame was handed out again, so the job is not lost either).
RETRY = _script(
    "retry",
    r"""
local k = queue_keys(1)
if redis.call('ZREM', k.leases, ARGV[1]) == 0 then return 0 end
redis.call('HDEL', k.inflight, ARGV[1])
redis.call('ZADD', k.scheduled, ARGV[2], 'r' .. ARGV[1] .. '|' .. ARGV[3])
wake_up(k.wake)
return 1
""",
)

#: Hand a leased frame back to the head of its queue. KEYS: the queue's nine keys.
#: ARGV: receipt. Returns 0 when the lease was already lost.
RELEASE = _script(
    "release",
    r"""
local k = queue_keys(1)
if redis.call('ZREM', k.leases, ARGV[1]) == 0 then return 0 end
local frame = redis.call('HGET', k.inflight, ARGV[1])
redis.call('HDEL', k.inflight, ARGV[1])
if frame then
  push_ready(k, level_of(ARGV[1]), frame, true)
  wake_up(k.wake)
end
return 1
""",
)

#: Renew leases. KEYS: leases. ARGV: lease seconds, receipts... Returns how many
#: were still held (an expired one is not resurrected: it may be running elsewhere).
#: Held ones are counted, not changed ones: a renewal in the millisecond the lease was
#: taken leaves its score as it was.
EXTEND = _script(
    "extend",
    r"""
local _, _, ms = clock()
local expiry = string.format('%d', ms + math.floor(tonumber(ARGV[1]) * 1000 + 0.5))
local args, renewed = {}, 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    args[#args + 1] = expiry; args[#args + 1] = ARGV[i]
    renewed = renewed + 1
  end
end
in_chunks(args, function(...) redis.call('ZADD', KEYS[1], 'XX', ...) end)
return renewed
""",
)

#: {ready, scheduled, in flight} summed over the queues. KEYS: nine per queue. Frames of
#: cancelled jobs still in a ready list are not counted.
STATS = _script(
    "stats",
    r"""
local ready, scheduled, running = 0, 0, 0
for q = 1, #KEYS / STRIDE do
  local k = queue_keys(q)
  for _, level in ipairs(levels_desc(k)) do
    ready = ready + redis.call('LLEN', list_for(k.ready, level))
  end
  ready = ready - redis.call('SCARD', k.cancelled)
  scheduled = scheduled + redis.call('ZCARD', k.scheduled)
  running = running + redis.call('ZCARD', k.leases)
end
return {ready, scheduled, running}
""",
)

#: Delete every job of the queues. KEYS: nine per queue.
FLUSH = _script(
    "flush",
    r"""
for q = 1, #KEYS / STRIDE do
  local k = queue_keys(q)
  for _, level in ipairs(levels_desc(k)) do redis.call('DEL', list_for(k.ready, level)) end
  redis.call('DEL', k.levels, k.scheduled, k.leases, k.inflight, k.wake, k.queued, k.cancelled,
             k.unique)
end
return 1
""",
)

#: Write jobs by id (Q14). KEYS: the queue's nine keys. ARGV: priority, due time ('' for
#: ready now), then per job: id, unique key ('' for none), member ("#<id>|<frame>", behind
#: its "<tag>|" when delayed). A job whose unique key belongs to a job still queued is not
#: written. Returns, per job, the id now queued for it (its own or the twin's).
WRITE_JOBS = _script(
    "write_jobs",
    r"""
local k = queue_keys(1)
local level, due = ARGV[1], ARGV[2]
local out, ids, members = {}, {}, {}
for i = 3, #ARGV, 3 do
  local id, key, member = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local twin = nil
  if key ~= '' then
    local other = redis.call('HGET', k.unique, key)
    if other and redis.call('HEXISTS', k.queued, other) == 1 then
      twin = other
    else
      redis.call('HSET', k.unique, key, id)
    end
  end
  if twin then
    out[#out + 1] = twin
  else
    out[#out + 1] = id
    ids[#ids + 1] = id
    if due == '' then
      members[#members + 1] = member
      ids[#ids + 1] = ''
    else
      members[#members + 1] = due
      members[#members + 1] = member
      ids[#ids + 1] = member
    end
    -- a later job of this batch with the same key must see this one as queued
    if key ~= '' then redis.call('HSET', k.queued, id, ids[#ids]) end
  end
end
in_chunks(ids, function(...) redis.call('HSET', k.queued, ...) end)
if #members > 0 then
  if due == '' then
    in_chunks(members, function(...) redis.call('LPUSH', list_for(k.ready, level), ...) end)
    if level ~= '0' then redis.call('ZADD', k.levels, level, level) end
  else
    -- (score, member) pairs: chunks of 500 keep pairs together
    in_chunks(members, function(...) redis.call('ZADD', k.scheduled, ...) end)
  end
  wake_up(k.wake)
end
return out
""",
)

#: Write one job by id, due now and without a unique key: what most enqueues are, so it
#: gets a script of its own, leaner than ``WRITE_JOBS`` (four keys, no loop). KEYS: the
#: ready list of its priority, levels, wake, queued. ARGV: priority, id, "#<id>|<frame>".
WRITE_JOB = _script(
    "write_job",
    r"""
redis.call('LPUSH', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[2], '')
if ARGV[1] ~= '0' then redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1]) end
wake_up(KEYS[3])
return 1
""",
)

#: Cancel a job that has not started. KEYS: queued, cancelled, scheduled of one queue.
#: ARGV: job id. Returns 1 if the job was queued or delayed (it is now cancelled), else 0
#: (running, retrying, done, unknown). A delayed job leaves the scheduled set at once; a
#: ready one (or a delayed one that fell due) is dropped by the fetch that meets it.
CANCEL = _script(
    "cancel",
    r"""
local member = redis.call('HGET', KEYS[1], ARGV[1])
if not member then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if member == '' or redis.call('ZREM', KEYS[3], member) == 0 then
  redis.call('SADD', KEYS[2], ARGV[1])
end
return 1
""",
)

SCRIPTS = (FETCH, ACK, WRITE, SCHEDULE, RETRY, RELEASE, EXTEND, STATS, FLUSH, WRITE_JOBS, WRITE_JOB, CANCEL)
