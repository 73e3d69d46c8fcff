"""Helpers of the Gearman tests: a worker subprocess against the private gearmand."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from tests.utils import spawn, wait_until

JOBS_APP = "tests.gearmanapp"


def register_test_jobs():
    """Register tests/gearmanapp's jobs in this process (the caller restores the registry after)."""
    from djworkers.registry import registry

    module = importlib.import_module(f"{JOBS_APP}.gearman_jobs")
    jobs = getattr(module, "_registered", None)
    if jobs is None:  # first import: the decorators just registered them
        jobs = module._registered = [job for job in registry if job.func.__module__ == module.__name__]
    for job in jobs:
        registry.register(job)
    return jobs


def gearman_settings(server, **gearman) -> dict:
    """Settings (for a subprocess's JSON file): tests/gearmanapp installed, the door pointed at ``server``."""
    from django.conf import settings

    return {
        "INSTALLED_APPS": [*settings.INSTALLED_APPS, JOBS_APP],
        "DJWORKERS": {
            "WORKER": {"SHUTDOWN_TIMEOUT": 10, "HEARTBEAT_INTERVAL": 1},
            "STATS": {"ENABLED": False},
            "GEARMAN": {"SERVERS": [server.address], **gearman},
        },
    }


def start_worker(server, log: Path, *args: str, **gearman):
    """``manage.py gearman_worker ARGS`` in the background; returns the process once it is connected."""
    process = spawn(["gearman_worker", *args], settings=gearman_settings(server, **gearman), log=log)
    wanted = int(args[args.index("-w") + 1]) if "-w" in args else 1
    wait_until(lambda: read(log).count("connected to gearmand") >= wanted or process.poll() is not None, timeout=60)
    assert process.poll() is None, read(log)
    return process


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def records(path: Path) -> list:
    return [json.loads(line) for line in read(path).splitlines()]


def functions(server) -> dict[str, dict]:
    from djworkers.gearman.server_admin import function_status

    return {row["function"]: row for row in function_status(("127.0.0.1", server.port))}
