"""The one supervisor (djworkers/runtime/supervisor.py) and its children's lifeline (X3, Q9).

``djworkers_run``'s side (exec'd commands, SIGKILL and SIGHUP of the whole demo
group) is in tests/test_djworkers_run.py; the forked workers' signals and
restarts in tests/test_worker.py. Here: what dies with the parent when only
the portable pipe is there, and ``queue_consumer --processes`` under SIGKILL.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.test_djworkers_run import gone
from tests.utils import ROOT, spawn, wait_until

pytestmark = pytest.mark.slow

#: A child that only knows djworkers' Shutdown (as run_dumbwaiter and queue_consumer do):
#: writes its pid, waits for a stop request, writes how it stopped.
CHILD = """
import os, sys
from djworkers.runtime.shutdown import Shutdown
shutdown = Shutdown()
shutdown.install()
open(sys.argv[1], "w").write(str(os.getpid()))
shutdown.wait(120)
open(sys.argv[2], "w").write("graceful" if shutdown.requested else "timeout")
"""

#: A supervisor with PR_SET_PDEATHSIG switched off: only the lifeline pipe is left, as on macOS.
PIPE_ONLY_SUPERVISOR = """
import sys
from djworkers.runtime import lifeline
lifeline._PRCTL = None
from djworkers.runtime.supervisor import Supervisor
child = [sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]]
sys.exit(Supervisor.commands([("child", child)], stop_timeout=5).run())
"""


def test_the_lifeline_pipe_alone_stops_a_child_of_a_sigkilled_supervisor(tmp_path):
    """X3: without PR_SET_PDEATHSIG (non-Linux), the child reads EOF on the lifeline when the
    supervisor is SIGKILLed and stops through its own graceful-stop path."""
    pid_file, stopped = tmp_path / "pid", tmp_path / "stopped"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", PIPE_ONLY_SUPERVISOR, CHILD, str(pid_file), str(stopped)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), timeout=30)
        child = int(pid_file.read_text())
        supervisor.kill()
        supervisor.wait(10)
        wait_until(lambda: stopped.exists(), timeout=10)
        assert stopped.read_text() == "graceful"
        wait_until(lambda: gone(child), timeout=10)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


def test_a_child_without_the_lifeline_is_an_orphan(tmp_path):
    """The control for the test above: the same child, started without a lifeline (the old
    djworkers_run), outlives a SIGKILLed parent. This is what the lifeline prevents."""
    pid_file, stopped = tmp_path / "pid", tmp_path / "stopped"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2], sys.argv[3]], start_new_session=True)\n"
            "time.sleep(120)",
            CHILD,
            str(pid_file),
            str(stopped),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    child = None
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), timeout=30)
        child = int(pid_file.read_text())
        parent.kill()
        parent.wait(10)
        time.sleep(2)
        assert not gone(child) and not stopped.exists()
    finally:
        if parent.poll() is None:
            parent.kill()
        if child is not None and not gone(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.django_db(transaction=True)
def test_sigkill_of_queue_consumer_processes_takes_its_workers_down(tmp_path):
    """Q9/X3: `queue_consumer --processes 2` SIGKILLed: its forked workers stop within
    seconds instead of consuming on as orphans."""
    log = tmp_path / "consumer.log"
    process = spawn(["queue_consumer", "--processes", "2", "--no-periodic", "-d", "0.05", "-m", "0.2"], log=log)
    pids: list[int] = []
    try:
        wait_until(lambda: len(re.findall(r"started worker process \d+", log.read_text())) == 2, timeout=60)
        wait_until(lambda: log.read_text().count("Worker started") == 2, timeout=60)
        pids = [int(p) for p in re.findall(r"started worker process (\d+)", log.read_text())]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        wait_until(lambda: all(gone(pid) for pid in pids), timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
        for pid in pids:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_command_that_cannot_start_stops_the_ones_already_started(tmp_path):
    """X3: the second command does not exist: the first, already running, is stopped, not orphaned."""
    import io

    from djworkers.runtime.supervisor import Supervisor

    pid_file, stopped = tmp_path / "pid", tmp_path / "stopped"
    group = Supervisor.commands(
        [
            ("first", [sys.executable, "-c", CHILD, str(pid_file), str(stopped)]),
            ("second", [str(tmp_path / "no-such-program")]),
        ],
        stop_timeout=10,
        out=io.StringIO(),
    )
    with pytest.raises(FileNotFoundError):
        group.run()
    assert group.children[0].returncode is not None
