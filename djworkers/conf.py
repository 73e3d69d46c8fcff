"""The one settings namespace: ``settings.DJWORKERS``.

Every module reads configuration through :func:`section` / :func:`get` here, never
through ``getattr(settings, ...)``. Values are computed lazily and the cache is
dropped on Django's ``setting_changed`` signal, so ``override_settings`` works.

The core owns the top-level keys, ``WORKER`` and ``STATS``; every other section
belongs to a front door, which declares its defaults and the old flat names of
its original library (``DUMBWAITER_FUNCTION_LIST``, ``QUEUE_BACKEND``, ...) in
its descriptor (:mod:`djworkers.doors`). Old names are honoured when the new
key is absent; :func:`legacy_settings_in_use` lists them so a system check can warn.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

#: The core's own keys with their defaults. Each door adds its section (see
#: :func:`defaults`); the settings reference in the docs is checked against both.
CORE_DEFAULTS: dict[str, Any] = {
    "SERIALIZER": "pickle",
    "PICKLE_PROTOCOL": pickle.HIGHEST_PROTOCOL,
    "SIGNING_KEY": None,
    "DOORS": [],
    "WORKER": {
        "SHUTDOWN_TIMEOUT": 30.0,
        "HEARTBEAT_INTERVAL": 10.0,
        "OUTAGE_MAX_DELAY": 30.0,
        "BURST_OUTAGE_TIMEOUT": 30.0,
    },
    "STATS": {
        "ENABLED": True,
        "FLUSH_INTERVAL": 5.0,
        "RETENTION_HOURS": 48,
    },
}

#: The core's old flat names (section or None for top level, key).
CORE_LEGACY_SETTINGS: dict[str, tuple[str | None, str]] = {
    "PICKLE_PROTOCOL": (None, "PICKLE_PROTOCOL"),
}

#: Old flat names of the original libraries whose djworkers door is not built
#: yet: nothing reads them, and a system check (W004) says so. A door that lands
#: declares its names in its descriptor and they leave this table.
UNBUILT_DOOR_SETTINGS: dict[str, str] = {}


def defaults() -> dict[str, Any]:
    """Every key with its default: the core's and each door's section."""
    from .doors import all_doors

    merged = copy.deepcopy(CORE_DEFAULTS)
    for door in all_doors():
        if door.settings_section:
            merged[door.settings_section] = copy.deepcopy(dict(door.defaults))
    return merged


def legacy_settings() -> dict[str, tuple[str | None, str]]:
    """Old flat setting name -> (section or None for top level, key), from the core and the doors."""
    from .doors import all_doors

    table = dict(CORE_LEGACY_SETTINGS)
    for door in all_doors():
        for old, key in door.legacy_settings.items():
            table[old] = (door.settings_section, key)
    return table


def sections() -> tuple[str, ...]:
    """The names of the dict-valued sections (``WORKER``, ``QUEUE``, ...)."""
    return tuple(k for k, v in defaults().items() if isinstance(v, dict))


_cache: dict[str, Any] | None = None


def new_name(section: str | None, key: str) -> str:
    """How the docs and checks spell a key: ``DJWORKERS["QUEUE"]["BACKEND"]``."""
    return f'DJWORKERS["{section}"]["{key}"]' if section else f'DJWORKERS["{key}"]'


def _user_settings() -> dict[str, Any]:
    value = getattr(settings, "DJWORKERS", None) or {}
    if not isinstance(value, dict):
        from .exceptions import DjworkersImproperlyConfigured

        raise DjworkersImproperlyConfigured(f"settings.DJWORKERS must be a dict, got {type(value).__name__}.")
    return value


def _build() -> dict[str, Any]:
    user = _user_settings()
    merged = defaults()
    names = {k for k, v in merged.items() if isinstance(v, dict)}
    for key, value in user.items():
        if key in names and isinstance(value, dict):
            merged[key].update(value)
        else:
            merged[key] = value
    for old, (section, key) in legacy_settings().items():
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


T = TypeVar("T")


def per_configuration(build: Callable[[], T]) -> Callable[[], T]:
    """``build()``, called again only once the configuration changed (:func:`all_settings` is a new
    dict then: on any change of DJWORKERS, a legacy name or SECRET_KEY): for values read on every
    message (the signing keys, the serializer), where reading the settings each time cost ~1 µs."""
    held: tuple[object, Any] | None = None

    def get() -> T:
        nonlocal held
        current = _cache  # read here, not through all_settings(): a call per read cost ~0.1 µs
        cached = held
        if current is not None and cached is not None and cached[0] is current:
            return cached[1]
        current = all_settings()
        value = build()
        held = (current, value)  # one assignment: another thread sees the old pair or the new one
        return value

    return get


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
    for old, (sec, key) in legacy_settings().items():
        if hasattr(settings, old):
            explicit = user.get(sec, {}) if sec else user
            shadowed = isinstance(explicit, dict) and key in explicit
            found.append((old, new_name(sec, key), shadowed))
    return found


def unknown_keys() -> list[str]:
    """Keys in ``DJWORKERS`` that djworkers does not know (typos)."""
    user = _user_settings()
    known = defaults()
    unknown = [new_name(None, k) for k in user if k not in known]
    for sec, keys in known.items():
        value = user.get(sec)
        if isinstance(keys, dict) and isinstance(value, dict):
            unknown += [new_name(sec, k) for k in value if k not in keys]
    return unknown


def unbuilt_door_settings_in_use() -> list[tuple[str, str]]:
    """``(old name, door)`` for each old flat setting of a door djworkers does not have yet."""
    return [(old, door) for old, door in UNBUILT_DOOR_SETTINGS.items() if hasattr(settings, old)]


def reset() -> None:
    """Forget the computed configuration (called when settings change)."""
    global _cache
    _cache = None
    from . import doors

    doors.reset()


@receiver(setting_changed)
def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    if (
        setting == "DJWORKERS"
        or setting in _legacy_names()
        or setting
        in (
            "SECRET_KEY",
            "SECRET_KEY_FALLBACKS",
        )
    ):
        reset()


def _legacy_names() -> set[str]:
    try:
        return set(legacy_settings()) | set(UNBUILT_DOOR_SETTINGS)
    except Exception:  # a broken DOORS setting: the check reports it; just reset
        return set()
