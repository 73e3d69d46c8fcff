"""Private servers for one benchmark run: a redis-server on a free port, a PostgreSQL database.

Nothing here touches a shared server's data: Redis is our own process in a temp
dir (so FLUSHALL between measurements is safe), and the PostgreSQL database is
created at the start of the run and dropped at the end.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

PG_HOST = os.environ.get("DJWORKERS_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("DJWORKERS_PG_PORT", "5432"))
PG_USER = os.environ.get("DJWORKERS_PG_USER", "postgres")


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


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/usr/local/sbin", "/usr/local/bin"):
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return None


class PrivateRedis:
    """A redis-server of our own: no persistence, bound to 127.0.0.1, on a free port."""

    def __init__(self, directory: Path):
        binary = find_binary("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.directory / "redis-server.log", "ab")
        self.process = subprocess.Popen(
            [
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
            ],
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for_port(self.port)

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True).stdout
        for token in out.split():
            if token.startswith("v="):
                return token[2:]
        return out.strip()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class PostgresDatabase:
    """A database created for this run on the local server and dropped afterwards.

    Uses ``psql`` (the server's client) so the orchestrator needs no driver.
    ``available`` is False, with ``reason``, when there is no server or client.
    """

    def __init__(self) -> None:
        self.name = f"djworkers_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.created = False
        self.reason = ""
        self.psql = find_binary("psql")

    def _psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                self.psql,
                "-h",
                PG_HOST,
                "-p",
                str(PG_PORT),
                "-U",
                PG_USER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def create(self) -> bool:
        if self.psql is None:
            self.reason = "psql not found"
            return False
        try:
            result = self._psql(f'CREATE DATABASE "{self.name}"')
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.reason = f"PostgreSQL unreachable: {exc}"
            return False
        if result.returncode != 0:
            self.reason = f"PostgreSQL at {PG_HOST}:{PG_PORT}: {result.stderr.strip()}"
            return False
        self.created = True
        return True

    def version(self) -> str:
        result = self._psql("SHOW server_version")
        return result.stdout.strip() if result.returncode == 0 else "?"

    def drop(self) -> None:
        if self.created:
            self._psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False

    def settings_env(self) -> dict[str, str]:
        return {
            "BENCH_PG_HOST": PG_HOST,
            "BENCH_PG_PORT": str(PG_PORT),
            "BENCH_PG_USER": PG_USER,
            "BENCH_PG_NAME": self.name,
        }


#: The machine counts as quiet when, over a short window, at most this share of all its cores is
#: busy (0.25 = half a core of two): between measurements our own servers are idle, so what
#: is busy then is somebody else's work.
QUIET_BUSY = 0.25


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores since boot, from /proc/stat (None off Linux)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already in user/nice
    return total - idle, total


def cpu_busy(window: float = 0.5) -> float | None:
    """The share (0..1) of all cores that was busy during the next ``window`` seconds."""
    before = _cpu_ticks()
    time.sleep(window)
    after = _cpu_ticks()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def wait_for_quiet(limit: float, window: float = 0.5) -> dict:
    """Wait up to ``limit`` seconds for a quiet machine; return what was seen.

    The load average lags by a minute (it still holds the previous
    measurement), so quiet is judged on the CPU share busy over ``window``
    seconds, re-read until it falls to :data:`QUIET_BUSY` or ``limit`` runs
    out. ``{"load1", "busy", "waited", "under_load"}``: the 1-minute load
    average and busy share when the measurement starts, and whether the
    machine was still busy then (the report flags such rows).
    """
    started = time.monotonic()
    while True:
        busy = cpu_busy(window)
        waited = time.monotonic() - started
        if busy is None or busy <= QUIET_BUSY or waited >= limit:
            break
    load = load_average()
    return {
        "load1": load[0] if load else None,
        "busy": None if busy is None else round(busy, 2),
        "waited": round(waited, 1),
        "under_load": busy is not None and busy > QUIET_BUSY,
    }


def load_average() -> list[float]:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def describe_machine() -> dict:
    """What the numbers were measured on: CPU, cores, memory, OS, load."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": f"{platform.system()} {platform.release()}",
        "hostname_hash": uuid.uuid5(uuid.NAMESPACE_DNS, platform.node()).hex[:8],
    }
