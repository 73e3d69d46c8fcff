"""Where ``django.tasks`` comes from: Django >= 6.0, or the ``django-tasks`` backport on 5.2.

Importing this module never fails: :data:`AVAILABLE` says whether either was
found and :data:`MISSING` says what to install when not (system check
``djworkers.E701``). Modules that subclass Django's classes import the names
below only after checking :data:`AVAILABLE` (see :func:`require`).
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

from ..exceptions import DjworkersImproperlyConfigured

#: The package the Tasks framework was imported from: "django.tasks", "django_tasks" or "".
SOURCE = ""
base: Any = None
backends_base: Any = None
exceptions: Any = None
signals: Any = None
tasks_module: ModuleType | None = None

for _package in ("django.tasks", "django_tasks"):  # Django >= 6.0, then the backport for 5.2
    try:
        tasks_module = import_module(_package)
        base = import_module(f"{_package}.base")
        exceptions = import_module(f"{_package}.exceptions")
        signals = import_module(f"{_package}.signals")
        backends_base = import_module(f"{_package}.backends.base")
    except ImportError:
        continue
    SOURCE = _package
    break

AVAILABLE = bool(SOURCE)

#: Django's ``InvalidTask`` (the backport calls it ``InvalidTaskError``), or None.
InvalidTask: Any = getattr(exceptions, "InvalidTask", None) or getattr(exceptions, "InvalidTaskError", None)

MISSING = (
    "djworkers.tasks needs Django's Tasks framework: Django >= 6.0 has it (django.tasks); on "
    "Django 5.2 install the backport (pip install 'django-tasks>=0.12') and add \"django_tasks\" "
    "to INSTALLED_APPS."
)


def require() -> None:
    """Raise :class:`~djworkers.exceptions.DjworkersImproperlyConfigured` naming what to install."""
    if not AVAILABLE:
        raise DjworkersImproperlyConfigured(MISSING)


#: Django's ``normalize_json``, looked up on first use (an import statement per task cost ~1 us).
_normalize: Any = None
#: Values ``normalize_json`` returns unchanged: most tasks return None, a number or a string.
_PLAIN = (type(None), bool, int, float, str)


def normalize_json(value: Any) -> Any:
    """Django's ``normalize_json`` (``django.utils.json`` on 6.x, ``django_tasks.utils`` in the backport)."""
    global _normalize
    if type(value) in _PLAIN:
        return value
    if _normalize is None:
        if SOURCE == "django_tasks":
            from django_tasks.utils import normalize_json as normalize
        else:
            from django.utils.json import normalize_json as normalize
        _normalize = normalize
    return _normalize(value)


def task_backends() -> Any:
    """Django's handler of the ``TASKS`` setting (``django.tasks.task_backends``)."""
    require()
    return tasks_module.task_backends  # type: ignore[union-attr]
