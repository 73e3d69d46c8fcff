"""``djworkers_run``: the process group behind ``make demo`` (the full --all --runserver run
is in tests/test_browser.py and tests/test_docs.py)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from djworkers.process_group import ProcessGroup

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
    group = ProcessGroup([("sleeper", SLEEPER),
                          ("crasher", [sys.executable, "-c", "import time, sys; time.sleep(1); sys.exit(3)"])],
                         stop_timeout=10, out=out)
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
    stubborn = [sys.executable, "-c",
                "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(120)"]
    out = io.StringIO()
    group = ProcessGroup([("polite", SLEEPER), ("stubborn", stubborn)], stop_timeout=2, out=out)
    threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    assert group.run() == 0
    assert all(child.process.returncode is not None for child in group.children)
    text = out.getvalue()
    assert "polite | stopped" in text
    assert "stubborn | did not stop within 2s; killing it" in text


def test_djworkers_run_queue_only_in_a_subprocess(tmp_path):
    """The command as users run it, with --queue only: SIGTERM stops it with exit 0."""
    from tests.utils import spawn, stop, wait_until

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


pytestmark = pytest.mark.django_db(transaction=True)
