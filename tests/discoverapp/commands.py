"""Registers one job when autodiscovery imports commands.py."""

from djworkers.registry import Job, registry


def job() -> str:
    return "commands"


registry.register(Job.declare("discoverapp.commands", job, door="core-tests"))
