"""System checks of the Gearman door: ids djworkers.E501 ... E503 (listed in docs/gearman.rst)."""

from __future__ import annotations

from collections.abc import Iterator

from django.core import checks

from ..exceptions import DjworkersImproperlyConfigured
from . import library
from .naming import SETTING as JOB_NAME_SETTING
from .naming import name_hook


def check() -> Iterator[checks.CheckMessage]:
    from .decorators import gearman_jobs
    from .door import in_use

    try:
        library.configured_servers()
    except DjworkersImproperlyConfigured as exc:
        yield checks.Error(
            str(exc), hint='e.g. DJWORKERS = {"GEARMAN": {"SERVERS": ["127.0.0.1:4730"]}}', id="djworkers.E501"
        )
    try:
        hook = name_hook()
        if hook is not None:
            sample = next((job.name for job in gearman_jobs()), "myapp.example")
            mapped = hook(sample)
            if not isinstance(mapped, str) or not mapped:
                raise DjworkersImproperlyConfigured(
                    f"{JOB_NAME_SETTING} returned {mapped!r} for {sample!r}; it must return a non-empty str."
                )
    except DjworkersImproperlyConfigured as exc:
        yield checks.Error(str(exc), id="djworkers.E502")
    except Exception as exc:
        yield checks.Error(f"{JOB_NAME_SETTING} raised {type(exc).__name__}: {exc}", id="djworkers.E502")
    if not in_use():
        return
    installed = library.installed_distributions()
    if library.DISTRIBUTION not in installed:
        yield checks.Error(
            "Gearman jobs are registered but pygearman is not installed.",
            hint="pip install 'djworkers[gearman]'",
            id="djworkers.E503",
        )
    conflicting = [name for name in installed if name in library.CONFLICTING]
    if conflicting:
        yield checks.Error(
            f"{', '.join(conflicting)} is installed beside pygearman; they ship the same 'gearman' package "
            "and overwrite each other.",
            hint=f"pip uninstall {' '.join(conflicting)} && pip install --force-reinstall pygearman",
            id="djworkers.E503",
        )
