"""Registers one job when autodiscovery imports file_jobs.py (the test-only "file" door asks for it)."""

from djworkers.registry import Job, registry


def job() -> str:
    return "file_jobs"


registry.register(Job.declare("discoverapp.file_jobs", job, door="file"))
