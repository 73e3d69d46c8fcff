"""System checks for ``TASKS`` entries that name a djworkers backend (ids ``djworkers.E7xx``).

Read from ``settings.TASKS`` directly, so they run on Django 5.2 too, where
nothing else looks at that setting without the backport.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core import checks

from .. import conf

PREFIX = "djworkers.tasks."
KINDS = {"TaskBackend": None, "DatabaseBackend": "database", "RedisBackend": "redis"}


def djworkers_entries() -> dict[str, dict[str, Any]]:
    """The ``TASKS`` entries whose BACKEND is a djworkers one (or meant to be)."""
    tasks = getattr(settings, "TASKS", None)
    if not isinstance(tasks, dict):
        return {}
    return {
        alias: params
        for alias, params in tasks.items()
        if isinstance(params, dict) and str(params.get("BACKEND", "")).startswith(PREFIX)
    }


def check() -> Iterator[checks.CheckMessage]:
    from . import compat
    from .backends_names import OPTION_NAMES

    entries = djworkers_entries()
    if entries and not compat.AVAILABLE:
        yield checks.Error(
            f"TASKS[{next(iter(entries))!r}] names a djworkers backend, but {compat.MISSING}", id="djworkers.E701"
        )
    queue_backend = conf.section("QUEUE")["BACKEND"]
    for alias, params in entries.items():
        where = f"TASKS[{alias!r}]"
        name = params["BACKEND"][len(PREFIX) :]
        if name not in KINDS:
            yield checks.Error(
                f"{where}['BACKEND'] = {params['BACKEND']!r} is not a djworkers backend; use one of "
                f"{', '.join(PREFIX + n for n in KINDS)}.",
                id="djworkers.E702",
            )
            continue
        queues = params.get("QUEUES", ["default"])
        if (
            not isinstance(queues, (list, tuple, set))
            or not queues
            or not all(isinstance(q, str) and q for q in queues)
        ):
            yield checks.Error(
                f"{where}['QUEUES'] must be a non-empty list of queue names, got {queues!r}.", id="djworkers.E703"
            )
        options = params.get("OPTIONS", {})
        if not isinstance(options, dict):
            yield checks.Error(f"{where}['OPTIONS'] must be a dict, got {options!r}.", id="djworkers.E704")
        else:
            unknown = sorted(set(options) - set(OPTION_NAMES))
            if unknown:
                yield checks.Error(
                    f"{where}['OPTIONS'] has unknown key(s) {', '.join(unknown)}; "
                    f"djworkers backends accept {', '.join(OPTION_NAMES)}.",
                    id="djworkers.E704",
                )
            elif options.get("ENQUEUE_ON_COMMIT") not in (None, True, False):
                yield checks.Error(
                    f"{where}['OPTIONS']['ENQUEUE_ON_COMMIT'] must be True, False or None, got "
                    f"{options['ENQUEUE_ON_COMMIT']!r}.",
                    id="djworkers.E704",
                )
        kind = KINDS[name]
        if kind is not None and queue_backend != kind:
            yield checks.Error(
                f"{where} uses {params['BACKEND']}, but DJWORKERS['QUEUE']['BACKEND'] is {queue_backend!r}: "
                f"queue_consumer would never run its tasks. Set the queue BACKEND to {kind!r} or use "
                f"{PREFIX}TaskBackend (which follows the queue's BACKEND).",
                id="djworkers.E705",
            )
