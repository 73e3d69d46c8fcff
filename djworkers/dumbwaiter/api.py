"""The read side: what views call. Never computes anything.

:func:`get_value` is meant for every request, so its warm path is one
``cache.get`` plus a dict lookup: the parsed configuration is memoized per
settings change (:func:`.config.current`), and the cache backend object is kept
per thread (Django's ``caches[alias]`` costs about as much as the lookup itself
on LocMem). It reaches the database only when the cache has no entry, and then
puts the value back into the cache.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache import caches
from django.core.signals import setting_changed
from django.dispatch import receiver

from .. import conf
from . import storage
from .config import Config, FunctionSpec, current
from .exceptions import NotComputedYet

logger = logging.getLogger("djworkers.dumbwaiter")

_MISSING: Any = object()
_local = threading.local()


def _reader() -> tuple[Config, Any]:
    """The parsed configuration and this thread's cache backend, memoized per thread.

    Keyed on the identity of the merged settings, which :mod:`djworkers.conf`
    rebuilds on every settings change; ``caches[alias]`` (an asgiref ``Local``
    lookup costing about as much as the rest of ``get_value``) is done once per
    thread instead of once per call.
    """
    merged = conf.all_settings()
    held = getattr(_local, "held", None)
    if held is None or held[0] is not merged:
        held = _hold(merged)
    return held[1], held[2]


def _hold(merged: dict[str, Any]) -> tuple[dict[str, Any], Config, Any]:
    config = current()
    held = (merged, config, caches[config.cache_alias])
    _local.held = held
    return held


@receiver(setting_changed)
def _forget_cache(setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        # Django builds new backends; make every thread pick them up (``config``
        # identity alone would not change).
        global _local
        _local = threading.local()


def _cache_down(config: Config, name: str) -> None:
    logger.warning("Cache %r unavailable; reading %r from the database", config.cache_alias, name, exc_info=True)


def _newest(config: Config, backend: Any, spec: FunctionSpec) -> tuple[Any, float] | None:
    """``(value, computed_at)`` from the cache, else from the database (then put back into the
    cache), else None. A cache server that is down is logged and read around, never raised:
    the database still knows."""
    try:
        entry = backend.get(spec.cache_key)
    except Exception:
        _cache_down(config, spec.name)
        entry = None
    if entry is not None:
        return entry
    return _newest_from_db(config, spec)


def _newest_from_db(config: Config, spec: FunctionSpec) -> tuple[Any, float] | None:
    found = storage.newest_from_db(config, spec)
    if found is not None:
        storage.prime_cache(config, spec, *found)
    return found


def get_value(name: str, default: Any = _MISSING) -> Any:
    """The newest value computed for ``name``.

    Served from Django's cache (``DJWORKERS["DUMBWAITER"]["CACHE_ALIAS"]``); on a
    miss, read from the database and put back into the cache. Never runs the
    function. Raises :class:`~.exceptions.UnknownFunction` (a ``LookupError``)
    if ``name`` is not configured, and :class:`~.exceptions.NotComputedYet` (also
    a ``LookupError``) if it has no value yet and no ``default`` was given.
    """
    # _reader() inlined: this is the hot path.
    merged = conf.all_settings()
    held = getattr(_local, "held", None)
    if held is None or held[0] is not merged:
        held = _hold(merged)
    config = held[1]
    spec = config.get(name)  # raises UnknownFunction naming the configured functions
    found = _newest(config, held[2], spec)
    if found is None:
        if default is _MISSING:
            raise NotComputedYet(name)
        return default
    return found[0]


async def aget_value(name: str, default: Any = _MISSING) -> Any:
    """:func:`get_value` for async views: the cache is read with ``aget``, the database fallback in a thread."""
    from asgiref.sync import sync_to_async

    config, backend = _reader()
    spec = config.get(name)
    try:
        entry = await backend.aget(spec.cache_key)
    except Exception:
        _cache_down(config, name)
        entry = None
    if entry is None:
        entry = await sync_to_async(_newest_from_db)(config, spec)
    if entry is None:
        if default is _MISSING:
            raise NotComputedYet(name)
        return default
    return entry[0]


def get_age(name: str) -> float | None:
    """Seconds since the newest stored value was computed, or None if there is none."""
    config, backend = _reader()
    found = _newest(config, backend, config.get(name))
    return None if found is None else max(0.0, time.time() - found[1])


def get_history(name: str) -> list[storage.HistoryEntry]:
    """Stored results of ``name``, newest first (at most ``max_saved``). Reads the database."""
    config = current()
    return storage.history(config, config.get(name))


def get_errors(name: str) -> list[storage.ErrorEntry]:
    """Stored failures of ``name`` with their tracebacks, newest first (at most ``max_saved``)."""
    return storage.errors(current().get(name))


def status() -> list[dict[str, Any]]:
    """Freshness of every configured function, for ``djworkers_status`` and dashboards.

    One dict per function, in settings order: ``name``, ``frequency``, ``age``
    (seconds since the last success, None if never), ``stale`` (never computed,
    or older than two periods), ``last_error`` (``"Type: message"`` or ""),
    ``last_error_at`` (datetime or None), ``running_on`` (host:pid computing it
    now, or ""). One database query.
    """
    from django.utils import timezone

    from .models import CachedFunction

    config = current()
    rows = {row.name: row for row in CachedFunction.objects.filter(name__in=list(config.functions))}
    now = timezone.now()
    result = []
    for spec in config.functions.values():
        row = rows.get(spec.name)
        success = row.last_success_at if row else None
        age = max(0.0, (now - success).total_seconds()) if success else None
        running = row is not None and row.running_until is not None and row.running_until >= now
        result.append(
            {
                "name": spec.name,
                "frequency": spec.frequency,
                "age": age,
                "stale": age is None or age > 2 * spec.frequency,
                "last_error": row.last_error if row else "",
                "last_error_at": row.last_error_at if row else None,
                "running_on": row.running_on if row is not None and running else "",
            }
        )
    return result


def request_refresh(name: str) -> None:
    """Ask the runners to compute ``name`` on their next tick (the admin's "refresh now", D8).

    Never computes here: a web request must not run a slow function. A runner
    (``run_dumbwaiter``) that serves ``name`` sees the request within about a
    second (:data:`~.runner.MAX_SLEEP`), takes it (one runner only) and computes
    the function under its run lease, like a scheduled run; if a run is in
    progress, the request waits for it to finish and then runs. Raises
    :class:`~.exceptions.UnknownFunction` for a name that is not configured.
    """
    from .models import CachedFunction

    current().get(name)  # UnknownFunction names the configured functions
    storage.ensure_rows([name])
    CachedFunction.objects.filter(name=name).update(refresh_requested_at=storage.now())


def refresh(name: str) -> bool:
    """Compute ``name`` now in this process (``run_dumbwaiter --once``, scripts); True if it
    succeeded. The admin uses :func:`request_refresh` instead, which leaves it to a runner.

    Goes through the runner (executor, storage, run lease); raises
    :class:`~.exceptions.AlreadyRunning` if a runner is computing it right now.
    """
    from ..runtime.executor import Outcome
    from .runner import Runner

    runner = Runner(current(), names=[name])
    try:
        return runner.refresh(name) is Outcome.SUCCEEDED
    finally:
        runner.coordinator.close()
