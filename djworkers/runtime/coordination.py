"""Making periodic work happen once per tick across processes and hosts.

:func:`claim_tick` is the single primitive: a runner that wants to do periodic
work ``name`` for the time slot ``tick`` (an integer, e.g. ``int(now // period)``)
claims it; exactly one claimer wins. A runner that dies simply does not claim
the next tick, and another runner takes it, so there is no lock to go stale.
The database (any Django database) is the default; Redis can be used with
``SET NX``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from django.db import IntegrityError, transaction

from .process import current_pid

#: Claims older than this many ticks are deleted when a new one is taken.
KEEP_TICKS = 100


#: ``host:pid`` of this process, named on first use; a forked child forgets its parent's.
_owner: str | None = None


def owner_id() -> str:
    """``host:pid`` of this process. Kept for the process's life (a fork handler drops it in a
    child): ``gethostname()`` cost ~12 us, paid by every job that stores its result (the
    executor names the worker in the record)."""
    global _owner
    if _owner is None:
        _owner = f"{socket.gethostname()}:{current_pid()}"
    return _owner


def _forget_owner() -> None:
    global _owner
    _owner = None


os.register_at_fork(after_in_child=_forget_owner)


def claim_tick(name: str, tick: int, *, redis: Any = None, ttl: float = 3600) -> bool:
    """Return True if this process won ``(name, tick)``.

    ``redis``: a redis-py client to coordinate through instead of the database.
    """
    if redis is not None:
        return bool(redis.set(f"djworkers:tick:{name}:{tick}", owner_id(), nx=True, ex=max(1, int(ttl))))
    from ..models import TickClaim

    try:
        with transaction.atomic():
            TickClaim.objects.create(name=name, tick=tick, owner=owner_id())
    except IntegrityError:
        return False
    TickClaim.objects.filter(name=name, tick__lt=tick - KEEP_TICKS).delete()
    return True


def release_tick(name: str, tick: int, *, redis: Any = None) -> None:
    """Give up a tick this process claimed, so another runner (or the next pass) may take it.

    Used when the work the claim guarded could not be done (the enqueue failed):
    without it, that tick's run would be lost for every runner.
    """
    if redis is not None:
        key = f"djworkers:tick:{name}:{tick}"
        if redis.get(key) == owner_id().encode():
            redis.delete(key)
        return
    from ..models import TickClaim

    TickClaim.objects.filter(name=name, tick=tick, owner=owner_id()).delete()
