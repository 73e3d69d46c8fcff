"""Autodiscovered by consumers that have ``tests.periodicapp`` in INSTALLED_APPS."""

import os
import time

from djworkers.queue import crontab, periodic_command
from tests.testapp.models import JobEvent


@periodic_command(crontab(), queue="periodic")
def every_minute() -> None:
    """Enqueued once per minute tick by whichever consumer wins the claim."""
    JobEvent.objects.create(key="every_minute", event="ran", pid=os.getpid(), at=time.time())
