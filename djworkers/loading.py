"""The one way djworkers turns a dotted path from settings into an object."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from .exceptions import DjworkersImproperlyConfigured


def load_object(path: Any, setting: str) -> Any:
    """Import ``path`` (``"package.module.attr"``); objects are returned as they are.

    ``setting`` names where the path came from, so the error tells the user
    which line of their settings to fix.
    """
    if not isinstance(path, str):
        return path
    try:
        return import_string(path)
    except ImportError as exc:
        # import_string raises ImportError for a missing attribute as well.
        raise DjworkersImproperlyConfigured(
            f"{setting} = {path!r} cannot be imported: {exc}"
        ) from exc


def dotted_name(obj: Any) -> str:
    """``module.qualname`` of a callable, used to compare registrations and in messages."""
    module = getattr(obj, "__module__", None) or "?"
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj))
    return f"{module}.{qualname}"
