"""Start the example project as ``make demo`` does, on a free port with its own
SQLite file and cache directory, for the browser and docs tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"


def example_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DJWORKERS_DB", "DJWORKERS_TEST"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp / 'example.sqlite3'}"
    env["DJWORKERS_EXAMPLE_CACHE_DIR"] = str(tmp / "cache")
    env["DJWORKERS_EXAMPLE_ZTASK_URL"] = f"tcp://127.0.0.1:{free_port()}"  # ztaskd's port, free too
    env["PYTHONUNBUFFERED"] = "1"
    return env


def manage(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=timeout
    )


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the example project exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


class ExampleServer:
    """``djworkers_run --all --runserver`` of the example project, in its own session."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.env = example_env(tmp)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "example-project.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        for args in (["migrate", "--noinput"], ["demo_user", "--addr", f"127.0.0.1:{self.port}"]):
            result = manage(args, self.env)
            assert result.returncode == 0, result.stdout + result.stderr
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "djworkers_run", "--all", "--runserver", f"127.0.0.1:{self.port}"],
            cwd=EXAMPLE,
            env=self.env,
            stdout=open(self.log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_http(self.url + "/state.json", self.process, self.log)

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C as a terminal sends it (SIGINT to the group); returns the exit code."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.interrupt()
            except subprocess.TimeoutExpired:
                pass
