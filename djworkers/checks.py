"""Django system checks: every misconfiguration is an Error/Warning with a stable id.

Ids: ``djworkers.E0xx``/``W0xx`` core, ``E1xx`` dumbwaiter, ``E2xx`` queue,
``E3xx`` job statistics, and so on per front door. One registered function runs
the core checks and then each door's ``check()`` (:mod:`djworkers.doors`).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from . import conf, doors
from .loading import load_object
from .validation import is_positive, is_whole


def core_checks() -> Iterator[checks.CheckMessage]:
    raw = getattr(settings, "DJWORKERS", None)
    if raw is not None and not isinstance(raw, dict):
        yield checks.Error(
            f"settings.DJWORKERS must be a dict, got {type(raw).__name__}.",
            id="djworkers.E001",
        )
        return
    try:
        sections = conf.sections()
    except ImproperlyConfigured as exc:  # a door named in DJWORKERS["DOORS"] does not import
        yield checks.Error(str(exc), hint='Fix or remove the entry in DJWORKERS["DOORS"].', id="djworkers.E007")
        return
    for name in sections:
        value = (raw or {}).get(name)
        if value is not None and not isinstance(value, dict):
            yield checks.Error(
                f'DJWORKERS["{name}"] must be a dict, got {type(value).__name__}.',
                id="djworkers.E001",
            )
            return
    for old, new, shadowed in conf.legacy_settings_in_use():
        if shadowed:
            yield checks.Warning(
                f"settings.{old} is ignored because {new} is also set.",
                hint=f"Delete settings.{old}.",
                id="djworkers.W002",
            )
        else:
            yield checks.Warning(
                f"settings.{old} is a legacy setting name.",
                hint=f"It still works; move it to {new}.",
                id="djworkers.W001",
            )
    for old, door in conf.unbuilt_door_settings_in_use():
        yield checks.Warning(
            f"settings.{old} belongs to the {door} door, which this version of djworkers does not have yet: "
            "nothing reads it.",
            hint="Keep your existing worker for it, or remove the setting.",
            id="djworkers.W004",
        )
    for key in conf.unknown_keys():
        yield checks.Warning(
            f"{key} is not a djworkers setting (typo?).",
            hint="See the settings reference in the djworkers docs.",
            id="djworkers.W003",
        )
    yield from serializer_checks()
    worker = conf.section("WORKER")
    for key in ("SHUTDOWN_TIMEOUT", "HEARTBEAT_INTERVAL", "OUTAGE_MAX_DELAY", "BURST_OUTAGE_TIMEOUT"):
        value = worker.get(key)
        if not is_positive(value):
            yield checks.Error(
                f'DJWORKERS["WORKER"]["{key}"] must be a positive number of seconds, got {value!r}.',
                id="djworkers.E006",
            )


def serializer_checks() -> Iterator[checks.CheckMessage]:
    from .serializers import get_serializer

    try:
        serializer = get_serializer()
    except ImproperlyConfigured as exc:
        yield checks.Error(str(exc), id="djworkers.E002")
        return
    protocol = conf.get("PICKLE_PROTOCOL")
    if not (is_whole(protocol) and 0 <= protocol <= pickle.HIGHEST_PROTOCOL):
        yield checks.Error(
            f'DJWORKERS["PICKLE_PROTOCOL"] must be an int from 0 to {pickle.HIGHEST_PROTOCOL}, got {protocol!r}.',
            id="djworkers.E005",
        )
    from .serializers.signing import signing_keys

    try:
        has_key = bool(signing_keys())
    except ImproperlyConfigured:  # also what Django raises for an empty SECRET_KEY
        has_key = False
    if not has_key:
        yield checks.Error(
            "djworkers signs every message, but neither DJWORKERS['SIGNING_KEY'] nor SECRET_KEY is set"
            + (
                " and the pickle serializer would run code from any forged message."
                if serializer.name == "pickle"
                else "."
            ),
            hint="Set SECRET_KEY (or DJWORKERS['SIGNING_KEY']).",
            id="djworkers.E003",
        )


def check_dotted_path(path: object, setting: str, check_id: str = "djworkers.E004") -> Iterator[checks.CheckMessage]:
    """Helper for doors: an Error if ``path`` is a string that does not import."""
    try:
        load_object(path, setting)
    except ImproperlyConfigured as exc:
        yield checks.Error(str(exc), id=check_id)


@checks.register("djworkers")
def djworkers_checks(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from .monitoring.stats import check as stats_check

    messages = list(core_checks())
    if any(m.id in ("djworkers.E001", "djworkers.E007") for m in messages):
        return messages
    messages.extend(stats_check())
    for door in doors.all_doors():
        messages.extend(door.check())
    return messages
