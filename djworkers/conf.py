"""The one settings namespace: ``settings.DJWORKERS``.

Every module reads configuration through :func:`section` / :func:`get` here, never
through ``getattr(settings, ...)``. Values are computed lazily and the cache is
dropped on Django's ``setting_changed`` signal, so ``override_settings`` works.

Old flat names from the five original libraries (``DUMBWAITER_FUNCTION_LIST``,
``QUEUE_BACKEND``, ``ZTASKD_URL``, ...) are honoured when the new key is absent;
:func:`legacy_settings_in_use` lists them so a system check can warn.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

#: Defaults for every key. The settings reference in the docs is checked against this.
DEFAULTS: dict[str, Any] = {
    "SERIALIZER": "pickle",
    "PICKLE_PROTOCOL": pickle.HIGHEST_PROTOCOL,
    "SIGNING_KEY": None,
    "WORKER": {
        "SHUTDOWN_TIMEOUT": 30.0,
        "HEARTBEAT_INTERVAL": 10.0,
        "OUTAGE_MAX_DELAY": 30.0,
        "BURST_OUTAGE_TIMEOUT": 30.0,
    },
    "DUMBWAITER": {
        "FUNCTIONS": [],
        "THREADED": True,
        "DEFAULT_FREQUENCY": 300,
        "DEFAULT_SAVED": 10,
        "SERIALIZER": None,
        "CACHE_ALIAS": "default",
        "LOCK": "database",
        "CONNECTION": None,
    },
    "QUEUE": {
        "BACKEND": "database",
        "NAME": "default",
        "CONNECTION": None,
        "ALWAYS_EAGER": False,
        "LEASE_SECONDS": 300,
        "RETRIES": 0,
        "RETRY_DELAY": 10.0,
        "RETRY_BACKOFF": 2.0,
        "RETRY_MAX_DELAY": 3600.0,
        "PERIODIC": True,
        "NOTIFY": True,
    },
    "GEARMAN": {
        "SERVERS": ["127.0.0.1:4730"],
        "JOB_NAME": None,
    },
    "ZTASK": {
        "URL": "tcp://127.0.0.1:5555",
        "ALWAYS_EAGER": False,
        "DISABLED": False,
        "RETRY_COUNT": 5,
        "RETRY_AFTER": 5,
        "ON_LOAD": (),
        "WORKER_URLS": [],
    },
    "SLACKER": {
        "SERVER": "http://127.0.0.1:8000",
    },
    "STATS": {
        "ENABLED": True,
        "FLUSH_INTERVAL": 5.0,
        "RETENTION_HOURS": 48,
    },
}

SECTIONS = tuple(k for k, v in DEFAULTS.items() if isinstance(v, dict))

#: Old flat setting name -> (section or None for top level, key).
LEGACY_SETTINGS: dict[str, tuple[str | None, str]] = {
    "DUMBWAITER_FUNCTION_LIST": ("DUMBWAITER", "FUNCTIONS"),
    "DUMBWAITER_SERIALIZER": ("DUMBWAITER", "SERIALIZER"),
    "DUMBWAITER_THREADED": ("DUMBWAITER", "THREADED"),
    "DUMBWAITER_DEFAULT_SAVED": ("DUMBWAITER", "DEFAULT_SAVED"),
    "DUMBWAITER_DEFAULT_FREQUENCY": ("DUMBWAITER", "DEFAULT_FREQUENCY"),
    "PICKLE_PROTOCOL": (None, "PICKLE_PROTOCOL"),
    "QUEUE_BACKEND": ("QUEUE", "BACKEND"),
    "QUEUE_CLASS": ("QUEUE", "BACKEND"),
    "QUEUE_CONNECTION": ("QUEUE", "CONNECTION"),
    "QUEUE_NAME": ("QUEUE", "NAME"),
    "QUEUE_ALWAYS_EAGER": ("QUEUE", "ALWAYS_EAGER"),
    "GEARMAN_SERVERS": ("GEARMAN", "SERVERS"),
    "GEARMAN_JOB_NAME": ("GEARMAN", "JOB_NAME"),
    "ZTASKD_URL": ("ZTASK", "URL"),
    "ZTASKD_ALWAYS_EAGER": ("ZTASK", "ALWAYS_EAGER"),
    "ZTASKD_DISABLED": ("ZTASK", "DISABLED"),
    "ZTASKD_RETRY_COUNT": ("ZTASK", "RETRY_COUNT"),
    "ZTASKD_RETRY_AFTER": ("ZTASK", "RETRY_AFTER"),
    "ZTASKD_ON_LOAD": ("ZTASK", "ON_LOAD"),
    "ZTASKD_WORKER_URLS": ("ZTASK", "WORKER_URLS"),
    "SLACKER_SERVER": ("SLACKER", "SERVER"),
}

_cache: dict[str, Any] | None = None


def new_name(section: str | None, key: str) -> str:
    """How the docs and checks spell a key: ``DJWORKERS["QUEUE"]["BACKEND"]``."""
    return f'DJWORKERS["{section}"]["{key}"]' if section else f'DJWORKERS["{key}"]'


def _user_settings() -> dict[str, Any]:
    value = getattr(settings, "DJWORKERS", None) or {}
    if not isinstance(value, dict):
        from .exceptions import DjworkersImproperlyConfigured

        raise DjworkersImproperlyConfigured(
            f"settings.DJWORKERS must be a dict, got {type(value).__name__}."
        )
    return value


def _build() -> dict[str, Any]:
    user = _user_settings()
    merged = copy.deepcopy(DEFAULTS)
    for key, value in user.items():
        if key in SECTIONS and isinstance(value, dict):
            merged[key].update(value)
        else:
            merged[key] = value
    for old, (section, key) in LEGACY_SETTINGS.items():
        if not hasattr(settings, old):
            continue
        explicit = user.get(section, {}) if section else user
        if isinstance(explicit, dict) and key in explicit:
            continue  # the new key wins
        target = merged[section] if section else merged
        target[key] = getattr(settings, old)
    return merged


def all_settings() -> dict[str, Any]:
    """The full, merged configuration (defaults < legacy names < DJWORKERS)."""
    global _cache
    if _cache is None:
        _cache = _build()
    return _cache


def section(name: str) -> dict[str, Any]:
    """One section, e.g. ``section("QUEUE")["BACKEND"]``."""
    return all_settings()[name]


def get(key: str, default: Any = None) -> Any:
    """A top-level key such as ``SERIALIZER`` or ``SIGNING_KEY``."""
    return all_settings().get(key, default)


def legacy_settings_in_use() -> list[tuple[str, str, bool]]:
    """``(old name, new name, shadowed)`` for each legacy flat setting defined.

    ``shadowed`` is True when the new key is also set, so the old one is ignored.
    """
    user = _user_settings()
    found = []
    for old, (sec, key) in LEGACY_SETTINGS.items():
        if hasattr(settings, old):
            explicit = user.get(sec, {}) if sec else user
            shadowed = isinstance(explicit, dict) and key in explicit
            found.append((old, new_name(sec, key), shadowed))
    return found


def unknown_keys() -> list[str]:
    """Keys in ``DJWORKERS`` that djworkers does not know (typos)."""
    user = _user_settings()
    unknown = [new_name(None, k) for k in user if k not in DEFAULTS]
    for sec in SECTIONS:
        value = user.get(sec)
        if isinstance(value, dict):
            unknown += [new_name(sec, k) for k in value if k not in DEFAULTS[sec]]
    return unknown


def reset() -> None:
    """Forget the computed configuration (called when settings change)."""
    global _cache
    _cache = None


@receiver(setting_changed)
def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting == "DJWORKERS" or setting in LEGACY_SETTINGS or setting in (
        "SECRET_KEY",
        "SECRET_KEY_FALLBACKS",
    ):
        reset()
