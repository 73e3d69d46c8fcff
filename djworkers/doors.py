"""Front doors describe themselves; the core builds every per-door table from them.

A front door (the periodic cache, the queue, ztask, ...) is a package with one
:class:`Door` object in its ``door.py``. The core asks the doors for what it
used to keep in hand-written tables: settings sections and their old flat
names (``conf``), system checks (``checks``), status sections (``status``), the
replay enqueue function (``replay``), the worker commands ``djworkers_run --all``
starts, the modules autodiscovery imports, and the models and admin modules
the app loads.

Adding a built-in door is one line in :data:`BUILTIN_DOORS`. A door from
another package (or a test) is named in ``DJWORKERS["DOORS"]``; it must not
need models in the djworkers app (its own app holds them).

This module is imported while settings are read, so it imports nothing from
Django's app registry and door modules must keep their own imports lazy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.core.checks import CheckMessage

    from .messages import Message
    from .monitoring.status import StatusOptions

#: Dotted paths of the built-in doors' descriptors, in the order their status
#: sections, checks and workers appear.
BUILTIN_DOORS: tuple[str, ...] = (
    "djworkers.dumbwaiter.door.door",
    "djworkers.queue.door.door",
    "djworkers.gearman.door.door",
    "djworkers.ztask.door.door",
    "djworkers.slacker.door.door",
    "djworkers.tasks.door.door",
)


@dataclasses.dataclass(frozen=True)
class WorkerCommand:
    """A management command that serves a door, as ``djworkers_run`` starts it.

    ``name`` is the process name in the group and the ``--NAME`` option of
    ``djworkers_run``; ``argv`` the command and its arguments; ``when`` says in
    words when ``--all`` starts it (for ``--help``), and ``wanted()`` decides it.
    """

    name: str
    argv: tuple[str, ...]
    when: str = "always"
    wanted: Callable[[], bool] = lambda: True


class Door:
    """The descriptor of one front door. Subclass it and override what the door has.

    Attributes:
        name: the door's name, recorded on messages, failed jobs, job statistics
            and signals (the "transport" of older versions).
        title: a short human name for status pages.
        settings_section: the key of the door's section in ``DJWORKERS``
            (``"QUEUE"``), or ``None`` if it has no settings.
        defaults: every key of that section with its default.
        legacy_settings: old flat setting names of the original library mapped
            to a key of the section (``{"QUEUE_BACKEND": "BACKEND"}``).
        autodiscover: module names imported from every installed app
            (``("commands",)``) so decorated jobs register.
        models_module / admin_module: the door's models and admin, imported by
            the djworkers app (built-in doors only).
    """

    name: str = ""
    title: str = ""
    settings_section: str | None = None
    defaults: Mapping[str, Any] = {}
    legacy_settings: Mapping[str, str] = {}
    autodiscover: tuple[str, ...] = ()
    models_module: str | None = None
    admin_module: str | None = None

    @property
    def replayable(self) -> bool:
        """True if the door has a transport that :meth:`enqueue` can send a message to."""
        return type(self).enqueue is not Door.enqueue

    def enqueue(self, message: Message) -> None:
        """Hand ``message`` to the door's transport again (replay of a failed job)."""
        raise NotImplementedError(f"The {self.name} door has no transport to replay a message on.")

    def check(self) -> Iterable[CheckMessage]:
        """System-check messages for the door's settings (ids of its own range)."""
        return ()

    def status(self, options: StatusOptions) -> dict[str, Any] | None:
        """The door's status section (see :func:`djworkers.monitoring.status.section`), or None."""
        return None

    def workers(self) -> Iterable[WorkerCommand]:
        """The worker commands that serve this door."""
        return ()

    def __repr__(self) -> str:
        return f"<Door {self.name}>"


_cache: tuple[Door, ...] | None = None


def _extra_paths() -> list[str]:
    """``DJWORKERS["DOORS"]``, read directly: the settings module itself asks for doors."""
    from django.conf import settings

    raw = getattr(settings, "DJWORKERS", None)
    value = raw.get("DOORS", []) if isinstance(raw, dict) else []
    return list(value) if isinstance(value, (list, tuple)) else []


def _load(path: str) -> Door:
    module_path, _, attr = path.rpartition(".")
    try:
        door = getattr(import_module(module_path), attr)
    except (ImportError, AttributeError) as exc:
        from .exceptions import DjworkersImproperlyConfigured

        where = "djworkers.doors.BUILTIN_DOORS" if path in BUILTIN_DOORS else 'DJWORKERS["DOORS"]'
        raise DjworkersImproperlyConfigured(
            f"{where} names the door {path!r}, which cannot be imported: {exc}"
        ) from exc
    if not isinstance(door, Door):
        from .exceptions import DjworkersImproperlyConfigured

        raise DjworkersImproperlyConfigured(
            f'DJWORKERS["DOORS"] names {path!r}, a {type(door).__name__}, not a djworkers.doors.Door.'
        )
    return door


def all_doors() -> tuple[Door, ...]:
    """Every door: the built-in ones, then ``DJWORKERS["DOORS"]``. Cached until settings change."""
    global _cache
    if _cache is None:
        doors: dict[str, Door] = {}
        for path in (*BUILTIN_DOORS, *_extra_paths()):
            door = _load(path)
            doors.setdefault(door.name, door)
        _cache = tuple(doors.values())
    return _cache


def get_door(name: str) -> Door | None:
    """The door called ``name``, or None (a failed job from a door no longer installed)."""
    for door in all_doors():
        if door.name == name:
            return door
    return None


def builtin_doors() -> tuple[Door, ...]:
    return tuple(_load(path) for path in BUILTIN_DOORS)


def reset() -> None:
    """Forget the loaded doors (called by ``conf`` when settings change)."""
    global _cache
    _cache = None
