"""Choosing the queue backend from ``DJWORKERS["QUEUE"]["BACKEND"]``.

Short names (``"database"``, ``"redis"``, ``"memory"``), a dotted path to a
:class:`~djworkers.queue.backends.base.QueueBackend` subclass, or one of the
old djutils paths, which map to their successors here.
"""

from __future__ import annotations

from typing import Any

from ...exceptions import DjworkersImproperlyConfigured
from ...loading import load_object
from .base import QueueBackend

SETTING = 'DJWORKERS["QUEUE"]["BACKEND"]'

#: Short name -> dotted path.
BACKENDS: dict[str, str] = {
    "database": "djworkers.queue.backends.database.DatabaseBackend",
    "redis": "djworkers.queue.backends.redis.RedisBackend",
    "memory": "djworkers.queue.backends.memory.MemoryBackend",
}

#: djutils.queue paths (as documented, typo included) -> short name.
LEGACY_BACKENDS: dict[str, str] = {
    "djutils.queue.backends.database.DatabaseQueue": "database",
    "djutils.queue.backends.database.DatabaseQeueue": "database",  # the djutils README's spelling
    "djutils.queue.backends.redis_backend.RedisQueue": "redis",
}


def resolve_backend_path(value: Any) -> Any:
    """The dotted path (or the class itself) a BACKEND setting stands for."""
    if isinstance(value, str):
        value = LEGACY_BACKENDS.get(value, value)
        if value in BACKENDS:
            return BACKENDS[value]
        if "." not in value:
            raise DjworkersImproperlyConfigured(
                f"{SETTING} = {value!r} is not a known backend; use one of "
                f"{', '.join(repr(n) for n in BACKENDS)} or a dotted path to a QueueBackend subclass."
            )
    return value


def backend_class(value: Any) -> type[QueueBackend]:
    """Import and validate the backend class named by ``value``."""
    cls = load_object(resolve_backend_path(value), SETTING)
    if not (isinstance(cls, type) and issubclass(cls, QueueBackend)):
        raise DjworkersImproperlyConfigured(
            f"{SETTING} = {value!r} is not a subclass of djworkers.queue.backends.base.QueueBackend."
        )
    return cls


__all__ = ["BACKENDS", "LEGACY_BACKENDS", "QueueBackend", "backend_class", "resolve_backend_path"]
