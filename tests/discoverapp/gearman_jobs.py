"""Registers one job when autodiscovery imports gearman_jobs.py."""

from djworkers.registry import Job, registry


def job() -> str:
    return "gearman_jobs"


registry.register(Job.declare("discoverapp.gearman_jobs", job, door="core-tests"))
