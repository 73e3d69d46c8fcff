"""Registers one job when autodiscovery imports tasks.py."""

from djworkers.registry import Job, registry


def job() -> str:
    return "tasks"


registry.register(Job.declare("discoverapp.tasks", job, door="core-tests"))
