"""Entry point of one measurement, run in the peers' venv: ``python -m benchmarks.child``.

Reads ``{"scenario", "contender", "params", "quick"}`` as JSON on stdin, runs the
scenario's ``measure`` and prints one ``BENCH-RESULT {...}`` line. Workers the
measurement needs are started from here as subprocesses (each peer's own
command, like users run it) and are always stopped before the child exits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .harness import RESULT_PREFIX, Unavailable
from .scenarios import load_scenarios
from .workload import COUNTER

ROOT = Path(__file__).resolve().parent.parent


class TreeCpu:
    """CPU seconds (user + system) spent by worker processes and everything they started.

    Read from /proc through psutil: every process of each worker's tree
    counts its own time plus its reaped children's (``children_user`` /
    ``children_system``), so a pool child that exits and is reaped keeps
    counting through its parent, and short-lived forks (RQ's work horse)
    count too. The tree is re-listed at most every half second. A reading
    never goes down (a child that exited but is not reaped yet drops out
    until its parent reaps it).
    """

    REFRESH = 0.5

    def __init__(self, processes: list[subprocess.Popen]):
        import psutil

        self.psutil = psutil
        self.roots = [p.pid for p in processes]
        self.known: dict[int, Any] = {}
        self.refreshed = 0.0
        self.value = 0.0

    def _refresh(self) -> None:
        psutil = self.psutil
        for pid in self.roots:
            try:
                root = self.known.get(pid) or psutil.Process(pid)
                self.known[pid] = root
                for process in root.children(recursive=True):
                    self.known.setdefault(process.pid, process)
            except psutil.Error:
                pass

    def read(self, fresh: bool = False) -> float:
        """``fresh``: list the tree now (the reading that opens a measurement must see the
        workers a supervisor forked since the last listing, or their start-up CPU lands
        inside the measurement when a later listing finds them)."""
        now = time.perf_counter()
        if fresh or now - self.refreshed > self.REFRESH:
            self._refresh()
            self.refreshed = now
        total = 0.0
        for pid, process in list(self.known.items()):
            try:
                times = process.cpu_times()
            except self.psutil.Error:
                del self.known[pid]
                continue
            total += times.user + times.system + times.children_user + times.children_system
        self.value = max(self.value, total)
        return self.value


class RedisCpu:
    """CPU seconds of the private redis-server (``INFO cpu``): what the queue's scripts cost the server."""

    def __init__(self, client):
        self.client = client
        self.value = 0.0

    def read(self, fresh: bool = False) -> float:
        info = self.client.info("cpu")
        self.value = max(self.value, float(info["used_cpu_user"]) + float(info["used_cpu_sys"]))
        return self.value


class Meters:
    """Several CPU meters read together; ``first``/``last`` hold one reading per meter."""

    def __init__(self, *meters):
        self.meters = meters
        self.first: list[float] = []
        self.last: list[float] = []

    def read(self, fresh: bool = False) -> list[float]:
        return [meter.read(fresh) for meter in self.meters]


class Child:
    """Helpers for measurements: the private Redis, worker subprocesses, counters."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.redis_url = os.environ["BENCH_REDIS_URL"]
        self.python = sys.executable
        self.processes: list[subprocess.Popen] = []
        self._redis = None

    @property
    def redis(self):
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(self.redis_url)
        return self._redis

    def flush(self) -> None:
        """Empty the private Redis: queues, counters and peers' bookkeeping of the last run."""
        self.redis.flushall()

    def done(self) -> int:
        return int(self.redis.get(COUNTER) or 0)

    # -- workers -------------------------------------------------------------------
    def spawn(self, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start a worker as users run it, in its own session (so its children stop with it)."""
        full_env = dict(os.environ, **(env or {}))
        log = open(os.environ.get("BENCH_WORKER_LOG", os.devnull), "ab")
        process = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes.append(process)
        return process

    def manage(self, *args: str) -> list[str]:
        return [self.python, "-m", "django", *args, "--settings=benchmarks.settings"]

    def stop(self, process: subprocess.Popen, grace: float = 3.0) -> None:
        """SIGTERM the worker's process group, then SIGKILL after ``grace`` seconds.

        Only ever after the measurement: how fast a peer shuts down is not measured.
        """
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # stragglers in the group (prefork children)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in list(self.processes):
            self.stop(process, grace=3)

    def wait_count(
        self,
        target: int,
        start_timeout: float,
        run_timeout: float,
        processes: list[subprocess.Popen] = (),
        poll: float = 0.01,
        cpu: Meters | None = None,
    ) -> tuple[float | None, float, int, int]:
        """Poll the job counter until it reaches ``target``.

        Gives up ``start_timeout`` s after the call if no job ran yet, or
        ``run_timeout`` s after the first job (a time cap for slow contenders;
        their rate is then measured over the jobs they did), or when every
        process in ``processes`` has exited. Returns ``(first_seen_at,
        last_change_at, count_at_first_sight, final_count)``: timing from the
        first job seen keeps worker start-up (imports, connections) out of
        throughput. ``cpu``: read the workers' CPU whenever the count moves, so
        ``cpu.first`` (at the first job seen) and ``cpu.last`` (at the last
        change) bracket the same jobs as the rate.
        """
        deadline = time.perf_counter() + start_timeout
        first_at, first_count = None, 0
        last, last_at = 0, time.perf_counter()
        if cpu is not None:
            cpu.first = cpu.last = cpu.read()
        while True:
            count = self.done()
            now = time.perf_counter()
            if count != last:
                last, last_at = count, now
                if cpu is not None:  # the first move opens the measurement: list the workers afresh
                    cpu.last = cpu.read(fresh=first_at is None)
            if first_at is None and count > 0:
                first_at, first_count = now, count
                deadline = now + run_timeout
                if cpu is not None:
                    cpu.first = cpu.last
            if count >= target or now > deadline:
                return first_at, last_at, first_count, count
            if processes and all(p.poll() is not None for p in processes):
                count = self.done()
                if count != last:  # the last jobs ran as the workers exited: their CPU is not read
                    last, last_at = count, time.perf_counter()
                return first_at, last_at, first_count, count
            time.sleep(poll)

    def drain_rate(
        self,
        target: int,
        run_timeout: float,
        processes: list[subprocess.Popen] = (),
        start_timeout: float = 60.0,
        workers: list[subprocess.Popen] = (),
        server: bool = False,
    ) -> dict[str, float]:
        """Jobs per second between the first and the last job seen; raises if nothing ran.

        ``processes``: stop waiting when all of these exited (burst workers).
        ``workers``: whose CPU (with their children's) is measured over the
        same jobs: ``cpu_us_per_job`` is µs of user + system time per job.
        ``server``: also the redis-server's CPU per job (``redis_cpu_us_per_job``;
        the job's own INCR included, the harness's polling too, alike for all).
        """
        meters = Meters(TreeCpu(list(workers)), *([RedisCpu(self.redis)] if server else [])) if workers else None
        first_at, last_at, first_count, count = self.wait_count(
            target, start_timeout, run_timeout, processes, cpu=meters
        )
        if first_at is None or count - first_count <= 0 or last_at <= first_at:
            exits = [p.poll() for p in processes]
            raise RuntimeError(f"worker ran {count} of {target} jobs (exit codes {exits})")
        jobs = count - first_count
        result = {"jobs_per_s": jobs / (last_at - first_at), "jobs_done": count}
        if meters is not None:
            # the worker's meter always, redis-server's only where the scenario has one
            names = ("cpu_us_per_job", "redis_cpu_us_per_job")
            for key, first, last in zip(names, meters.first, meters.last, strict=False):
                if last > first:
                    result[key] = (last - first) / jobs * 1e6
        return result


def main() -> int:
    # Killed with the orchestrator (same process group): unwind so the workers,
    # which run in sessions of their own, are stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    request = json.loads(sys.stdin.read())
    scenarios = load_scenarios()
    scenario = scenarios[request["scenario"]]
    child = Child(request.get("quick", False))
    try:
        metrics = scenario.measure(request["contender"], request["params"], child)
        extra = metrics.pop("_extra", {}) if isinstance(metrics, dict) else {}
        result: dict[str, Any] = {"metrics": metrics, "extra": extra}
    except Unavailable as exc:
        result = {"unavailable": str(exc)}
    except Exception as exc:  # a crash is reported, not raised: the run goes on
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        child.stop_all()
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
