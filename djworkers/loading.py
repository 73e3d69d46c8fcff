"""The one way djworkers turns a dotted path from settings into an object."""

from __future__ import annotations

import importlib
from typing import Any

from django.utils.module_loading import import_string

from .exceptions import DjworkersImproperlyConfigured


def load_object(path: Any, setting: str) -> Any:
    """Import ``path``; objects are returned as they are.

    ``path`` names an attribute (``"package.module.attr"``) or a module
    (``"my_app.myser"``: the django-dumbwaiter serializer contract names a
    module exposing ``serializer``). Django's ``import_string`` only finds a
    submodule that something else already imported, so a module path is
    imported explicitly when the attribute lookup fails.

    ``setting`` names where the path came from, so the error tells the user
    which line of their settings to fix.
    """
    if not isinstance(path, str):
        return path
    try:
        return import_string(path)
    except ImportError as exc:
        # import_string raises ImportError for a missing attribute as well.
        first = exc
    cause: Exception
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as exc:
        # ``path`` itself (or a parent) is not a module: the attribute error is
        # the one to report. A module *inside* it failing to import is the real cause.
        missing = exc.name or ""
        cause = first if missing and (path == missing or path.startswith(missing + ".")) else exc
    except ImportError as exc:
        cause = exc
    except ValueError as exc:  # "" or a relative path such as ".x"
        cause = exc
    raise DjworkersImproperlyConfigured(f"{setting} = {path!r} cannot be imported: {cause}") from cause


def dotted_name(obj: Any) -> str:
    """``module.qualname`` of a callable, used to compare registrations and in messages."""
    module = getattr(obj, "__module__", None) or "?"
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj))
    return f"{module}.{qualname}"
