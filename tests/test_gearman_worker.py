"""``manage.py gearman_worker`` as users run it: processes, queues, restarts, signals (G7, G8, G3)."""

from __future__ import annotations

import signal
import time

import pytest

from djworkers.gearman import GearmanClient
from tests.gearman_helpers import functions, read, start_worker
from tests.utils import run, stop, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def gearman_jobs(clean_registry):
    """tests/gearmanapp's jobs, registered here as in the worker subprocesses."""
    from tests.gearman_helpers import register_test_jobs

    register_test_jobs()


@pytest.fixture(autouse=True)
def gearman_settings(settings, gearmand_server):
    if gearmand_server.process is None or gearmand_server.process.poll() is not None:
        gearmand_server.start()
    settings.DJWORKERS = {**settings.DJWORKERS, "GEARMAN": {"SERVERS": [gearmand_server.address]}}


@pytest.fixture
def workers(tmp_path):
    started = []

    def start(server, *args, **gearman):
        log = tmp_path / f"worker-{len(started)}.log"
        process = start_worker(server, log, *args, **gearman)
        started.append((process, log))
        return process, log

    yield start
    for process, _log in started:
        if process.poll() is None:
            stop(process)


def test_three_worker_processes_each_take_jobs(gearmand_server, workers, tmp_path):
    """G7: ``-w 3`` -> three processes, and each runs jobs (jobs record their pid)."""
    process, log = workers(gearmand_server, "-w", "3")
    path = tmp_path / "pids"
    client = GearmanClient()
    for n in range(30):
        client.dispatch_background_task("tests.record_pid", args=[str(path), n], kwargs={"pause": 0.1})
    wait_until(lambda: len(read(path).splitlines()) == 30, timeout=60)
    pids = {line.split()[0] for line in read(path).splitlines()}
    assert len(pids) == 3, read(path)
    assert str(process.pid) not in pids  # the supervisor runs no job itself
    assert stop(process) == 0, read(log)


def test_queue_option_restricts_registration(gearmand_server, workers):
    """G7: ``-q my-queue-name`` registers only that queue's jobs on gearmand."""
    process, log = workers(gearmand_server, "-q", "my-queue-name")
    wait_until(lambda: functions(gearmand_server).get("tests.gearmanapp.some_job", {}).get("workers") == 1)
    known = functions(gearmand_server)
    assert known["tests.gearmanapp.some_job"]["workers"] == 1
    assert known.get("tests.echo", {"workers": 0})["workers"] == 0
    assert GearmanClient().submit_job("tests.gearmanapp.some_job", "x", poll_timeout=20) == "queue job got x"
    assert stop(process) == 0, read(log)


def test_unknown_queue_is_a_command_error(gearmand_server):
    from tests.gearman_helpers import gearman_settings as subprocess_settings

    result = run(["gearman_worker", "-q", "nope"], settings=subprocess_settings(gearmand_server))
    assert result.returncode != 0
    assert "No Gearman job is declared with queue='nope'" in result.stderr
    assert "my-queue-name" in result.stderr


def test_worker_reconnects_after_gearmand_restarts(gearmand_server, workers):
    """G7: gearmand restarted under a running worker; the worker reconnects (back-off) and serves."""
    process, log = workers(gearmand_server)
    client = GearmanClient()
    assert client.submit_job("tests.gearmanapp.reverse", "before", poll_timeout=20) == "erofeb"
    gearmand_server.restart()
    wait_until(lambda: read(log).count("connected to gearmand") >= 2, timeout=30)
    # The same client: its kept connection died with the old gearmand; it reconnects once by itself.
    assert client.submit_job("tests.gearmanapp.reverse", "after", poll_timeout=20) == "retfa"
    assert "gearmand unreachable" in read(log)
    assert process.poll() is None
    assert stop(process) == 0, read(log)


def test_sigterm_lets_the_running_job_finish(gearmand_server, workers, tmp_path):
    """G7: graceful stop: SIGTERM during a job; the job completes, the worker exits 0."""
    process, log = workers(gearmand_server)
    path = tmp_path / "slept"
    GearmanClient().dispatch_background_task("tests.sleep", args=[1.5], path=str(path))
    wait_until(lambda: functions(gearmand_server).get("tests.sleep", {}).get("running") == 1)
    started = time.monotonic()
    assert stop(process, signal.SIGTERM) == 0, read(log)
    assert read(path).startswith("slept"), read(log)
    assert time.monotonic() - started < 10


def test_job_name_maps_public_names_to_server_names(gearmand_server, workers, settings):
    """G3: ``JOB_NAME`` namespaces the functions on gearmand; callers keep the public names."""
    process, log = workers(gearmand_server, JOB_NAME="staging.{name}")
    # "connected" is logged once CAN_DO is sent; gearmand may answer another connection's status first
    wait_until(lambda: functions(gearmand_server).get("staging.tests.echo", {}).get("workers") == 1)
    settings.DJWORKERS = {
        **settings.DJWORKERS,
        "GEARMAN": {"SERVERS": [gearmand_server.address], "JOB_NAME": "staging.{name}"},
    }
    assert GearmanClient().submit_job("tests.echo", 5, poll_timeout=20) == [[5], {}]
    assert stop(process) == 0, read(log)


def test_list_tasks_prints_queues_and_jobs(gearmand_server):
    """G8."""
    from tests.gearman_helpers import gearman_settings as subprocess_settings

    result = run(["gearman_list_tasks"], settings=subprocess_settings(gearmand_server, JOB_NAME="prod.{name}"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Queue: default" in out and "Queue: my-queue-name" in out
    assert "tests.gearmanapp.reverse  (on gearmand: prod.tests.gearmanapp.reverse)" in out
    assert out.index("Queue: my-queue-name") < out.index("tests.gearmanapp.some_job")


def test_a_held_retry_is_handed_back_on_stop_and_run_by_the_next_worker(gearmand_server, workers, tmp_path):
    """gearmand has no delayed jobs: the worker holds a retry until due; stopping hands it back."""
    first, log = workers(gearmand_server)
    path = tmp_path / "attempts"
    GearmanClient().dispatch_background_task("tests.flaky_later", kwargs={"path": str(path), "failures": 1})
    wait_until(lambda: read(path).count("attempt") == 1)
    assert stop(first) == 0, read(log)
    assert functions(gearmand_server)["tests.flaky_later"]["queued"] == 1  # back on gearmand, not lost
    workers(gearmand_server)
    wait_until(lambda: read(path).count("attempt") == 2, timeout=30)


def test_a_held_retry_is_recorded_when_gearmand_is_gone_at_stop(gearmand_server, workers, tmp_path):
    from djworkers.models import FailedJob

    first, log = workers(gearmand_server)
    path = tmp_path / "attempts"
    GearmanClient().dispatch_background_task("tests.flaky_later", kwargs={"path": str(path), "failures": 1})
    wait_until(lambda: read(path).count("attempt") == 1)
    gearmand_server.stop()
    try:
        assert stop(first) == 0, read(log)
        row = FailedJob.objects.get(door="gearman", name="tests.flaky_later")
        assert row.exception == "GearmanUnavailable" and "retry not handed back" in row.error
    finally:
        gearmand_server.start()


def test_djworkers_run_all_starts_the_gearman_worker(gearmand_server, tmp_path):
    """``djworkers_run --all`` starts ``gearman_worker`` when Gearman jobs exist and gearmand answers."""
    from tests.gearman_helpers import gearman_settings as subprocess_settings
    from tests.utils import spawn

    log = tmp_path / "run.log"
    process = spawn(["djworkers_run", "--all"], settings=subprocess_settings(gearmand_server), log=log)
    try:
        wait_until(lambda: "connected to gearmand" in read(log), timeout=60)
        assert GearmanClient().submit_job("tests.echo", 0, poll_timeout=20) == [[0], {}]
        assert stop(process, signal.SIGTERM, timeout=60) == 0, read(log)
    finally:
        if process.poll() is None:
            process.kill()
    assert "gearman | stopped" in read(log), read(log)


def test_a_worker_killed_mid_job_loses_nothing(gearmand_server, workers, tmp_path):
    """At-least-once: gearmand gives the job of a worker killed with SIGKILL to the next worker."""
    import os

    first, log = workers(gearmand_server)
    path = tmp_path / "slept"
    GearmanClient().dispatch_background_task("tests.sleep", args=[1.0], path=str(path))
    wait_until(lambda: functions(gearmand_server).get("tests.sleep", {}).get("running") == 1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    assert read(path) == ""
    second, _ = workers(gearmand_server)
    wait_until(lambda: read(path).startswith("slept"), timeout=30)
    assert read(path).split()[1] == str(second.pid)
