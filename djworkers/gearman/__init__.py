"""The Gearman front door (django-gearman's heritage): ``@gearman_job``, ``GearmanClient``.

Jobs live in ``gearman_jobs.py`` modules of installed apps (autodiscovered),
run in ``manage.py gearman_worker`` processes, and are called through
:class:`GearmanClient` against the gearmand servers of
``DJWORKERS["GEARMAN"]["SERVERS"]``. See docs/gearman.rst.
"""

from .client import GearmanClient, SubmittedJob, dispatch_background_task, submit_job
from .decorators import gearman_job
from .errors import GearmanError, GearmanJobError, GearmanTimeout, GearmanUnavailable

__all__ = [
    "GearmanClient",
    "GearmanError",
    "GearmanJobError",
    "GearmanTimeout",
    "GearmanUnavailable",
    "SubmittedJob",
    "dispatch_background_task",
    "gearman_job",
    "submit_job",
]
