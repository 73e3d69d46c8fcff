"""Cross-process coordination: who computes which function, and when.

Two mechanisms, because they answer two questions:

* **Once per period** — :func:`djworkers.runtime.coordination.claim_tick` with the tick
  ``int(now // frequency)``: of all runner processes (on any host) reaching the
  same period, exactly one wins it. A runner that dies simply does not claim the
  next tick, so a survivor computes the next period: nothing goes stale.
* **Never twice at once** — a *run lease*: a function that overruns its period
  (a 3 s function every second) must not be started by another process for the
  next tick while it still runs. The winner of a tick also takes the function's
  lease (``running_until`` on its :class:`~.models.CachedFunction` row, or a
  Redis key with a TTL), extends it while the function runs and releases it at
  the end. A runner killed mid-run leaves a lease that expires after
  :func:`lease_seconds`, after which the others carry on.

``DJWORKERS["DUMBWAITER"]["LOCK"]`` picks the database (default, any Django
database) or Redis (``CONNECTION`` = a Redis URL).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ..conf import new_name
from ..redis_client import LuaScript, get_client
from ..runtime.coordination import claim_tick, owner_id
from .config import Config

#: Shortest lease; the lease keeper extends leases every third of their length.
MIN_LEASE = 3.0
MAX_LEASE = 60.0


def lease_seconds(frequency: float) -> float:
    """One period, within [3 s, 60 s]: a dead runner's function resumes within about a period."""
    return min(MAX_LEASE, max(MIN_LEASE, frequency))


def tick_name(function_name: str) -> str:
    return f"dumbwaiter:{function_name}"


class Coordinator:
    """Tick claims and run leases for one runner process."""

    def __init__(self, owner: str | None = None):
        self.owner = owner or owner_id()

    def claim(self, name: str, tick: int, period: float = 0.0) -> bool:
        """True if this process won period ``tick`` (of ``period`` seconds) of function ``name``."""
        raise NotImplementedError

    def acquire(self, name: str, seconds: float) -> bool:
        """Take the run lease for ``seconds``; False if another runner holds a live one."""
        raise NotImplementedError

    def extend(self, name: str, seconds: float) -> bool:
        """Push our lease ``seconds`` into the future; False if we no longer hold it."""
        raise NotImplementedError

    def release(self, name: str) -> None:
        """Drop our lease (no-op if we do not hold it)."""
        raise NotImplementedError

    def holder(self, name: str) -> str | None:
        """Who holds a live lease on ``name`` (for messages), or None."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class DatabaseCoordinator(Coordinator):
    """Claims are unique rows (TickClaim); the lease is a conditional UPDATE of one row."""

    def claim(self, name: str, tick: int, period: float = 0.0) -> bool:
        return claim_tick(tick_name(name), tick)

    def acquire(self, name: str, seconds: float) -> bool:
        from .models import CachedFunction
        from .storage import ensure_rows

        ensure_rows([name])
        now = timezone.now()
        # One atomic UPDATE: of two runners racing, the database lets exactly one match.
        return bool(
            CachedFunction.objects.filter(name=name)
            .filter(Q(running_until__isnull=True) | Q(running_until__lt=now) | Q(running_on=self.owner))
            .update(running_until=now + dt.timedelta(seconds=seconds), running_on=self.owner)
        )

    def extend(self, name: str, seconds: float) -> bool:
        from .models import CachedFunction

        return bool(
            CachedFunction.objects.filter(name=name, running_on=self.owner).update(
                running_until=timezone.now() + dt.timedelta(seconds=seconds)
            )
        )

    def release(self, name: str) -> None:
        from .models import CachedFunction

        CachedFunction.objects.filter(name=name, running_on=self.owner).update(running_until=None, running_on="")

    def holder(self, name: str) -> str | None:
        from .models import CachedFunction

        row = (
            CachedFunction.objects.filter(name=name, running_until__gte=timezone.now())
            .values_list("running_on", flat=True)
            .first()
        )
        return row or None


# Compare-and-act scripts: only the owner may extend or delete its lease. Extending a
# lease that expired but that nobody else took re-takes it (as the database does).
_EXTEND = LuaScript(
    "dumbwaiter-extend",
    """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not holder then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
""",
)
_RELEASE = LuaScript(
    "dumbwaiter-release",
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
)


class RedisCoordinator(Coordinator):
    """Claims are ``SET NX`` keys (via claim_tick); the lease is a key with a TTL.

    The client is the process's shared one for this connection (:mod:`djworkers.redis_client`),
    with the same timeouts and reconnect policy as the queue's.
    """

    def __init__(self, url: str, owner: str | None = None):
        super().__init__(owner)
        self.client = get_client(url or None, setting=new_name("DUMBWAITER", "CONNECTION"))

    def _key(self, name: str) -> str:
        return f"djworkers:dumbwaiter:running:{name}"

    def claim(self, name: str, tick: int, period: float = 0.0) -> bool:
        # The claim key must outlive its period, or a runner started late in a
        # long period could claim it a second time.
        return claim_tick(tick_name(name), tick, redis=self.client, ttl=max(3600.0, 2 * period))

    def acquire(self, name: str, seconds: float) -> bool:
        return bool(_EXTEND(self.client, [self._key(name)], [self.owner, int(seconds * 1000)]))

    def extend(self, name: str, seconds: float) -> bool:
        return bool(_EXTEND(self.client, [self._key(name)], [self.owner, int(seconds * 1000)]))

    def release(self, name: str) -> None:
        _RELEASE(self.client, [self._key(name)], [self.owner])

    def holder(self, name: str) -> str | None:
        value: Any = self.client.get(self._key(name))
        return value.decode() if value else None

    def close(self) -> None:
        # The client (and its pool) is shared with the rest of the process: only idle sockets go.
        self.client.connection_pool.disconnect(inuse_connections=False)


def coordinator_for(config: Config, owner: str | None = None) -> Coordinator:
    if config.lock == "redis":
        return RedisCoordinator(config.connection or "", owner)
    return DatabaseCoordinator(owner)
