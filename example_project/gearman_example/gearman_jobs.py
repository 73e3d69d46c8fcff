"""The example jobs of django-gearman's README, named ``gearman_example.reverse`` and
``gearman_example.background_counting`` (the ``gearman_jobs`` part is dropped)."""

from __future__ import annotations

import logging
import time

from djworkers.gearman import gearman_job

logger = logging.getLogger("demo.gearman")


@gearman_job
def reverse(text):
    """Reverse a string."""
    logger.info("Reversing string: %s", text)
    return text[::-1]


@gearman_job
def background_counting(run_id=None):
    """Count to 5, a second a step. With a demo run id (the home page's button), report on it."""
    from demo.models import JobRun

    if run_id is not None:
        JobRun.objects.filter(pk=run_id).update(status=JobRun.Status.RUNNING, attempts=1)
    for i in range(5):
        logger.info("Counting: %d", i)
        time.sleep(1)
    if run_id is not None:
        JobRun.objects.filter(pk=run_id).update(status=JobRun.Status.DONE, result="counted to 5")
