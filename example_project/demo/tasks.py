"""A ``django.tasks`` task of the demo, run by ``queue_consumer`` through djworkers' TASKS backend (T1).

Defined only where Django's Tasks framework exists (Django >= 6.0, or the
``django-tasks`` backport on 5.2), so the demo still starts without it.
"""

from __future__ import annotations

from djworkers.tasks import compat

from .models import JobRun

if compat.AVAILABLE:
    task = compat.tasks_module.task

    @task(takes_context=True)
    def count_letters(context, text: str, run_id: int) -> dict:
        """Count the letters of ``text``; reports on its JobRun like the queue door's jobs do."""
        JobRun.objects.filter(pk=run_id).update(status=JobRun.Status.RUNNING, attempts=context.attempt)
        result = {"letters": sum(c.isalpha() for c in text), "task_result_id": context.task_result.id}
        JobRun.objects.filter(pk=run_id).update(status=JobRun.Status.DONE, result=str(result), error="")
        return result
