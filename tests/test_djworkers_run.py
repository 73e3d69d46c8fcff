"""``djworkers_run``: the process group behind ``make demo`` (X3; the full --all --runserver run
is also in tests/test_browser.py and tests/test_docs.py). The group is the one supervisor of
djworkers/runtime/supervisor.py, the same as ``queue_consumer --processes`` (tests/test_supervisor.py)."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from djworkers.runtime.supervisor import Supervisor
from tests.services import free_port, wait_for_port
from tests.utils import spawn, stop, wait_until

SLEEPER = [sys.executable, "-c", "import time\nprint('sleeping', flush=True)\ntime.sleep(120)"]


def test_nothing_to_run_is_a_command_error():
    with pytest.raises(CommandError, match="Nothing to run"):
        call_command("djworkers_run", stdout=io.StringIO())


def test_help_names_each_worker():
    from djworkers.management.commands.djworkers_run import Command

    text = Command().create_parser("manage.py", "djworkers_run").format_help()
    for flag in ("--all", "--dumbwaiter", "--queue", "--runserver", "--stop-timeout"):
        assert flag in text


def test_a_child_exiting_stops_the_others_and_sets_the_exit_code():
    out = io.StringIO()
    group = Supervisor.commands(
        [("sleeper", SLEEPER), ("crasher", [sys.executable, "-c", "import time, sys; time.sleep(1); sys.exit(3)"])],
        stop_timeout=10,
        out=out,
    )
    started = time.monotonic()
    assert group.run() == 3
    assert time.monotonic() - started < 15
    sleeper = group.children[0].process
    assert sleeper.returncode is not None  # stopped, not orphaned
    text = out.getvalue()
    assert "crasher | exited unexpectedly with 3; stopping the others" in text
    assert "\nsleeper | sleeping\n" in text and "\nsleeper | stopped\n" in text


def test_sigint_stops_the_group_and_kills_what_ignores_sigterm():
    """Ctrl-C: SIGTERM to each child; one that ignores it is killed after the stop timeout."""
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(120)",
    ]
    out = io.StringIO()
    group = Supervisor.commands([("polite", SLEEPER), ("stubborn", stubborn)], stop_timeout=2, out=out)
    threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    assert group.run() == 0
    assert all(child.process.returncode is not None for child in group.children)
    text = out.getvalue()
    assert "polite | stopped" in text
    assert "stubborn | did not stop within 2s; killing it" in text


def test_djworkers_run_queue_only_in_a_subprocess(tmp_path):
    """The command as users run it, with --queue only: SIGTERM stops it with exit 0."""
    log = tmp_path / "run.log"
    process = spawn(["djworkers_run", "--queue"], log=log)
    try:
        wait_until(lambda: "Worker started" in log.read_text(), timeout=60)
        assert stop(process, signal.SIGTERM, timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert "queue | stopped" in text
    assert "dumbwaiter" not in text  # not asked for


# -- dying with the parent, SIGHUP ------------------------------------------------------
def group_settings() -> dict:
    """The group of `make demo`: a dumbwaiter function so --all starts run_dumbwaiter too, and
    ztaskd (the test app has @task functions) on a free port of its own."""
    return {
        "DJWORKERS": {
            "WORKER": {"SHUTDOWN_TIMEOUT": 10, "HEARTBEAT_INTERVAL": 1},
            "STATS": {"ENABLED": False},
            "DUMBWAITER": {
                "FUNCTIONS": [
                    {"function": "tests.testapp.dumbwaiter_functions.echo", "name": "e", "args": [1], "frequency": 60}
                ]
            },
            "ZTASK": {"URL": f"tcp://127.0.0.1:{free_port()}"},
        }
    }


GROUP = {"dumbwaiter", "queue", "ztaskd", "web"}


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie waiting for its new parent (init) to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_demo_group(tmp_path):
    """``djworkers_run --all --runserver`` on a free port, up and serving; (process, log, port, pids)."""
    port = free_port()
    log = tmp_path / "run.log"
    process = spawn(["djworkers_run", "--all", "--runserver", f"127.0.0.1:{port}"], settings=group_settings(), log=log)
    try:
        wait_until(lambda: len(re.findall(r"\| started \(pid \d+\)", log.read_text())) == len(GROUP), timeout=60)
        wait_until(lambda: "Worker started" in log.read_text(), timeout=60)
        wait_for_port(port, timeout=60)
    except BaseException:
        process.kill()
        raise
    text = log.read_text()
    pids = {name: int(pid) for name, pid in re.findall(r"^ *(\w+) \| started \(pid (\d+)\)", text, re.M)}
    assert set(pids) == GROUP, text
    return process, log, port, pids


@pytest.mark.slow
def test_sigkill_of_djworkers_run_takes_its_children_down(tmp_path):
    """X3: SIGKILL of the group's parent (no chance to stop anything): runserver,
    queue_consumer and run_dumbwaiter stop within seconds (PR_SET_PDEATHSIG / the lifeline pipe),
    and the port is free again. Before, they ran on as orphans and kept the port."""
    process, log, port, pids = start_demo_group(tmp_path)
    try:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        killed = time.monotonic()
        wait_until(lambda: all(gone(pid) for pid in pids.values()), timeout=15)
        assert time.monotonic() - killed < 15
        wait_until(lambda: port_free(port), timeout=5)
    finally:
        for pid in pids.values():
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_sighup_stops_the_group_gracefully(tmp_path):
    """X3: SIGHUP (a closed terminal, a lost SSH session) is a graceful stop like
    SIGTERM: every child is stopped in order and the group exits 0. Before, djworkers_run died of
    it at once and left its children running."""
    process, log, port, pids = start_demo_group(tmp_path)
    try:
        code = stop(process, signal.SIGHUP, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert code == 0, text[-3000:]
    for name in GROUP:
        assert re.search(rf"^ *{name} \| stopped$", text, re.M), text[-3000:]
    assert all(gone(pid) for pid in pids.values())
    assert port_free(port)


pytestmark = pytest.mark.django_db(transaction=True)
