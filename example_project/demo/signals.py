"""Follow the demo's jobs through djworkers' signals (sent by whichever process runs them).

A job updates its own JobRun while it runs; retries and the final failure are
only known to the runtime, so these receivers record them.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from djworkers.signals import job_failed, job_retried


def _run_id(message: Any) -> int | None:
    """The JobRun a job reports on: example jobs (of any door) take ``run_id=``."""
    kwargs = getattr(message, "kwargs", None) or {}
    run_id = kwargs.get("run_id")
    return run_id if isinstance(run_id, int) else None


@receiver(job_retried, dispatch_uid="demo.retried")
def mark_retrying(sender: str, message: Any = None, exception: BaseException | None = None, **kwargs: Any) -> None:
    from .models import JobRun

    run_id = _run_id(message)
    if run_id is not None:
        JobRun.objects.filter(pk=run_id).update(
            status=JobRun.Status.RETRYING, error=f"{type(exception).__name__}: {exception}"
        )


@receiver(job_failed, dispatch_uid="demo.failed")
def mark_failed(sender: str, message: Any = None, exception: BaseException | None = None, **kwargs: Any) -> None:
    from .models import JobRun

    run_id = _run_id(message)
    if run_id is not None:
        JobRun.objects.filter(pk=run_id).update(
            status=JobRun.Status.FAILED,
            error=f"{type(exception).__name__}: {exception} (see Admin > Failed jobs)",
        )
