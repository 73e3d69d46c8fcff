"""The benchmark's Django app: djworkers queue jobs (commands.py), Django Tasks for
django-tasks-db (dtasks.py) and the dumbwaiter value (values.py), all wrapping
:mod:`benchmarks.workload`."""
