"""djworkers ztask tasks (autodiscovered from tasks.py) wrapping the shared workload."""

from benchmarks import workload

try:
    from djworkers.ztask import task
except ImportError:  # the ztask door (or pyzmq) is not there
    task = None

if task is not None:

    @task
    def incr() -> None:
        workload.incr()
