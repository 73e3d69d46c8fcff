"""Parsing and validating ``DJWORKERS["DUMBWAITER"]``.

One function turns the settings into :class:`Config` (the runner, the read API
and the admin all use it) and one lists every problem (the system checks use
it), so a bad entry is reported the same way everywhere, naming the entry.

Each entry of ``FUNCTIONS`` (old name ``DUMBWAITER_FUNCTION_LIST``) is a dict:
``function`` (callable or dotted path), ``name`` (unique), ``frequency``
(seconds), ``args``, ``kwargs``, ``max_saved`` (history depth).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import conf
from ..exceptions import DjworkersImproperlyConfigured
from ..loading import dotted_name, load_object
from ..validation import is_at_least, is_positive

if TYPE_CHECKING:
    from ..serializers import Serializer

SETTING = 'DJWORKERS["DUMBWAITER"]'
FUNCTIONS_SETTING = f'{SETTING}["FUNCTIONS"]'
ENTRY_KEYS = ("function", "name", "frequency", "args", "kwargs", "max_saved")
LOCKS = ("database", "redis")

#: Serializer paths from django-dumbwaiter that no longer exist, mapped to their successor.
LEGACY_SERIALIZERS = {"dumbwaiter.serializers.pickler": "pickle"}

#: Prefix of the cache keys. Short on purpose: Django validates every key
#: character by character on every ``cache.get``, and ``get_value`` is meant to
#: cost no more than a plain ``cache.get``.
KEY_PREFIX = "djw:"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One configuration error, as the system check reports it."""

    id: str
    msg: str
    hint: str | None = None


@dataclasses.dataclass(frozen=True)
class FunctionSpec:
    """One configured function, defaults applied."""

    name: str
    function: Any  # the callable, or the dotted path as configured
    frequency: float
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    max_saved: int = 10

    @property
    def path(self) -> str:
        """How the function is named in logs and the admin."""
        return self.function if isinstance(self.function, str) else dotted_name(self.function)

    #: The Django cache key of the newest value, computed once (``get_value`` reads it on every call).
    cache_key: str = ""

    def __post_init__(self) -> None:
        if not self.cache_key:
            object.__setattr__(self, "cache_key", cache_key(self.name))

    def resolve(self) -> Callable[..., Any]:
        """The callable (imports a dotted path; raises naming the entry if it cannot)."""
        func = load_object(self.function, f"{FUNCTIONS_SETTING} entry {self.name!r} 'function'")
        if not callable(func):
            raise DjworkersImproperlyConfigured(
                f"{FUNCTIONS_SETTING} entry {self.name!r}: 'function' {self.function!r} is not callable."
            )
        return func


def cache_key(name: str) -> str:
    if name.isascii() and name.isprintable() and " " not in name and len(name) <= 150:
        return KEY_PREFIX + name
    return KEY_PREFIX + "sha1-" + hashlib.sha1(name.encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True)
class Config:
    functions: dict[str, FunctionSpec]
    threaded: bool
    serializer_name: Any
    cache_alias: str
    lock: str
    connection: str | None

    def get(self, name: str) -> FunctionSpec:
        from .exceptions import UnknownFunction

        try:
            return self.functions[name]
        except KeyError:
            raise UnknownFunction(name, list(self.functions)) from None

    def serializer(self) -> Serializer:
        """The serializer for stored values (``SERIALIZER``; None = the top-level one)."""
        return get_value_serializer(self.serializer_name)


def get_value_serializer(name: Any) -> Serializer:
    """Resolve ``DJWORKERS["DUMBWAITER"]["SERIALIZER"]`` (None = ``DJWORKERS["SERIALIZER"]``)."""
    from ..serializers import get_serializer

    if name is None:
        return get_serializer()
    if isinstance(name, str):
        name = LEGACY_SERIALIZERS.get(name, name)
    return get_serializer(name, setting=f'{SETTING}["SERIALIZER"]')


def _describe(index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{FUNCTIONS_SETTING}[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")


def problems(import_functions: bool = True) -> list[Problem]:
    """Every problem in the dumbwaiter settings. Empty list = valid."""
    section = conf.section("DUMBWAITER")
    found: list[Problem] = []
    threaded = section.get("THREADED")
    if not isinstance(threaded, bool):
        found.append(Problem("djworkers.E110", f'{SETTING}["THREADED"] must be True or False, got {threaded!r}.'))
    default_frequency = section.get("DEFAULT_FREQUENCY")
    if not is_positive(default_frequency):
        found.append(
            Problem(
                "djworkers.E110",
                f'{SETTING}["DEFAULT_FREQUENCY"] must be a positive number of seconds, got {default_frequency!r}.',
            )
        )
    default_saved = section.get("DEFAULT_SAVED")
    if not is_at_least(default_saved, 1, whole=True):
        found.append(
            Problem("djworkers.E110", f'{SETTING}["DEFAULT_SAVED"] must be an int >= 1, got {default_saved!r}.')
        )
    found += _function_problems(section.get("FUNCTIONS"), import_functions)
    found += _backend_problems(section)
    return found


def _function_problems(functions: Any, import_functions: bool) -> list[Problem]:
    found: list[Problem] = []
    if not isinstance(functions, (list, tuple)):
        return [
            Problem("djworkers.E101", f"{FUNCTIONS_SETTING} must be a list of dicts, got {type(functions).__name__}.")
        ]
    seen: dict[str, int] = {}
    for index, entry in enumerate(functions):
        where = _describe(index, entry)
        if not isinstance(entry, dict):
            found.append(Problem("djworkers.E102", f"{where} must be a dict, got {type(entry).__name__}."))
            continue
        unknown = sorted(set(entry) - set(ENTRY_KEYS))
        if unknown:
            found.append(
                Problem(
                    "djworkers.E103",
                    f"{where} has unknown key(s) {', '.join(map(repr, unknown))}.",
                    hint=f"Allowed keys: {', '.join(ENTRY_KEYS)}.",
                )
            )
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            found.append(Problem("djworkers.E104", f"{where} needs a 'name': a non-empty string, got {name!r}."))
        elif name in seen:
            found.append(
                Problem(
                    "djworkers.E105",
                    f"{where}: the name {name!r} is already used by {FUNCTIONS_SETTING}[{seen[name]}]; names must be unique.",
                )
            )
        else:
            seen[name] = index
        if "function" not in entry:
            found.append(Problem("djworkers.E106", f"{where} needs a 'function' (a callable or a dotted path)."))
        else:
            function = entry["function"]
            if isinstance(function, str):
                if import_functions:
                    try:
                        function = load_object(function, f"{where} 'function'")
                    except DjworkersImproperlyConfigured as exc:
                        found.append(Problem("djworkers.E107", str(exc)))
                        function = None
            if function is not None and not isinstance(function, str) and not callable(function):
                found.append(Problem("djworkers.E107", f"{where}: 'function' {entry['function']!r} is not callable."))
        if "frequency" in entry and not is_positive(entry["frequency"]):
            found.append(
                Problem(
                    "djworkers.E108",
                    f"{where}: 'frequency' must be a positive number of seconds, got {entry['frequency']!r}.",
                )
            )
        if "args" in entry and not isinstance(entry["args"], (list, tuple)):
            found.append(
                Problem(
                    "djworkers.E109", f"{where}: 'args' must be a list or tuple, got {type(entry['args']).__name__}."
                )
            )
        if "kwargs" in entry and not (
            isinstance(entry["kwargs"], dict) and all(isinstance(k, str) for k in entry["kwargs"])
        ):
            found.append(
                Problem(
                    "djworkers.E109", f"{where}: 'kwargs' must be a dict with string keys, got {entry['kwargs']!r}."
                )
            )
        max_saved = entry.get("max_saved", 1)
        if not is_at_least(max_saved, 1, whole=True):
            found.append(Problem("djworkers.E111", f"{where}: 'max_saved' must be an int >= 1, got {max_saved!r}."))
    return found


def _backend_problems(section: dict[str, Any]) -> list[Problem]:
    from django.conf import settings as django_settings

    found: list[Problem] = []
    alias = section.get("CACHE_ALIAS")
    if alias not in getattr(django_settings, "CACHES", {}):
        found.append(
            Problem(
                "djworkers.E112",
                f'{SETTING}["CACHE_ALIAS"] = {alias!r} is not a cache in settings.CACHES.',
                hint=f"Configured caches: {', '.join(map(repr, getattr(django_settings, 'CACHES', {}))) or 'none'}.",
            )
        )
    lock = section.get("LOCK")
    if lock not in LOCKS:
        found.append(Problem("djworkers.E113", f'{SETTING}["LOCK"] must be "database" or "redis", got {lock!r}.'))
    elif lock == "redis" and not isinstance(section.get("CONNECTION"), str):
        found.append(
            Problem(
                "djworkers.E113",
                f'{SETTING}["LOCK"] is "redis" but {SETTING}["CONNECTION"] is not a Redis URL '
                f"(got {section.get('CONNECTION')!r}).",
                hint='For example "redis://127.0.0.1:6379/0".',
            )
        )
    try:
        get_value_serializer(section.get("SERIALIZER"))
    except DjworkersImproperlyConfigured as exc:
        found.append(Problem("djworkers.E114", str(exc)))
    return found


_memo: tuple[Any, Config] | None = None


def current() -> Config:
    """The configuration for the current settings, parsed once per settings change.

    Keyed on the identity of the merged settings dict, which :mod:`djworkers.conf`
    rebuilds when settings change (so ``override_settings`` works).
    """
    global _memo
    section = conf.section("DUMBWAITER")
    memo = _memo
    if memo is not None and memo[0] is section:
        return memo[1]
    config = load_config()
    _memo = (section, config)
    return config


def load_config(validate: bool = True) -> Config:
    """The parsed configuration. With ``validate`` (the default) the first problem is raised."""
    if validate:
        found = problems(import_functions=False)
        if found:
            raise DjworkersImproperlyConfigured(found[0].msg + (f" {found[0].hint}" if found[0].hint else ""))
    section = conf.section("DUMBWAITER")
    frequency = section["DEFAULT_FREQUENCY"]  # always present: the door's defaults are merged in
    saved = section["DEFAULT_SAVED"]
    functions: dict[str, FunctionSpec] = {}
    entries = section.get("FUNCTIONS")
    if not isinstance(entries, (list, tuple)):
        entries = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or entry["name"] in functions:
            continue
        functions[entry["name"]] = FunctionSpec(
            name=entry["name"],
            function=entry.get("function"),
            frequency=float(entry.get("frequency", frequency)),
            args=tuple(entry.get("args") or ()),
            kwargs=dict(entry.get("kwargs") or {}),
            max_saved=int(entry.get("max_saved", saved)),
        )
    return Config(
        functions=functions,
        threaded=section.get("THREADED", True),
        serializer_name=section.get("SERIALIZER"),
        cache_alias=section.get("CACHE_ALIAS", "default"),
        lock=section.get("LOCK", "database"),
        connection=section.get("CONNECTION"),
    )
