"""Private service processes for tests: redis-server and gearmand on free ports.

Each runs in its own temp dir so tests can stop, pause (SIGSTOP) or kill it.
A missing binary skips the test with the reason, unless
``DJWORKERS_REQUIRE_SERVICES=1`` (CI), where it fails instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REQUIRE = os.environ.get("DJWORKERS_REQUIRE_SERVICES") == "1"


def missing(what: str) -> None:
    message = f"{what} is not available"
    if REQUIRE:
        pytest.fail(f"{message} and DJWORKERS_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class ServiceProcess:
    """A server we start, stop, restart, pause and resume."""

    binary = ""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        log = open(self.directory / f"{self.binary}.log", "ab")
        self.process = subprocess.Popen(self.command(), cwd=self.directory, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


class RedisServer(ServiceProcess):
    binary = "redis-server"

    def command(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)


class Gearmand(ServiceProcess):
    binary = "gearmand"

    def command(self) -> list[str]:
        return [
            self.binary,
            "--listen",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-file",
            str(self.directory / "gearmand-internal.log"),
            "--threads",
            "1",
        ]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/usr/local/sbin"):
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return None
