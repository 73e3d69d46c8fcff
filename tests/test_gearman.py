"""The Gearman door against a private gearmand and a real worker process (G1-G9).

One ``gearman_worker -w 2`` subprocess serves the whole module; each test
talks to it through ``djworkers.gearman.GearmanClient`` as an application
would. The snippets of django-gearman's README are tests here, under their
README headings.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from djworkers.gearman import GearmanClient, GearmanJobError, GearmanTimeout, GearmanUnavailable
from tests.gearman_helpers import functions, read, records, start_worker
from tests.utils import stop, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def worker(gearmand_server, django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        log = tmp_path_factory.mktemp("gearman-worker") / "worker.log"
        process = start_worker(gearmand_server, log, "-w", "2")
    yield process
    assert stop(process) == 0, read(log)


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
def client(worker):
    return GearmanClient()


# -- "Job naming" ---------------------------------------------------------------------------
def test_bare_decorator_registers_under_the_import_path_without_gearman_jobs(client):
    """G1, G2: ``@gearman_job`` alone registers; tests/gearmanapp/gearman_jobs.py:reverse -> tests.gearmanapp.reverse."""
    assert client.submit_job("tests.gearmanapp.reverse", "hello") == "olleh"


# -- "Task parameters" ----------------------------------------------------------------------
def test_readme_task_parameters_dict_and_decimal(client):
    """G4: ``client.submit_job('my-task-name', {'foo': 'becomes', 'this': 'dict'})`` and ``Decimal(1.0)``."""
    assert client.submit_job("readme.my-task-name", {"foo": "becomes", "this": "dict"}) == {
        "foo": {"foo": "becomes", "this": "dict"},
        "type": "dict",
    }
    assert client.submit_job("readme.my-task-name", Decimal(1.0)) == {"foo": Decimal(1), "type": "Decimal"}


# -- "Tasks with more than one parameter" ---------------------------------------------------
def test_readme_several_parameters_by_keyword_and_by_args(client):
    """G4: ``submit_job('my-task-name', one=1, two=2, three=3)`` and ``args=[1, 2, 3]``."""
    assert client.submit_job("readme.three", one=1, two=2, three=3) == [1, 2, 3]
    assert client.submit_job("readme.three", args=[1, 2, 3]) == [1, 2, 3]


def test_readme_several_positional_arguments_are_an_error_naming_args(client):
    """G4: ``submit_job('my-task-name', 1, 2, 3)`` "would produce the error": a clear one."""
    with pytest.raises(TypeError, match=r"args=\[1, 2, 3\]"):
        client.submit_job("readme.three", 1, 2, 3)
    with pytest.raises(TypeError, match="either as data or as args"):
        client.submit_job("readme.three", 1, args=[2, 3])


def test_readme_reserved_keywords_go_through_kwargs_or_args(client):
    """G4: a job with parameters named ``background`` and ``unique``."""
    assert client.submit_job("readme.reserved", kwargs={"background": True, "unique": False}) == {
        "background": True,
        "unique": False,
    }
    assert client.submit_job("readme.reserved", args=[True, False]) == {"background": True, "unique": False}


def test_readme_finally_reserved_keywords_for_gearman_and_kwargs_for_the_job(client, tmp_path):
    """G4: ``submit_job(name, background=True, unique=True, kwargs={"background": False, "unique": False})``:
    gearmand gets a background job, the job gets False, False."""
    path = tmp_path / "record.jsonl"
    handle = client.submit_job(
        "tests.record", background=True, unique=True, kwargs={"path": str(path), "background": False, "unique": False}
    )
    assert isinstance(handle, str) and handle
    wait_until(lambda: path.exists())
    assert records(path) == [[[], {"background": False, "unique": False}]]


@pytest.mark.parametrize("value", [0, "", [], None, False, {}])
def test_a_falsy_single_argument_reaches_the_job(client, value):
    """Old bug (G4): a falsy ``data`` was dropped. Here it is the job's one argument."""
    assert client.submit_job("tests.echo", value) == [[value], {}]
    assert client.submit_job("tests.echo", data=value) == [[value], {}]


def test_no_data_means_no_argument(client):
    assert client.submit_job("tests.echo") == [[], {}]


# -- G5: values, errors, timeouts, threads ---------------------------------------------------
def test_foreground_returns_the_value_and_a_job_exception_raises_gearman_job_error(client):
    """G5: the remote type and message reach the caller."""
    with pytest.raises(GearmanJobError) as caught:
        client.submit_job("tests.boom", "no such thing")
    assert caught.value.remote_type == "ValueError"
    assert caught.value.remote_message == "no such thing"
    assert "tests.boom" in str(caught.value) and "ValueError: no such thing" in str(caught.value)
    assert "raise ValueError(message)" in caught.value.remote_traceback


def test_a_function_no_worker_serves_ends_with_the_callers_timeout(client):
    # No worker serves the function: the job stays queued, so the caller's poll_timeout ends it.
    with pytest.raises(GearmanTimeout):
        client.submit_job("tests.nobody-serves-this", 1, poll_timeout=0.5)


def test_timeout_raises_and_the_next_call_gets_its_own_answer(client):
    """G5: poll_timeout -> GearmanTimeout (a TimeoutError); the thread's client is reset, so the
    late answer of the slow job cannot be taken for the next call's."""
    with pytest.raises(TimeoutError) as caught:
        client.submit_job("tests.sleep", 1.0, poll_timeout=0.3)
    assert isinstance(caught.value, GearmanTimeout)
    assert client.submit_job("tests.gearmanapp.reverse", "next") == "txen"
    assert client.submit_job("tests.echo", 7) == [[7], {}]


def test_one_client_from_eight_threads_gets_each_call_its_own_result(client):
    """G5: pygearman clients are not thread-safe; ours keeps one connection per thread."""
    failures: list[str] = []

    def calls(n: int) -> None:
        try:
            for i in range(10):
                value = f"t{n}-{i}"
                if client.submit_job("tests.gearmanapp.reverse", value) != value[::-1]:
                    failures.append(value)
                if client.submit_job("tests.echo", n, index=i) != [[n], {"index": i}]:
                    failures.append(f"echo {n} {i}")
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=calls, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []


def test_wait_until_complete_false_returns_a_submitted_job(client):
    pending = client.submit_job("tests.gearmanapp.reverse", "later", wait_until_complete=False)
    assert pending.handle
    assert pending.result(poll_timeout=20) == "retal"


def test_unreachable_server_is_a_clear_error(worker, settings):
    from tests.services import free_port

    settings.DJWORKERS = {**settings.DJWORKERS, "GEARMAN": {"SERVERS": [f"127.0.0.1:{free_port()}"]}}
    with pytest.raises(GearmanUnavailable, match="Could not submit job 'tests.echo'"):
        GearmanClient().submit_job("tests.echo", 1)


# -- "Background Tasks" (G6) -----------------------------------------------------------------
def test_dispatch_background_task_is_a_real_background_job(client, tmp_path):
    """G6: ``client.dispatch_background_task(name, data)`` returns at once with a handle; the job runs."""
    path = tmp_path / "bg.jsonl"
    handle = client.dispatch_background_task("tests.record", str(path))
    assert handle.startswith("H:")
    wait_until(lambda: path.exists())
    assert records(path) == [[[], {}]]


def test_background_unique_jobs_are_coalesced_and_priorities_accepted(client):
    """G6: two background submissions with one unique key while queued are one job; priorities go
    through (a function no worker serves keeps them queued, as gearmand's status shows)."""
    function = "tests.unserved-for-unique"
    for _ in range(2):
        client.dispatch_background_task(function, 1, unique="same-key")
    client.dispatch_background_task(function, 2, priority="high")
    client.dispatch_background_task(function, 3, priority="low")
    with pytest.raises(ValueError, match="priority must be one of"):
        client.dispatch_background_task(function, 4, priority="urgent")
    assert functions(client_server(client))[function]["queued"] == 3


def client_server(client):
    class _Server:
        port = client.servers[0][1]

    return _Server


def test_background_failure_is_retried_then_succeeds(client, tmp_path):
    """Background failures follow the retry policy (tests.flaky: retries=2, retry_delay=0.2)."""
    path = tmp_path / "attempts"
    client.dispatch_background_task("tests.flaky", kwargs={"path": str(path), "failures": 1})
    wait_until(lambda: read(path).count("attempt") >= 2)


def test_background_failure_ends_in_the_failed_job_store_and_replays(client):
    """A background job that keeps failing is recorded (door gearman); replay sends it back to gearmand."""
    from djworkers.models import FailedJob
    from djworkers.runtime.replay import replay

    client.dispatch_background_task("tests.boom", "for the store")
    failed = wait_until(lambda: FailedJob.objects.filter(door="gearman", name="tests.boom").first())
    assert failed.exception == "ValueError" and failed.error == "for the store"
    assert failed.backend == "gearmand" and failed.reason == "exception"
    assert "re-enqueued" in replay(failed)
    assert not FailedJob.objects.filter(pk=failed.pk).exists()
    wait_until(lambda: FailedJob.objects.filter(door="gearman", name="tests.boom").exists())


def tampered_frame() -> bytes:
    from djworkers.messages import Message, encode

    frame = bytearray(encode(Message(name="tests.echo", args=(1,), options={"foreground": True})))
    frame[-1] ^= 0x01
    return bytes(frame)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(lambda: __import__("pickle").dumps({"evil": True}), id="unsigned-pickle"),
        pytest.param(tampered_frame, id="tampered-signed-frame"),
    ],
)
def test_unsigned_or_tampered_frames_are_rejected_and_quarantined(worker, gearmand_server, payload):
    """Payloads are signed frames: the worker answers an error and records the frame, never unpickles it."""
    import gearman

    from djworkers.models import FailedJob

    data = payload()
    raw = gearman.GearmanClient([gearmand_server.address])
    try:
        request = raw.submit_job(b"tests.echo", data, poll_timeout=20)
        if request.state != "COMPLETE":
            raw.wait_until_jobs_completed([request], poll_timeout=20)
        with pytest.raises(GearmanJobError) as caught:
            from djworkers.gearman import results

            results.read("tests.echo", request.result)
        assert caught.value.remote_type == "BadSignature"
    finally:
        raw.shutdown()
    row = wait_until(lambda: FailedJob.objects.filter(door="gearman", reason="bad-signature").first())
    assert row.queue == "tests.echo" and bytes(row.raw) == data


# -- status, checks, djworkers_run ------------------------------------------------------------
def test_status_section_from_gearmand_admin_status(client):
    """The door's section: queued, running, workers per function, from gearmand's ``status``."""
    from djworkers.doors import get_door
    from djworkers.monitoring.status import StatusOptions

    client.submit_job("tests.echo", 1)
    section = get_door("gearman").status(StatusOptions())
    assert section["healthy"], section["problems"]
    rows = {row["function"]: row for row in section["rows"]}
    assert rows["tests.echo"]["workers"] == 2
    assert rows["tests.echo"]["job"] == "tests.echo"
    assert rows["tests.gearmanapp.some_job"]["workers"] == 2


def test_status_reports_an_unreachable_gearmand(settings):
    from djworkers.doors import get_door
    from djworkers.monitoring.status import StatusOptions
    from tests.services import free_port

    settings.DJWORKERS = {**settings.DJWORKERS, "GEARMAN": {"SERVERS": [f"127.0.0.1:{free_port()}"]}}
    section = get_door("gearman").status(StatusOptions())
    assert not section["healthy"] and "unreachable" in section["problems"][0]


def test_djworkers_run_all_wants_the_worker_when_jobs_exist_and_gearmand_answers(settings):
    from djworkers.doors import get_door
    from tests.services import free_port

    (command,) = get_door("gearman").workers()
    assert command.argv == ("gearman_worker",)
    assert command.wanted()
    settings.DJWORKERS = {**settings.DJWORKERS, "GEARMAN": {"SERVERS": [f"127.0.0.1:{free_port()}"]}}
    assert not command.wanted()


def test_a_server_down_in_the_list_is_skipped(client, gearmand_server):
    """SERVERS with a dead entry: connections go to the one that answers."""
    from tests.services import free_port

    both = GearmanClient([f"127.0.0.1:{free_port()}", gearmand_server.address])
    for n in range(5):
        both.reset()
        assert both.submit_job("tests.echo", n, poll_timeout=20) == [[n], {}]
