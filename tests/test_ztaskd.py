"""``manage.py ztaskd`` as users run it (Z2-Z6): real ztaskd subprocesses, real sockets, real signals.

The subprocesses share the test database (SQLite file, or PostgreSQL in the
``make test-postgres`` pass), hence ``transaction=True``.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from itertools import pairwise

import pytest
import zmq
from django.test import override_settings

from djworkers.models import FailedJob
from djworkers.queue.models import QueueJob
from djworkers.ztask import client as ztask_client
from djworkers.ztask.models import ZtaskNode, ZtaskTask
from tests.testapp import tasks
from tests.testapp.models import JobEvent, JobRun
from tests.utils import run, spawn, stop, wait_until
from tests.ztask_utils import free_url, ztask_settings

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def fresh_client():
    ztask_client.reset()
    yield
    ztask_client.reset()


@pytest.fixture
def ztaskd(tmp_path):
    """Start ztaskd subprocesses: ``ztaskd(url, *args, name=..., **ztask_settings)``; all stopped at the end."""
    started = []

    def start(url: str, *args: str, name: str = "ztaskd", reload: bool = False, **settings):
        argv = ["ztaskd", *([] if reload else ["--noreload"]), "-l", "INFO", *args]
        process = spawn(argv, settings=ztask_settings(url, **settings), log=tmp_path / f"{name}.log")
        process.log_dir = tmp_path
        started.append(process)
        wait_until(
            lambda: (
                ZtaskNode.objects.filter(url=url, pid__isnull=False, stopped=False).exists()
                or process.poll() is not None
            ),
            timeout=30,
        )
        assert process.poll() is None, log(tmp_path, name)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def log(tmp_path, name: str = "ztaskd") -> str:
    path = tmp_path / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def sending_to(url: str, **values):
    return override_settings(
        DJWORKERS={"STATS": {"ENABLED": False}, "ZTASK": {"URL": url, "SEND_TIMEOUT": 5, **values}}
    )


def stop_group(process, sig=signal.SIGTERM) -> int:
    """Signal the whole session (the autoreloader and its child) and wait."""
    os.killpg(process.pid, sig)
    return process.wait(30)


def events(key: str, event: str = "attempt") -> int:
    return JobEvent.objects.filter(key=key, event=event).count()


# -- the README example ----------------------------------------------------------------------------------
def test_readme_example_inline_delay_async_and_after_surviving_a_restart(ztaskd, tmp_path):
    """Z1/Z2/Z4: print_this runs inline when called; .delay/.async_ run in ztaskd (autoreloader on,
    the default); .after(2) runs about 2 s later; an .after task survives a restart of ztaskd."""
    url = free_url()
    process = ztaskd(url, reload=True)
    with sending_to(url):
        tasks.print_this("Hello world!")  # inline
        assert JobEvent.objects.filter(key="Hello world!", pid=os.getpid()).exists()
        tasks.print_this.delay("delayed")
        tasks.print_this.async_("async")
        getattr(tasks.print_this, "async")("old async")
        wait_until(lambda: all(events(k, "printed") for k in ("delayed", "async", "old async")), timeout=20)
        assert not JobEvent.objects.filter(key="delayed", pid=os.getpid()).exists()  # not inline
        sent = time.time()
        tasks.print_this.after(2, "on time")
        wait_until(lambda: events("on time", "printed"), timeout=20)
        assert 2.0 <= JobEvent.objects.get(key="on time").at - sent < 4.0
        sent = time.time()
        tasks.print_this.after(3, "later")
        wait_until(lambda: ZtaskTask.objects.exists(), timeout=10)  # written ahead
    assert stop_group(process) == 0
    assert events("later", "printed") == 0
    restarted = time.time()
    ztaskd(url, name="restarted", reload=True)
    wait_until(lambda: events("later", "printed"), timeout=20)
    ran = JobEvent.objects.get(key="later").at
    assert ran - sent >= 3.0 and ran > restarted
    assert "Hello world!" not in log(tmp_path) and "delayed" in log(tmp_path)
    wait_until(lambda: not ZtaskTask.objects.exists(), timeout=5)  # rows go on success


# -- retries, failures, replay ------------------------------------------------------------------------
def test_failing_twice_then_succeeding_takes_three_attempts_and_leaves_no_failed_row(ztaskd):
    """Z4: RETRY_COUNT 5: two failures are retried after RETRY_AFTER; the third attempt succeeds."""
    url = free_url()
    ztaskd(url, RETRY_COUNT=5, RETRY_AFTER=0.3)
    with sending_to(url):
        tasks.fail_times.delay("twice", 2)
    wait_until(lambda: JobRun.objects.filter(key="twice").exists(), timeout=30)
    stamps = sorted(JobEvent.objects.filter(key="twice").values_list("at", flat=True))
    assert len(stamps) == 3
    assert all(b - a >= 0.25 for a, b in pairwise(stamps))  # RETRY_AFTER between attempts
    time.sleep(0.5)
    assert events("twice") == 3 and not FailedJob.objects.exists()
    wait_until(lambda: not ZtaskTask.objects.exists(), timeout=5)


def test_always_failing_is_failed_after_retry_count_and_replayfailed_runs_it_again(ztaskd):
    """Z3/Z4: RETRY_COUNT+1 attempts, then a failed row with the traceback; the pending row carried
    the last error meanwhile; ``ztaskd --replayfailed`` runs it again with the count reset."""
    url = free_url()
    process = ztaskd(url, RETRY_COUNT=2, RETRY_AFTER=0.5)
    with sending_to(url):
        tasks.fail_times.delay("always", 1000)
        wait_until(lambda: events("always") == 2, timeout=20)
        from django.contrib.admin.sites import site

        from djworkers.ztask.admin import ZtaskTaskAdmin

        row = wait_until(lambda: ZtaskTask.objects.first(), timeout=5)
        assert "planned failure" in ZtaskTaskAdmin(ZtaskTask, site).last_error(row)
        failed = wait_until(lambda: FailedJob.objects.filter(door="ztask").first(), timeout=20)
    assert events("always") == 3
    assert failed.name == "tests.testapp.tasks.fail_times" and failed.attempts == 3
    assert "RuntimeError: always: planned failure" in failed.traceback
    assert failed.queue.startswith("ztask:") and failed.queue.endswith(url)
    assert stop(process) == 0
    time.sleep(0.5)
    assert events("always") == 3
    ztaskd(url, "--replayfailed", name="replay", RETRY_COUNT=2, RETRY_AFTER=0.2)
    wait_until(lambda: events("always") == 6 and FailedJob.objects.filter(door="ztask").exists(), timeout=30)
    again = FailedJob.objects.get(door="ztask")
    assert again.pk != failed.pk and again.attempts == 3


def test_sigkill_while_a_task_runs_runs_it_again_after_restart(ztaskd):
    """Z3/Z4: the write-ahead row outlives a SIGKILLed ztaskd; the next start on the URL runs it again."""
    url = free_url()
    process = ztaskd(url)
    with sending_to(url):
        tasks.slow.delay("killed", 3)
    wait_until(lambda: events("killed", "started") == 1, timeout=20)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not JobRun.objects.filter(key="killed").exists()
    assert ZtaskTask.objects.count() == 1  # still leased by the dead process
    ztaskd(url, name="restarted")
    wait_until(lambda: JobRun.objects.filter(key="killed").exists(), timeout=30)
    assert events("killed", "started") == 2 and not FailedJob.objects.exists()


# -- concurrency, resuming in order ---------------------------------------------------------------------
def test_tasks_run_concurrently_and_pending_rows_resume_in_order(ztaskd):
    """Z2/Z4: the default pool runs tasks at the same time (not one by one in the receive loop);
    tasks still pending when ztaskd stops run after the next start, in the order they were sent."""
    url = free_url()
    process = ztaskd(url)
    with sending_to(url):
        for n in range(4):
            tasks.slow.delay(f"together-{n}", 1.0)
    wait_until(lambda: JobRun.objects.filter(key__startswith="together-").count() == 4, timeout=30)
    starts = sorted(JobEvent.objects.filter(key__startswith="together-").values_list("at", flat=True))
    assert starts[-1] - starts[0] < 0.9  # all four started before the first finished
    assert stop(process) == 0

    process = ztaskd(url, "--worker-pool-size", "1", name="one-thread")
    with sending_to(url):
        tasks.slow.delay("blocker", 1.5)
        wait_until(lambda: events("blocker", "started"), timeout=20)
        for n in range(5):
            tasks.record.delay(f"order-{n}")
        wait_until(lambda: ZtaskTask.objects.count() == 6, timeout=10)
    assert stop(process) == 0  # the running task finishes; the five wait in the database
    assert JobRun.objects.filter(key="blocker").exists() and ZtaskTask.objects.count() == 5
    ztaskd(url, "--worker-pool-size", "1", name="resumed")
    wait_until(lambda: JobRun.objects.filter(key__startswith="order-").count() == 5, timeout=30)
    ran = list(JobRun.objects.filter(key__startswith="order-").order_by("id").values_list("key", flat=True))
    assert ran == [f"order-{n}" for n in range(5)]


# -- fan-out -----------------------------------------------------------------------------------------
def test_fan_out_to_two_nodes_runs_every_job_once_and_spares_a_node_that_is_down(ztaskd):
    """Z6: WORKER_URLS of two nodes: both get work, each job runs once (unique keys); when one
    node stops, the other takes everything sent afterwards."""
    first, second = free_url(), free_url()
    ztaskd(first, name="first")
    down = ztaskd(second, name="second")
    with sending_to(first, WORKER_URLS=[first, second]):
        tasks.record.delay("connect")
        time.sleep(0.3)
        for n in range(200):
            tasks.record.delay(f"fan-{n}")
        wait_until(lambda: JobRun.objects.filter(key__startswith="fan-").count() == 200, timeout=60)
        pids = set(JobRun.objects.values_list("pid", flat=True))
        assert len(pids) == 2
        assert stop(down) == 0
        for n in range(50):
            tasks.record.delay(f"after-{n}")
    wait_until(lambda: JobRun.objects.filter(key__startswith="after-").count() == 50, timeout=30)
    assert not FailedJob.objects.exists()

    def received() -> dict:  # each node adds to its row about every second
        return {node.url: node.received for node in ZtaskNode.objects.all()}

    wait_until(lambda: sum(received().values()) == 251, timeout=10)
    assert received()[second] > 0


# -- ON_LOAD, --multiprocess ----------------------------------------------------------------------------
def test_on_load_is_called_once_and_multiprocess_runs_tasks_in_children(ztaskd):
    """Z2/Z5: ON_LOAD runs once at start (not once per worker process); --multiprocess
    --worker-pool-size 2 runs tasks in two child processes."""
    url = free_url()
    process = ztaskd(url, "--multiprocess", "--worker-pool-size", "2", ON_LOAD=["tests.testapp.tasks.on_load"])
    # The node row is the parent's; the receiver is a child process that binds a moment later.
    wait_until(lambda: f"Receiving at {url}" in log(process.log_dir, "ztaskd"), timeout=30)
    with sending_to(url):
        for n in range(4):
            tasks.slow.delay(f"mp-{n}", 0.5)
    wait_until(lambda: JobRun.objects.filter(key__startswith="mp-").count() == 4, timeout=30)
    assert events("on-load", "called") == 1
    pids = set(JobRun.objects.values_list("pid", flat=True))
    assert process.pid not in pids and len(pids) == 2
    assert stop(process) == 0


# -- bad frames --------------------------------------------------------------------------------------
class DirectoryBomb:
    """Unpickling this calls ``os.mkdir(path)``: evidence that pickle ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_a_badly_signed_frame_is_quarantined_never_unpickled(ztaskd, tmp_path):
    """Z2 (security): bare pickle pushed to the port is refused before deserialization and
    recorded as a quarantined frame; ztaskd keeps serving."""
    url = free_url()
    ztaskd(url, "-f", str(tmp_path / "ztaskd-file.log"))
    evidence = tmp_path / "pickle-ran"
    bomb = pickle.dumps({"name": "tests.testapp.tasks.record", "args": [DirectoryBomb(evidence)]})
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.connect(url)
    push.send(bomb)
    push.send(b"not even pickle")
    quarantined = wait_until(lambda: FailedJob.objects.filter(door="ztask").count() == 2, timeout=20)
    push.close(linger=1000)
    context.term()
    assert quarantined
    rows = FailedJob.objects.filter(door="ztask")
    assert {row.reason for row in rows} == {"bad-signature"}
    assert bytes(rows.get(raw=bomb).raw) == bomb and rows.get(raw=bomb).quarantined
    assert not evidence.exists()
    assert not QueueJob.objects.exists()
    with sending_to(url):
        tasks.record.delay("still-serving")
    wait_until(lambda: JobRun.objects.filter(key="still-serving").exists(), timeout=20)
    assert "Quarantined a frame from the ztask door" in (tmp_path / "ztaskd-file.log").read_text()  # -f


def test_bad_options_and_a_taken_url_are_clear_errors(ztaskd):
    """Z2: --worker-pool-size 0 and an unknown log level are refused; a second ztaskd on a URL in
    use exits with an error naming the URL."""
    url = free_url()
    for args, expected in (
        (["--worker-pool-size", "0"], "must be at least 1"),
        (["-l", "LOUD"], "choose one of DEBUG"),
    ):
        result = run(["ztaskd", "--noreload", *args], settings=ztask_settings(url))
        assert result.returncode != 0 and expected in result.stderr, result.stderr
    ztaskd(url)
    result = run(["ztaskd", "--noreload"], settings=ztask_settings(url), timeout=60)
    assert result.returncode != 0 and f"ztaskd cannot listen at '{url}'" in result.stderr, result.stderr


def test_a_received_batch_is_written_ahead_in_arrival_order_with_after_frames_due_later():
    """Z3: a batch taken off the socket is written ahead as one statement on the receiver's own
    connection (prepared on PostgreSQL): every good frame becomes a row, in arrival order, an
    ``.after`` frame due at its time; a badly signed frame in the batch is quarantined only."""
    import threading

    from django.db import connections

    from djworkers.messages import Message, encode
    from djworkers.ztask.node import NodeSource
    from djworkers.ztask.server import Receiver

    later = time.time() + 3600
    frames = [encode(Message(tasks.record.name, args=[f"job-{i}"])) for i in range(5)]
    frames.insert(2, encode(Message(tasks.record.name, args=["after"], eta=later)))
    frames.insert(4, b"not signed")
    receiver = Receiver(free_url(), NodeSource("ztask:batch-test"))

    def store():  # in a thread, as ztaskd's receiver: its own connection, not the test's
        try:
            receiver.store(frames)
            receiver.store(frames[:1])  # the prepared statement, again
        finally:
            connections.close_all()

    try:
        thread = threading.Thread(target=store)
        thread.start()
        thread.join(30)
    finally:
        receiver.close()
    rows = list(QueueJob.objects.filter(queue="ztask:batch-test").order_by("id"))
    assert [bytes(row.frame) for row in rows] == [frame for frame in frames if frame != b"not signed"] + frames[:1]
    assert [row.available_at == later for row in rows] == [False, False, True, False, False, False, False]
    assert all(row.available_at <= time.time() and row.created is not None for row in rows if row.available_at != later)
    assert receiver.received == 7
    assert FailedJob.objects.filter(door="ztask", reason="bad-signature").count() == 1
