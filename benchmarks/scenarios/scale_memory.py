"""Scenario 7a: a worker's resident memory and open file descriptors after 0, 50k and 100k jobs."""

from __future__ import annotations

import time

from .. import peers
from ..harness import Contender, Metric, Scenario
from . import register

#: djworkers only: a peer's 100k jobs would cost minutes of the run's budget (add one here to compare)
NAMES = ["djworkers"]


def footprint(pid: int) -> tuple[float, int]:
    """RSS (MiB) and open fds of a worker and its children (prefork pools count too)."""
    import psutil

    root = psutil.Process(pid)
    rss, fds = 0, 0
    for process in [root, *root.children(recursive=True)]:
        try:
            rss += process.memory_info().rss
            fds += process.num_fds()
        except psutil.NoSuchProcess:
            pass
    return rss / 1024 / 1024, fds


@register
class ScaleMemory(Scenario):
    name = "scale-memory"
    title = "Worker footprint after many jobs (RSS, open fds)"
    description = (
        "One long-running worker process (1 thread) gets batches of INCR jobs; its RSS and open "
        "file descriptors (with its children's) are read after warm-up (0), and after 50k and "
        "100k jobs. One repetition: this is a trajectory, not a timing. A leak shows as growth. "
        "`cpu_us_per_job`: the worker's CPU over all the jobs, idle waits included."
    )
    metrics = (
        Metric("rss_mib_100k", "MiB", higher_is_better=False, digits=1),
        Metric("rss_mib_0", "MiB", higher_is_better=False, digits=1),
        Metric("rss_mib_50k", "MiB", higher_is_better=False, digits=1),
        Metric("fds_0", "fds", higher_is_better=False),
        Metric("fds_50k", "fds", higher_is_better=False),
        Metric("fds_100k", "fds", higher_is_better=False),
        Metric("cpu_us_per_job", "µs", higher_is_better=False),
    )
    repetitions = 1

    def contenders(self, run):
        step = run.count(50_000, 1_000)
        return [
            Contender(name, "djworkers" if name == "djworkers" else "peer", "", {"peer": name, "step": step})
            for name in NAMES
        ]

    def measure(self, contender, params, child):
        peer = peers.get(params["peer"])
        command, env = peer.worker(1, child, burst=False)
        child.flush()
        process = child.spawn(command, env)
        enqueue = peer.enqueuer("incr")
        deadline = time.monotonic() + 60
        while child.done() == 0:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{peer.name}: the worker ran no warm-up job (exit {process.poll()})")
            enqueue()
            time.sleep(0.2)
        time.sleep(1.0)
        base = child.done()
        from ..child import TreeCpu

        cpu = TreeCpu([process])
        cpu_base = cpu.read()
        result = {}
        result["rss_mib_0"], result["fds_0"] = footprint(process.pid)
        step = params["step"]
        for done, label in ((step, "50k"), (2 * step, "100k")):
            peer.fill("incr", step)  # bulk where the peer can
            _, _, _, count = child.wait_count(base + done, 60, 600, [process])
            if count < base + done:
                raise RuntimeError(f"{peer.name}: {count - base} of {done} jobs ran")
            time.sleep(1.0)
            result[f"rss_mib_{label}"], result[f"fds_{label}"] = footprint(process.pid)
        result["cpu_us_per_job"] = (cpu.read() - cpu_base) / (child.done() - base) * 1e6
        child.stop(process)
        return result
