"""Writing results (database history + Django cache) and reading them back.

Only the runner writes. A result is serialized with the configured serializer,
wrapped in a signed frame and stored as a :class:`~.models.CachedValue` row; the
history is trimmed to ``max_saved``. The cache then receives the value *as the
serializer returns it* (``loads(dumps(value))``), so a reader gets the same
object whether it is served from the cache or from the database (with JSON a
tuple becomes a list in both cases, never in one only).

Why the cache entry is not signed: Django's cache backends (LocMem, Redis,
memcached, database) already unpickle whatever the cache holds before djworkers
sees it, so a signature on our entry could not protect anything; whoever can
write to the cache server can already run code in every process that reads it.
Database rows are signed, because there we control the deserialization and a
row planted by SQL injection must not turn into code execution.

Cache entry: ``(value, computed_at)``, ``computed_at`` a POSIX timestamp.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from typing import Any

from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

from ..exceptions import BadSignature
from ..runtime.failures import storable_text
from ..serializers.signing import sign, unsign
from .config import Config, FunctionSpec

logger = logging.getLogger("djworkers.dumbwaiter")

#: A cache entry re-primed by a reader when the next run is overdue lives this
#: fraction of the period (at least a second, at most 15 s), so readers notice a
#: recovered runner quickly without querying the database on every request.
OVERDUE_FRACTION = 0.25


@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    """One stored result, as returned by :func:`~djworkers.dumbwaiter.get_history`."""

    value: Any
    computed_at: dt.datetime
    duration: float
    size: int


@dataclasses.dataclass(frozen=True)
class ErrorEntry:
    """One stored failure, as returned by :func:`~djworkers.dumbwaiter.get_errors`."""

    exception: str
    message: str
    traceback: str
    failed_at: dt.datetime
    duration: float


def ensure_rows(names: list[str] | tuple[str, ...]) -> None:
    """Create the per-function rows that do not exist yet (idempotent, race-safe)."""
    from .models import CachedFunction

    existing = set(CachedFunction.objects.filter(name__in=names).values_list("name", flat=True))
    missing = [CachedFunction(name=n) for n in names if n not in existing]
    if missing:
        CachedFunction.objects.bulk_create(missing, ignore_conflicts=True)


def _trim(queryset, keep: int) -> None:
    """Delete all but the newest ``keep`` rows of ``queryset`` (ordered newest first)."""
    stale = list(queryset.values_list("pk", flat=True)[keep:])
    if stale:
        queryset.model.objects.filter(pk__in=stale).delete()


def record_success(config: Config, spec: FunctionSpec, value: Any, started_at: dt.datetime, duration: float) -> Any:
    """Store a result in the history and the cache; return the value as readers will see it.

    Raises ``TypeError``/``ValueError`` (from the serializer) if the value cannot
    be serialized: the runner records that as a failure of the function.
    """
    from .models import CachedFunction, CachedValue

    serializer = config.serializer()
    data = serializer.dumps(value)
    stored = serializer.loads(data)
    frame = sign(data)
    ensure_rows([spec.name])
    with transaction.atomic():
        CachedValue.objects.create(
            function_id=spec.name,
            value=frame,
            serializer=serializer.name,
            size=len(data),
            duration=duration,
            computed_at=started_at,
        )
        CachedFunction.objects.filter(name=spec.name).update(
            last_success_at=started_at, last_duration=duration, last_size=len(data)
        )
        _trim(CachedValue.objects.filter(function__name=spec.name).order_by("-computed_at", "-id"), spec.max_saved)
    cache_set(config, spec, stored, started_at.timestamp())
    return stored


def record_failure(
    spec: FunctionSpec, exc: BaseException, traceback: str, started_at: dt.datetime, duration: float
) -> None:
    """Store a failure with its traceback; the history is capped at ``max_saved``."""
    from .models import CachedError, CachedFunction

    # storable_text: PostgreSQL refuses NUL characters, which would lose the error record.
    summary = storable_text(f"{type(exc).__name__}: {exc}")
    ensure_rows([spec.name])
    with transaction.atomic():
        CachedError.objects.create(
            function_id=spec.name,
            exception=storable_text(type(exc).__qualname__, 255),
            message=storable_text(str(exc)),
            traceback=storable_text(traceback),
            duration=duration,
            failed_at=started_at,
        )
        CachedFunction.objects.filter(name=spec.name).update(last_error=summary, last_error_at=started_at)
        _trim(CachedError.objects.filter(function__name=spec.name).order_by("-failed_at", "-id"), spec.max_saved)


def cache_set(config: Config, spec: FunctionSpec, value: Any, computed_at: float) -> None:
    """Write the newest value to the cache (by the runner, after a successful run).

    The entry outlives two periods, so readers are served from the cache while
    the runner keeps up; if the runner stops, the entry expires and readers fall
    back to the database (which still has the last value).
    """
    try:
        caches[config.cache_alias].set(spec.cache_key, (value, computed_at), max(10.0, 2 * spec.frequency))
    except Exception:
        # The database has the value; readers fall back to it. Do not lose the run.
        logger.exception("Could not write %r to the cache %r", spec.name, config.cache_alias)


def reader_timeout(spec: FunctionSpec, computed_at: float, now: float) -> float:
    """How long a reader may keep a value it fetched from the database in its cache.

    Until the next run is due; if that is overdue (runner slow or stopped), a
    fraction of the period, so the next run is picked up soon.
    """
    remaining = computed_at + spec.frequency - now
    if remaining >= 1.0:
        return remaining
    return min(15.0, max(1.0, spec.frequency * OVERDUE_FRACTION))


def decode(frame: bytes, serializer_name: str, config: Config) -> Any:
    """Verify and deserialize a stored frame (raises BadSignature if it does not verify)."""
    from ..serializers import get_serializer

    data = unsign(frame)
    serializer = config.serializer()
    if serializer.name != serializer_name:
        serializer = get_serializer(serializer_name)
    return serializer.loads(data)


def newest_from_db(config: Config, spec: FunctionSpec) -> tuple[Any, float] | None:
    """``(value, computed_at timestamp)`` of the newest stored result, or None. One query."""
    from .models import CachedValue

    row = (
        CachedValue.objects.filter(function__name=spec.name)
        .order_by("-computed_at", "-id")
        .values_list("value", "serializer", "computed_at")
        .first()
    )
    if row is None:
        return None
    frame, serializer_name, computed_at = row
    try:
        value = decode(bytes(frame), serializer_name, config)
    except BadSignature:
        logger.error(
            "The stored value of %r does not verify with the signing key (was SECRET_KEY rotated "
            "without SECRET_KEY_FALLBACKS, or was the row written by someone else?); ignoring it.",
            spec.name,
        )
        return None
    return value, computed_at.timestamp()


def prime_cache(config: Config, spec: FunctionSpec, value: Any, computed_at: float) -> None:
    """Put a value read from the database into the cache, unless the runner wrote a newer one."""
    timeout = reader_timeout(spec, computed_at, time.time())
    try:
        caches[config.cache_alias].add(spec.cache_key, (value, computed_at), timeout)
    except Exception:
        logger.exception("Could not write %r to the cache %r", spec.name, config.cache_alias)


def history(config: Config, spec: FunctionSpec) -> list[HistoryEntry]:
    from .models import CachedValue

    entries = []
    for row in CachedValue.objects.filter(function__name=spec.name).order_by("-computed_at", "-id"):
        try:
            value = decode(bytes(row.value), row.serializer, config)
        except BadSignature:
            logger.error("Skipping a stored value of %r that does not verify (%s)", spec.name, row.computed_at)
            continue
        entries.append(HistoryEntry(value, row.computed_at, row.duration, row.size))
    return entries


def errors(spec: FunctionSpec) -> list[ErrorEntry]:
    from .models import CachedError

    return [
        ErrorEntry(e.exception, e.message, e.traceback, e.failed_at, e.duration)
        for e in CachedError.objects.filter(function__name=spec.name).order_by("-failed_at", "-id")
    ]


def now() -> dt.datetime:
    return timezone.now()
