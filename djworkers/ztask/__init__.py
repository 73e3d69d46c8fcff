"""The ztask front door (django-ztask over ZeroMQ): ``@task``, ``.delay``, ``manage.py ztaskd`` (Z1-Z7).

``from djworkers.ztask import task`` replaces ``from django_ztask.decorators import task``.
ZeroMQ is only the transport: messages are the core's signed envelopes, jobs run
through the core executor, and ztaskd writes every message ahead to the
database queue table before running it.
"""

from .api import TaskFunction, ZtaskUnavailable, task

__all__ = ["TaskFunction", "ZtaskUnavailable", "task"]
