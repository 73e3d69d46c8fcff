"""djworkers queue jobs (autodiscovered from commands.py) wrapping the shared workload.

Where djworkers cannot be imported (a peers' venv built without it), nothing is
declared and the djworkers contenders report themselves unavailable instead of
breaking ``django.setup()`` for the peers that need Django (django-tasks-db).
"""

from benchmarks import workload

try:
    from djworkers.queue import queue_command
except ImportError:  # djworkers is not installed in this venv
    queue_command = None

if queue_command is not None:

    @queue_command
    def noop() -> None:
        workload.noop()

    @queue_command
    def incr() -> None:
        workload.incr()

    @queue_command(result=True)
    def incr_stored() -> None:
        """``incr`` storing its result as a django.tasks task does (the ``tasks`` scenario's
        'result=True' rows: the queue door paying for the record too)."""
        workload.incr()

    @queue_command
    def record(enqueued_at: float) -> None:
        workload.record(enqueued_at)

    @queue_command(result=True)
    def echo(value):
        """The result round trip's job (``results`` scenario): the caller ``get()``s its value."""
        return workload.echo(value)
