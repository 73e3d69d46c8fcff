"""Job names: the public name a caller uses, and the function name gearmand sees (G2, G3).

The public name of ``myapp.gearman_jobs.reverse`` is ``myapp.reverse``: the
import path with the ``gearman_jobs`` module part removed, then the function
name (G2). ``DJWORKERS["GEARMAN"]["JOB_NAME"]`` maps public names to the names
registered on gearmand, so several deployments can share one server (G3). The
mapping is explicit: unlike django-gearman, nothing depends on the working
directory the worker was started from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import conf
from ..exceptions import DjworkersImproperlyConfigured
from ..loading import load_object

SETTING = 'DJWORKERS["GEARMAN"]["JOB_NAME"]'
JOBS_MODULE = "gearman_jobs"


def default_name(func: Callable[..., Any]) -> str:
    """``myapp.gearman_jobs.reverse`` -> ``myapp.reverse`` (``myapp.jobs.x`` stays as it is)."""
    parts = [part for part in func.__module__.split(".") if part != JOBS_MODULE]
    return ".".join([*parts, func.__name__])


def name_hook() -> Callable[[str], str] | None:
    """The JOB_NAME setting as a callable: None, a callable, a dotted path, or a ``"{name}"`` format."""
    hook = conf.section("GEARMAN")["JOB_NAME"]
    if hook is None:
        return None
    if isinstance(hook, str):
        if "{name}" in hook:
            template = hook
            return lambda name: template.format(name=name)
        hook = load_object(hook, SETTING)
    if not callable(hook):
        raise DjworkersImproperlyConfigured(
            f"{SETTING} must be None, a callable, a dotted path to one, or a string containing "
            f"'{{name}}'; got {hook!r}."
        )
    return hook


def server_name(public: str) -> str:
    """The function name registered on gearmand for the job called ``public``."""
    hook = name_hook()
    if hook is None:
        return public
    mapped = hook(public)
    if not isinstance(mapped, str) or not mapped:
        raise DjworkersImproperlyConfigured(
            f"{SETTING} returned {mapped!r} for job {public!r}; it must return a non-empty str."
        )
    return mapped
