"""Names shared by the backends and the checks, importable without ``django.tasks``."""

#: Keys a djworkers ``TASKS`` entry accepts in ``OPTIONS`` (check ``djworkers.E704``).
OPTION_NAMES = ("ENQUEUE_ON_COMMIT",)
