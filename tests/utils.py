"""Running management commands as users do: in a subprocess, with real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def command_env(settings: dict | None = None, settings_module: str = "tests.settings") -> dict[str, str]:
    """Environment for a subprocess that must share this test's database and settings.

    ``settings_module``: another module building on tests.settings (tests/seeds/).
    """
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    env["DJWORKERS_DB_NAME"] = str(connection.settings_dict["NAME"])
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    if settings:
        handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(settings, handle)
        handle.close()
        env["DJWORKERS_TEST_SETTINGS_JSON"] = handle.name
    return env


def spawn(args: list[str], settings: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    """Start ``python -m django <args>`` in the background."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "django", *args],
        env=command_env(settings),
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run(
    args: list[str], settings: dict | None = None, timeout: float = 60, settings_module: str = "tests.settings"
) -> subprocess.CompletedProcess:
    """Run ``python -m django <args>`` to completion and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=command_env(settings, settings_module),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_until(condition: Callable[[], object], timeout: float = 20.0, interval: float = 0.1) -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {condition}")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
    """Send ``sig`` and wait for the exit code (killing after ``timeout``)."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def log_of(process: subprocess.Popen) -> str:
    """The end of a spawned process's log (``process.log``), for assertion messages."""
    log = getattr(process, "log", None)
    return log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""


def in_other_thread(func: Callable, *args):
    """``func(*args)`` run in a new thread (joined): its return value, or None if it raised."""
    box = []
    thread = threading.Thread(target=lambda: box.append(func(*args)))
    thread.start()
    thread.join()
    return box[0] if box else None


def in_forked_child(func: Callable[[], str], timeout: float = 10.0) -> str:
    """``func()`` run in a forked child of this (multi-threaded) process: its return value.

    A child that hangs (a lock another thread held at the fork) is killed and the test fails,
    rather than CI hanging.
    """
    import select
    import warnings

    read, write = os.pipe()
    with warnings.catch_warnings():  # "use of fork() may lead to deadlocks": what the timeout is for
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:
            os.write(write, func().encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"the forked child did not answer within {timeout} s")
        return os.read(read, 1 << 16).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
