"""The worker runtime (X3, Q9): real subprocesses, real signals, independent of any front door.

Why: graceful shutdown is the promise users of job queues ask about most, and
only a real process receiving a real SIGTERM shows it. The transport here is the
test-only :class:`tests.testapp.filesource.FileSource` (a directory of frame
files), so these tests exercise nothing but ``djworkers.runtime``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections

from djworkers.messages import Message, encode
from djworkers.models import FailedJob
from djworkers.registry import Job
from djworkers.runtime.executor import Executor
from djworkers.runtime.hooks import Hook
from djworkers.runtime.worker import PollBackoff, Worker
from tests.testapp import core_jobs  # noqa: F401  (registers the core.* jobs)
from tests.testapp.filesource import FileSource
from tests.utils import spawn, stop, wait_until

FAST_POLL = dict(poll=PollBackoff(0.01, 1.5, 0.05), fetch_timeout=0.05)


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else "(no log)"


# -- in-process: the loop itself ------------------------------------------------------


# Jobs run in pool threads with their own connections, so these need real commits.
@pytest.mark.django_db(transaction=True)
def test_burst_runs_everything_and_quarantines_a_bad_frame(tmp_path):
    source = FileSource(tmp_path / "q")
    for i in range(3):
        source.enqueue(Message("core.touch", args=(str(tmp_path / f"done-{i}"),)))
    source.put(b"definitely not a signed frame")
    worker = Worker(source, threads=2, burst=True, exit_on_force=False, **FAST_POLL)
    assert worker.run() == 0
    assert all((tmp_path / f"done-{i}").read_text().startswith("done") for i in range(3))
    assert source.waiting() == [] and source.leased() == []
    assert worker.counts == {"succeeded": 3, "quarantined": 1}
    quarantined = FailedJob.objects.get()
    assert quarantined.reason == "bad-signature" and (quarantined.door, quarantined.backend) == ("file", "directory")
    assert bytes(quarantined.raw) == b"definitely not a signed frame"
    assert source.closed


@pytest.mark.django_db(transaction=True)
def test_retry_goes_back_through_the_source(tmp_path, clean_registry):
    calls = []

    def flaky():
        calls.append(time.time())
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    clean_registry.register(Job.declare("core.flaky_once", flaky, door="core-tests", retries=2, retry_delay=0.3))
    source = FileSource(tmp_path / "q")
    source.enqueue(Message("core.flaky_once"))
    worker = Worker(source, burst=False, exit_on_force=False, **FAST_POLL)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: worker.counts["succeeded"] == 1, timeout=10)
    finally:
        worker.shutdown.request()
        thread.join(10)
    assert worker.counts == {"retry": 1, "succeeded": 1}
    assert calls[1] - calls[0] >= 0.3 * 0.9  # the retry frame was due at its eta, not at once
    assert not FailedJob.objects.exists()


class UnreliableSource(FileSource):
    """Fetch fails twice (a broker restarting), then the first ack fails once."""

    def __init__(self, root):
        super().__init__(root)
        self.fetch_failures = 2
        self.ack_failures = 1

    def fetch(self, limit, timeout):
        if self.fetch_failures:
            self.fetch_failures -= 1
            raise ConnectionError("broker restarting")
        return super().fetch(limit, timeout)

    def ack(self, delivery):
        if self.ack_failures:
            self.ack_failures -= 1
            raise ConnectionError("ack lost")
        super().ack(delivery)


def test_source_errors_are_survived(tmp_path, caplog):
    """A failing fetch backs off and retries; a failing ack leaves the delivery to its lease."""
    source = UnreliableSource(tmp_path / "q")
    for i in range(2):
        source.enqueue(Message("core.touch", args=(str(tmp_path / f"done-{i}"),)))
    worker = Worker(source, burst=True, exit_on_force=False, **FAST_POLL)
    assert worker.run() == 0
    assert (tmp_path / "done-0").exists() and (tmp_path / "done-1").exists()
    assert worker.counts == {"succeeded": 1, "errors": 1}
    assert len(source.leased()) == 1  # not acked: a leasing transport would deliver it again
    assert caplog.text.count("Fetching from file (directory) failed") == 2
    assert "it will be delivered again" in caplog.text


def test_shutdown_counts_a_repeat_within_the_window_as_the_same_request():
    from djworkers.runtime.shutdown import Shutdown

    forced = []
    shutdown = Shutdown(on_force=lambda: forced.append(True), repeat_window=0.3)
    shutdown._handle(signal.SIGTERM, None)
    assert shutdown.requested and not shutdown.forced
    shutdown._handle(signal.SIGINT, None)  # the same Ctrl-C/stop, arriving twice
    assert not shutdown.forced and forced == []
    time.sleep(0.35)
    shutdown._handle(signal.SIGTERM, None)  # a deliberate second signal
    assert shutdown.forced and forced == [True]
    assert Shutdown().repeat_window == Shutdown.REPEAT_WINDOW == 1.0


def test_poll_backoff():
    poll = PollBackoff(0.1, 2.0, 0.5)
    assert [poll.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    poll.reset()
    assert poll.next() == 0.1
    with pytest.raises(ValueError):
        PollBackoff(backoff=0.5)
    with pytest.raises(ValueError):
        Worker(FileSource("/tmp/unused-djworkers-source"), threads=0)


# -- real subprocesses, real signals -------------------------------------------------------


def _worker(root: Path, log: Path, *extra: str):
    return spawn(["test_worker", "--dir", str(root), "-v", "2", *extra], log=log)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_lets_the_running_job_finish_and_exits_0(tmp_path, sig):
    source = FileSource(tmp_path / "q")
    started, done = tmp_path / "started", tmp_path / "done"
    source.enqueue(Message("core.sleep_then_touch", args=(2.0, str(started), str(done))))
    log = tmp_path / "worker.log"
    process = _worker(source.root, log)
    try:
        wait_until(started.exists, timeout=30)
        signalled = time.monotonic()
        code = stop(process, sig, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, _log(log)
    assert done.exists(), _log(log)  # the job finished: its side effect is there
    assert time.monotonic() - signalled >= 1.0  # it waited for the job, it did not kill it
    assert source.waiting() == [] and source.leased() == []  # acked
    assert "finishing running jobs" in _log(log)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_second_signal_stops_at_once_and_hands_the_job_back(tmp_path):
    source = FileSource(tmp_path / "q")
    started, done = tmp_path / "started", tmp_path / "done"
    frame = encode(Message("core.sleep_then_touch", args=(60.0, str(started), str(done))))
    source.put(frame)
    log = tmp_path / "worker.log"
    process = _worker(source.root, log)
    try:
        wait_until(started.exists, timeout=30)
        process.send_signal(signal.SIGTERM)
        time.sleep(1.5)  # past Shutdown.REPEAT_WINDOW: a deliberate second signal
        assert process.poll() is None  # still waiting for the 60 s job
        second = time.monotonic()
        code = stop(process, signal.SIGTERM, timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert code != 0, _log(log)
    assert time.monotonic() - second < 5, _log(log)
    assert not done.exists()
    waiting = source.waiting()
    assert [p.read_bytes() for p in waiting] == [frame], _log(log)  # back in the queue, intact
    assert source.leased() == []
    assert "handing them back" in _log(log)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_unstarted_prefetched_jobs_are_handed_back_on_graceful_stop(tmp_path):
    source = FileSource(tmp_path / "q")
    started, done = tmp_path / "started", tmp_path / "done"
    source.enqueue(Message("core.sleep_then_touch", args=(2.0, str(started), str(done))))
    later = [encode(Message("core.touch", args=(str(tmp_path / f"later-{i}"),))) for i in range(2)]
    for raw in later:
        source.put(raw)
    log = tmp_path / "worker.log"
    process = _worker(source.root, log, "--threads", "1", "--prefetch", "3")
    try:
        wait_until(started.exists, timeout=30)
        wait_until(lambda: len(source.leased()) == 3, timeout=10)  # all three held by the worker
        code = stop(process, signal.SIGTERM, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, _log(log)
    assert done.exists()
    assert not any((tmp_path / f"later-{i}").exists() for i in range(2))
    assert sorted(p.read_bytes() for p in source.waiting()) == sorted(later), _log(log)
    assert source.leased() == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_supervisor_forwards_sigterm_to_its_processes(tmp_path):
    source = FileSource(tmp_path / "q")
    markers = [(tmp_path / f"started-{i}", tmp_path / f"done-{i}") for i in range(2)]
    for started, done in markers:
        source.enqueue(Message("core.sleep_then_touch", args=(2.0, str(started), str(done))))
    log = tmp_path / "worker.log"
    process = _worker(source.root, log, "--processes", "2")
    try:
        wait_until(lambda: all(s.exists() for s, _ in markers), timeout=30)
        pids = {int(s.read_text()) for s, _ in markers}
        assert len(pids) == 2 and process.pid not in pids  # two child processes, one job each
        code = stop(process, signal.SIGTERM, timeout=20)  # to the parent only
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, _log(log)
    assert all(d.exists() for _, d in markers), _log(log)
    assert not any(_alive(pid) for pid in pids)
    assert source.waiting() == [] and source.leased() == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_signal_to_the_whole_process_group_is_one_graceful_stop(tmp_path, sig):
    """X3: Ctrl-C in a terminal (SIGINT), systemd's default KillMode=control-group (SIGTERM) and a
    closed terminal (SIGHUP) signal the parent *and* its children at once; the parent's
    forwarded SIGTERM must not count as a second signal, or every such stop would cut running
    jobs short."""
    source = FileSource(tmp_path / "q")
    markers = [(tmp_path / f"started-{i}", tmp_path / f"done-{i}") for i in range(2)]
    for started, done in markers:
        source.enqueue(Message("core.sleep_then_touch", args=(2.0, str(started), str(done))))
    log = tmp_path / "worker.log"
    process = _worker(source.root, log, "--processes", "2")
    try:
        wait_until(lambda: all(s.exists() for s, _ in markers), timeout=30)
        os.killpg(process.pid, sig)  # spawn() made the worker a process group leader
        code = process.wait(20)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, _log(log)
    assert all(d.exists() for _, d in markers), _log(log)
    assert source.waiting() == [] and source.leased() == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_supervisor_second_signal_stops_children_at_once(tmp_path):
    source = FileSource(tmp_path / "q")
    started, done = tmp_path / "started", tmp_path / "done"
    frame = encode(Message("core.sleep_then_touch", args=(60.0, str(started), str(done))))
    source.put(frame)
    log = tmp_path / "worker.log"
    process = _worker(source.root, log, "--processes", "2")
    try:
        wait_until(started.exists, timeout=30)
        child = int(started.read_text())
        process.send_signal(signal.SIGTERM)
        time.sleep(1.5)  # past Shutdown.REPEAT_WINDOW
        second = time.monotonic()
        code = stop(process, signal.SIGTERM, timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert code != 0, _log(log)
    assert time.monotonic() - second < 5
    assert not _alive(child)
    assert [p.read_bytes() for p in source.waiting()] == [frame], _log(log)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_shutdown_timeout_hands_the_job_back(tmp_path):
    """A job longer than the shutdown timeout is handed back (not lost), exit non-zero."""
    source = FileSource(tmp_path / "q")
    started, done = tmp_path / "started", tmp_path / "done"
    frame = encode(Message("core.sleep_then_touch", args=(60.0, str(started), str(done))))
    source.put(frame)
    log = tmp_path / "worker.log"
    process = _worker(source.root, log, "--shutdown-timeout", "1")
    try:
        wait_until(started.exists, timeout=30)
        signalled = time.monotonic()
        code = stop(process, signal.SIGTERM, timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert code != 0, _log(log)
    assert 0.8 <= time.monotonic() - signalled < 10
    assert [p.read_bytes() for p in source.waiting()] == [frame], _log(log)
    assert "shutdown timeout" in _log(log)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_supervisor_restarts_a_crashed_process(tmp_path):
    source = FileSource(tmp_path / "q")
    markers = [(tmp_path / f"started-{i}", tmp_path / f"done-{i}") for i in range(2)]
    for started, done in markers:
        source.enqueue(Message("core.sleep_then_touch", args=(3.0, str(started), str(done))))
    log = tmp_path / "worker.log"
    process = _worker(source.root, log, "--processes", "2")
    try:
        wait_until(lambda: all(s.exists() for s, _ in markers), timeout=30)
        killed, survivor = (int(s.read_text()) for s, _ in markers)
        os.kill(killed, signal.SIGKILL)
        after = tmp_path / "after-crash"
        source.enqueue(Message("core.touch", args=(str(after),)))
        # the replacement process ran it (exists() alone can see the file before its text)
        wait_until(lambda: after.exists() and len(after.read_text().split()) == 2, timeout=20)
        replacement = int(after.read_text().split()[1])
        assert replacement not in (killed, survivor, process.pid)
        code = stop(process, signal.SIGTERM, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert "restarting" in _log(log)
    assert code == 0, _log(log)  # the crash was answered by a restart; the stop was clean
    assert markers[1][1].exists()  # the survivor finished its job


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_supervisor_in_burst_mode_exits_when_the_work_is_done(tmp_path):
    """Children that drained the queue exit 0 and are not restarted (no endless respawn)."""
    source = FileSource(tmp_path / "q")
    for i in range(4):
        source.enqueue(Message("core.touch", args=(str(tmp_path / f"done-{i}"),)))
    log = tmp_path / "worker.log"
    process = _worker(source.root, log, "--processes", "2", "--burst")
    try:
        code = process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, _log(log)
    assert all((tmp_path / f"done-{i}").exists() for i in range(4))
    assert "restarting" not in _log(log)


class LeasedFileSource(FileSource):
    supports_lease = True

    def __init__(self, root):
        super().__init__(root)
        self.extended: list[list[str]] = []
        self.heartbeats = 0

    def extend(self, deliveries):
        self.extended.append([d.receipt for d in deliveries])

    def heartbeat(self):
        self.heartbeats += 1


def test_heartbeat_extends_leases_while_a_job_runs(tmp_path):
    """A transport that leases gets extend() for running and prefetched deliveries."""
    source = LeasedFileSource(tmp_path / "q")
    started, done = tmp_path / "started", tmp_path / "done"
    source.enqueue(Message("core.sleep_then_touch", args=(1.0, str(started), str(done))))
    worker = Worker(source, burst=True, heartbeat_interval=0.1, exit_on_force=False, **FAST_POLL)
    assert worker.run() == 0
    assert done.exists()
    assert len(source.extended) >= 3, source.extended
    assert all(len(receipts) == 1 for receipts in source.extended)
    assert source.heartbeats >= len(source.extended)


def test_logging_helpers(tmp_path):
    import argparse
    import logging

    from djworkers.runtime.logs import add_logging_arguments, configure_logging

    parser = argparse.ArgumentParser()
    add_logging_arguments(parser, logfile_flags=("-f", "--logfile"), loglevel_flags=("-l", "--loglevel"))
    options = parser.parse_args(["-l", "debug", "-f", str(tmp_path / "w.log")])
    assert (options.loglevel, options.logfile) == ("DEBUG", str(tmp_path / "w.log"))
    with pytest.raises(SystemExit):
        parser.parse_args(["--loglevel", "loud"])
    logger = logging.getLogger("djworkers")
    before = list(logger.handlers), logger.level
    try:
        configure_logging(options.loglevel, options.logfile)
        configure_logging(options.loglevel, options.logfile)  # idempotent: one handler
        ours = [h for h in logger.handlers if h.get_name() == "djworkers-command"]
        assert len(ours) == 1 and logger.level == logging.DEBUG
        logging.getLogger("djworkers.worker").debug("hello from a test")
        ours[0].flush()
        assert "djworkers.worker: hello from a test" in (tmp_path / "w.log").read_text()
        configure_logging(None, None, verbosity=0)
        assert logger.level == logging.ERROR
    finally:
        for handler in list(logger.handlers):
            if handler.get_name() == "djworkers-command":
                logger.removeHandler(handler)
                handler.close()
        logger.handlers[:] = before[0]
        logger.setLevel(before[1])


# -- database connections between jobs -------------------------------------------------------


class Results(Hook):
    def __init__(self):
        self.values: list[tuple[str, object]] = []

    def after_job(self, message, result, duration):
        self.values.append((message.name, result))

    def on_failure(self, message, exc, traceback):
        self.values.append((message.name if message else "?", exc))


def _backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("conn_max_age", [0, None], ids=["CONN_MAX_AGE=0", "persistent"])
def test_dropped_connection_between_jobs_does_not_fail_the_next_job(tmp_path, monkeypatch, conn_max_age):
    """X3: the server drops the worker's connection between two jobs; job 2 still runs."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (pg_terminate_backend): run with DJWORKERS_TEST_DB=postgres")
    # Worker threads build their connections from this same settings dict.
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", conn_max_age)
    results = Results()
    source = FileSource(tmp_path / "q")
    worker = Worker(source, Executor("file", hooks=[results]), exit_on_force=False, **FAST_POLL)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        source.enqueue(Message("core.backend_pid"))
        wait_until(lambda: len(results.values) == 1, timeout=10)
        ((name, first_pid),) = results.values
        assert name == "core.backend_pid" and isinstance(first_pid, int)

        if conn_max_age == 0:
            # Closed right after the job: nothing left to kill.
            wait_until(lambda: not _backend_alive(first_pid), timeout=5)
        else:
            # Persistent: still open, so kill it as a database restart would.
            assert _backend_alive(first_pid)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [first_pid])
                assert cursor.fetchone()[0] is True
            wait_until(lambda: not _backend_alive(first_pid), timeout=5)

        source.enqueue(Message("core.query_db"))
        source.enqueue(Message("core.backend_pid"))
        wait_until(lambda: len(results.values) == 3, timeout=10)
        source.enqueue(Message("core.close_db"))  # a persistent connection outlives jobs
        wait_until(lambda: len(results.values) == 4, timeout=10)
    finally:
        worker.shutdown.request()
        thread.join(10)
    assert results.values[1] == ("core.query_db", 0), results.values  # no OperationalError
    assert results.values[2][0] == "core.backend_pid" and results.values[2][1] != first_pid
    assert worker.counts == {"succeeded": 4}
    assert not FailedJob.objects.exists()


class DyingSource(FileSource):
    """Its fetch raises a BaseException, which kills the job thread that called it."""

    def fetch(self, limit, timeout):
        raise KeyboardInterrupt("escapes every except Exception")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_whose_job_threads_all_died_exits_non_zero(tmp_path, caplog):
    """Review fix: outside --burst, every job thread gone meant exit 0 (a Supervisor
    then does not restart the process); it is now an error exit."""
    worker = Worker(DyingSource(tmp_path / "q"), threads=2, exit_on_force=False, **FAST_POLL)
    assert worker.run() == 1
    assert "stopped unexpectedly" in caplog.text
