"""One registry of named jobs for every front door, and autodiscovery.

A :class:`Job` is a callable plus the options the runtime needs (queue, retry
policy). Front doors (``@queue_command``, ``@task``, ``@gearman_job``) register
here; workers look names up here. Registering a *different* callable under a
name already taken is an error, never a silent overwrite.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from importlib import import_module
from typing import Any

from django.apps import apps
from django.utils.module_loading import module_has_submodule

from .exceptions import DuplicateJob, JobNotRegistered
from .loading import dotted_name
from .validation import is_at_least


def autodiscover_modules() -> tuple[str, ...]:
    """The module names every door asks :func:`autodiscover` to import (``commands``, ...)."""
    from .doors import all_doors

    names: dict[str, None] = {}
    for door in all_doors():
        names.update(dict.fromkeys(door.autodiscover))
    return tuple(names)


@dataclasses.dataclass(frozen=True)
class Job:
    """A registered job. ``None`` options mean "use the setting's default"."""

    name: str
    func: Callable[..., Any]
    door: str = "queue"
    queue: str | None = None
    retries: int | None = None
    retry_delay: float | None = None
    retry_backoff: float | None = None
    #: Store what the job returns or raises (Q12); None: ``QUEUE["RESULTS"]``.
    result: bool | None = None
    #: Seconds the job may run (Q13); None: ``QUEUE["TIMEOUT"]`` (itself None: no limit).
    timeout: float | None = None
    options: dict = dataclasses.field(default_factory=dict)

    OPTION_NAMES = ("queue", "retries", "retry_delay", "retry_backoff", "result", "timeout")

    @classmethod
    def declare(cls, name: str, func: Callable[..., Any], door: str, **options: Any) -> Job:
        """Build a job, rejecting option names the runtime does not understand."""
        unknown = set(options) - set(cls.OPTION_NAMES)
        if unknown:
            raise TypeError(
                f"Job {name!r}: unknown option(s) {', '.join(sorted(unknown))}; "
                f"expected some of {', '.join(cls.OPTION_NAMES)}."
            )
        retries = options.get("retries")
        if retries is not None and not is_at_least(retries, 0, whole=True):
            raise ValueError(f"Job {name!r}: retries must be an int >= 0, got {retries!r}.")
        # A backoff below 1 would shrink the delays: the same rule as the RETRY_BACKOFF check (E2xx).
        if options.get("result") not in (None, True, False):
            raise ValueError(f"Job {name!r}: result must be True or False, got {options['result']!r}.")
        timeout = options.get("timeout")
        if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0):
            raise ValueError(f"Job {name!r}: timeout must be a number of seconds > 0, got {timeout!r}.")
        for key, minimum in (("retry_delay", 0), ("retry_backoff", 1)):
            value = options.get(key)
            if value is not None and not is_at_least(value, minimum):
                raise ValueError(f"Job {name!r}: {key} must be a number >= {minimum}, got {value!r}.")
        return cls(name=name, func=func, door=door, **options)

    @property
    def path(self) -> str:
        return dotted_name(self.func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)


class Registry:
    """Name -> :class:`Job`. Thread-safe; shared by all front doors."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def register(self, job: Job) -> Job:
        with self._lock:
            existing = self._jobs.get(job.name)
            if existing is not None and existing.path != job.path:
                raise DuplicateJob(
                    f"Job name {job.name!r} is already registered by {existing.path}; "
                    f"{job.path} cannot take it. Pass a different name."
                )
            self._jobs[job.name] = job
            return job

    def unregister(self, name: str) -> None:
        with self._lock:
            self._jobs.pop(name, None)

    def get(self, name: str) -> Job:
        try:
            return self._jobs[name]
        except KeyError:
            raise JobNotRegistered(name, list(self._jobs)) from None

    def names(self) -> list[str]:
        return sorted(self._jobs)

    def by_door(self, door: str) -> list[Job]:
        return [job for job in self._jobs.values() if job.door == door]

    def __contains__(self, name: object) -> bool:
        return name in self._jobs

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs.values()))

    def __len__(self) -> int:
        return len(self._jobs)


registry = Registry()


class AutodiscoverError(ImportError):
    """Importing an app's jobs module failed; the message names the module."""


def autodiscover(module_names: tuple[str, ...] | None = None) -> list[str]:
    """Import each door's jobs module (``commands.py`` for the queue, ...) of every installed app.

    Returns the modules imported. A module that exists but fails to import is
    re-raised as :class:`AutodiscoverError` naming it (chained to the original),
    never swallowed.
    """
    if module_names is None:
        module_names = autodiscover_modules()
    imported = []
    for app_config in apps.get_app_configs():
        for module_name in module_names:
            if not module_has_submodule(app_config.module, module_name):
                continue
            full = f"{app_config.name}.{module_name}"
            try:
                import_module(full)
            except Exception as exc:
                raise AutodiscoverError(
                    f"djworkers autodiscovery: importing {full} failed: {type(exc).__name__}: {exc}"
                ) from exc
            imported.append(full)
    return imported
