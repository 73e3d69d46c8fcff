"""``@gearman_job``: register a function as a Gearman job (G1, G2).

Both forms register the job in the core registry under the door ``gearman``::

    @gearman_job
    def reverse(text): ...                     # name "myapp.reverse", queue "default"

    @gearman_job(name="my-task-name", queue="my-queue-name", retries=3)
    def send(one, two): ...

django-gearman's bare ``@gearman_job`` registered nothing (G1); here it does.
The function itself is returned unchanged, so it can still be called directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from ..registry import Job, registry
from .naming import default_name

F = TypeVar("F", bound=Callable[..., Any])

DOOR = "gearman"
DEFAULT_QUEUE = "default"


@overload
def gearman_job(func: F, /) -> F: ...


@overload
def gearman_job(
    *,
    name: str | None = None,
    queue: str | None = None,
    retries: int | None = None,
    retry_delay: float | None = None,
    retry_backoff: float | None = None,
) -> Callable[[F], F]: ...


def gearman_job(
    func: Callable[..., Any] | None = None, /, *, name: str | None = None, queue: str | None = None, **options: Any
) -> Any:
    """Register ``func`` as a Gearman job; usable bare or with options.

    ``queue`` groups jobs for ``manage.py gearman_worker -q QUEUE`` (default
    ``"default"``); ``retries``/``retry_delay``/``retry_backoff`` override the
    ``DJWORKERS["GEARMAN"]`` retry defaults for background calls.
    """
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"@gearman_job name must be a non-empty str, got {name!r}.")
    if queue is not None and (not isinstance(queue, str) or not queue):
        raise ValueError(f"@gearman_job queue must be a non-empty str, got {queue!r}.")

    def register(target: F) -> F:
        job_name = name or default_name(target)
        registry.register(Job.declare(job_name, target, door=DOOR, queue=queue or DEFAULT_QUEUE, **options))
        try:
            target.gearman_name = job_name  # type: ignore[attr-defined]
        except (AttributeError, TypeError):  # builtins and slotted callables: the registry has it
            pass
        return target

    if func is not None:
        if not callable(func):
            raise TypeError(f"@gearman_job expects a function, got {func!r}; use @gearman_job(name=...).")
        return register(func)
    return register


def gearman_jobs(queue: str | None = None) -> list[Job]:
    """The registered Gearman jobs, all of them or one queue's, sorted by name."""
    jobs = [job for job in registry.by_door(DOOR) if queue is None or job.queue == queue]
    return sorted(jobs, key=lambda job: job.name)
