"""Django Tasks (django.tasks, run by django-tasks-db's db_worker) wrapping the shared workload."""

from django.tasks import task

from benchmarks import workload


@task
def noop() -> None:
    workload.noop()


@task
def incr() -> None:
    workload.incr()


@task
def record(enqueued_at: float) -> None:
    workload.record(enqueued_at)
