"""Queue commands for status/stat tests: one that returns, one that always raises."""

from djworkers.queue import queue_command


@queue_command
def status_ok(n):
    return n * 2


@queue_command(retries=0)
def status_boom(n):
    raise RuntimeError(f"boom {n}")
