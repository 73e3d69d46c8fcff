"""The Gearman door vs raw pygearman on one private gearmand: background submits and foreground round trips.

Self-contained: the measurement starts its own gearmand on a free port (Unavailable without the
binary) and its own worker process; nothing else in the harness knows about Gearman.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from ..harness import Contender, Metric, Scenario, Unavailable
from . import register

RAW_WORKER = """
import sys, gearman
worker = gearman.GearmanWorker([sys.argv[1]])
worker.register_task(b"raw.echo", lambda w, job: job.data)
worker.work(poll_timeout=1.0)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gearmand() -> tuple[subprocess.Popen, str, str]:
    binary = shutil.which("gearmand") or next(
        (p for p in ("/usr/sbin/gearmand", "/usr/local/sbin/gearmand") if os.path.exists(p)), None
    )
    if binary is None:
        raise Unavailable("gearmand is not installed (apt-get install gearman-job-server)")
    directory = tempfile.mkdtemp(prefix="bench-gearmand-")
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            "--listen",
            "127.0.0.1",
            "--port",
            str(port),
            "--threads",
            "1",
            "--log-file",
            os.path.join(directory, "gearmand.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=directory,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"127.0.0.1:{port}", directory
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("gearmand did not start listening")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` (from /proc; 0 where unreadable)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _wait_for_worker(address: str, function: str) -> None:
    from djworkers.gearman.server_admin import function_status

    host, port = address.split(":")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = {row["function"]: row for row in function_status((host, int(port)))}
        if rows.get(function, {}).get("workers"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"no worker registered {function} on gearmand within 60s")


@register
class Gearman(Scenario):
    name = "gearman"
    title = "Gearman: background submit rate and foreground round trips, djworkers vs raw pygearman"
    description = (
        "One private gearmand. Submit: N background jobs to a function no worker serves, one by "
        "one from one client (djworkers signs and pickles a message; raw pygearman sends 1 byte). "
        "Round trip: N foreground calls, one at a time, to one worker process echoing its "
        "argument (`gearman_worker` vs a bare pygearman worker). The target is djworkers ≥ 0.9× "
        "raw pygearman for both."
    )
    metrics = (
        Metric("per_s", "calls/s"),
        Metric("client_cpu_us", "µs CPU/call (client)", higher_is_better=False),
        Metric("worker_cpu_us", "µs CPU/call (worker)", higher_is_better=False),
        Metric("gearmand_cpu_us", "µs CPU/call (gearmand)", higher_is_better=False),
    )

    def contenders(self, run):
        submits = run.count(20_000, 300)  # ~2 s per side: a busy second on the other core skews less
        trips = run.count(2_000, 200)
        return [
            Contender(
                "djworkers submit (background)",
                "djworkers",
                "submit",
                {"kind": "submit", "via": "djworkers", "count": submits},
            ),
            Contender(
                "raw pygearman submit (background)",
                "ceiling",
                "submit",
                {"kind": "submit", "via": "raw", "count": submits},
            ),
            Contender(
                "djworkers round trip (foreground)",
                "djworkers",
                "round trip",
                {"kind": "round_trip", "via": "djworkers", "count": trips},
            ),
            Contender(
                "raw pygearman round trip (foreground)",
                "ceiling",
                "round trip",
                {"kind": "round_trip", "via": "raw", "count": trips},
            ),
        ]

    def measure(self, contender, params, child):
        try:
            import gearman  # noqa: F401
        except ImportError as exc:
            raise Unavailable(f"pygearman is not installed ({exc})") from exc
        gearmand, address, directory = _start_gearmand()
        try:
            os.environ["BENCH_GEARMAN"] = address
            from ..peers.base import django_setup

            django_setup(BENCH_GEARMAN=address)
            return self._measure(params, child, address, gearmand.pid)
        finally:
            for process in child.processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            gearmand.kill()
            gearmand.wait()
            shutil.rmtree(directory, ignore_errors=True)

    def _measure(self, params, child, address, gearmand_pid):
        import gearman

        from djworkers.gearman import GearmanClient

        count = params["count"]
        if params["via"] == "djworkers":
            client = GearmanClient([address])
            if params["kind"] == "submit":
                call = lambda: client.dispatch_background_task("bench.unserved", 1)  # noqa: E731
            else:
                child.spawn(child.manage("gearman_worker"), {"BENCH_GEARMAN": address})
                _wait_for_worker(address, "bench.echo")

                def call():
                    if client.submit_job("bench.echo", 1) != 1:
                        raise RuntimeError("wrong answer")
        else:
            raw = gearman.GearmanClient([address])
            if params["kind"] == "submit":
                call = lambda: raw.submit_job(b"raw.unserved", b"1", background=True)  # noqa: E731
            else:
                child.spawn([sys.executable, "-c", RAW_WORKER, address])
                _wait_for_worker(address, "raw.echo")

                def call():
                    request = raw.submit_job(b"raw.echo", b"1", poll_timeout=30)
                    if request.result != b"1":
                        raise RuntimeError(f"wrong answer {request.result!r}")

        for _ in range(min(50, count)):
            call()
        worker_pids = [process.pid for process in child.processes]
        worker_before, gearmand_before = _cpu_seconds(worker_pids), _cpu_seconds([gearmand_pid])
        cpu_before, started = time.process_time(), time.perf_counter()
        for _ in range(count):
            call()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        per_call = 1e6 / count
        measured = {
            "per_s": count / elapsed,
            "client_cpu_us": cpu * per_call,
            "gearmand_cpu_us": (_cpu_seconds([gearmand_pid]) - gearmand_before) * per_call,
        }
        if worker_pids:
            measured["worker_cpu_us"] = (_cpu_seconds(worker_pids) - worker_before) * per_call
        return measured
