"""The ztask door in the caller's process (Z1, Z5-Z7): the decorator, the client socket, the settings.

Real ZeroMQ sockets on 127.0.0.1 free ports; the tests that need a real ztaskd are
in tests/test_ztaskd.py.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest
from django.core import checks
from django.test import override_settings

from djworkers import conf, signals
from djworkers.exceptions import BadSignature, SerializationError
from djworkers.messages import decode
from djworkers.registry import registry
from djworkers.serializers.signing import unsign
from djworkers.ztask import ZtaskUnavailable, task
from djworkers.ztask import client as ztask_client
from tests.testapp import tasks
from tests.testapp.models import JobRun
from tests.ztask_utils import Pull, counting_pull, free_url


def ztask(**values):
    return override_settings(DJWORKERS={"STATS": {"ENABLED": False}, "ZTASK": values})


@pytest.fixture
def pull():
    sink = Pull()
    with ztask(URL=sink.url, SEND_TIMEOUT=2):
        yield sink
    ztask_client.reset()
    sink.close()


def frames_of(sink: Pull, n: int, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while len(sink.frames) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return [decode(frame) for frame in sink.frames]


# -- Z1: the decorator --------------------------------------------------------------------------------
def test_both_decorator_forms_leave_the_function_callable_and_add_the_calls(clean_registry):
    """Z1: @task() and bare @task; the function still runs when called; .delay/.async_/async/.after."""

    @task()
    def double(x):
        return 2 * x

    @task
    def triple(x):
        return 3 * x

    assert double(4) == 8 and triple(4) == 12
    for function in (double, triple):
        assert callable(function.delay) and callable(function.async_) and callable(function.after)
        assert getattr(function, "async") == function.delay
        assert registry.get(function.name).door == "ztask"
    assert (
        double.name
        == f"{__name__}.test_both_decorator_forms_leave_the_function_callable_and_add_the_calls.<locals>.double"
    )
    assert double.__doc__ is None and double.__name__ == "double"


def test_delay_async_and_after_push_signed_messages(pull):
    """Z1: each call sends one signed envelope naming the task; .after carries its due time."""
    before = time.time()
    ids = [
        tasks.print_this.delay("a"),
        tasks.print_this.async_("b"),
        getattr(tasks.print_this, "async")("c"),
        tasks.print_this.after(2.5, what_to_print="d"),
    ]
    messages = frames_of(pull, 4)
    assert [m.id for m in messages] == ids
    assert [m.name for m in messages] == ["tests.testapp.tasks.print_this"] * 4
    assert [m.args for m in messages[:3]] == [("a",), ("b",), ("c",)]
    assert messages[3].kwargs == {"what_to_print": "d"}
    assert messages[0].eta is None and before + 2.5 <= messages[3].eta <= time.time() + 2.5


@pytest.mark.parametrize("serializer", ["pickle", "json"])
def test_delay_sends_the_core_envelope_with_the_configured_serializer(serializer):
    """Z1, D7, X2: the frame .delay() writes (without building a Message) is the core's signed
    envelope in the configured serializer: decode() reads every field back."""
    sink = Pull()
    settings = {"STATS": {"ENABLED": False}, "SERIALIZER": serializer, "ZTASK": {"URL": sink.url, "SEND_TIMEOUT": 2}}
    try:
        with override_settings(DJWORKERS=settings):
            before = time.time()
            message_id = tasks.print_this.delay("x", what=[1, 2])
            (message,) = frames_of(sink, 1)
            # the MAC is 32 raw bytes and may hold a newline: read the body after the header
            assert unsign(sink.frames[0]).split(b"\n", 1)[0] == serializer.encode()
            ztask_client.reset()
    finally:
        sink.close()
    assert (message.id, message.name, message.args, message.kwargs) == (
        message_id,
        "tests.testapp.tasks.print_this",
        ("x",),
        {"what": [1, 2]},
    )
    assert (message.queue, message.attempt, message.eta, message.options) == ("ztask", 0, None, {})
    assert before <= message.enqueued_at <= time.time()


def test_an_argument_that_cannot_be_serialized_is_named_at_the_call(pull):
    """Z1, D7: an unpicklable argument raises SerializationError naming it; nothing is sent."""
    with pytest.raises(SerializationError, match="positional argument 1 of type lock"):
        tasks.print_this.delay("fine", threading.Lock())
    tasks.print_this.delay("next")
    assert [m.args for m in frames_of(pull, 1)] == [("next",)]


def test_a_new_signing_key_signs_the_next_delay():
    """X2: the client keeps the signing key of its settings; a changed SECRET_KEY (the default
    signing key) drops it, so the next call is signed with the new key."""
    sink = Pull()
    try:
        with ztask(URL=sink.url, SEND_TIMEOUT=2):
            for n, key in enumerate(("first-secret-key", "second-secret-key"), 1):
                with override_settings(SECRET_KEY=key):
                    tasks.print_this.delay(key)
                    deadline = time.monotonic() + 5
                    while len(sink.frames) < n and time.monotonic() < deadline:
                        time.sleep(0.01)
                    assert decode(sink.frames[-1]).args == (key,)  # verifies with this key only
            with override_settings(SECRET_KEY="second-secret-key"), pytest.raises(BadSignature):
                decode(sink.frames[0])
    finally:
        ztask_client.reset()
        sink.close()


def test_job_enqueued_receivers_get_the_message(pull):
    """X6: job_enqueued is sent for a .delay() when someone listens, with the message sent."""
    seen = []

    def receiver(sender, message, backend, **kwargs):
        seen.append((sender, message, backend))

    signals.job_enqueued.connect(receiver)
    try:
        message_id = tasks.print_this.after(5, "announced")
    finally:
        signals.job_enqueued.disconnect(receiver)
    tasks.print_this.delay("quiet")
    sent = frames_of(pull, 2)
    assert len(seen) == 1 and seen[0][0] == "ztask" and seen[0][2] == "zeromq"
    assert seen[0][1] == sent[0] and seen[0][1].id == message_id


@pytest.mark.parametrize(
    "seconds, error",
    [(-1, ValueError), ("5", TypeError), (None, TypeError), (True, TypeError), (float("nan"), TypeError)],
)
def test_after_rejects_a_bad_delay_at_the_call(pull, seconds, error):
    """Z1: a negative or non-number delay is an error at the call, not a dropped job."""
    with pytest.raises(error, match=r"print_this.after\(seconds"):
        tasks.print_this.after(seconds, "x")
    tasks.print_this.after(0, "ok")  # 0 and floats are fine
    tasks.print_this.after(0.5, "ok")
    assert [m.args for m in frames_of(pull, 2)] == [("ok",), ("ok",)]


# -- Z5: ALWAYS_EAGER, DISABLED --------------------------------------------------------------------------
@pytest.mark.django_db
def test_always_eager_runs_in_process_and_raises_the_tasks_error():
    """Z5: ALWAYS_EAGER runs .delay/.after here (through the executor); an error reaches the caller."""
    with ztask(URL=free_url(), ALWAYS_EAGER=True):
        tasks.record.delay("eager-1")
        tasks.record.after(60, "eager-2")  # no waiting in eager mode, as the original
        assert set(JobRun.objects.values_list("key", flat=True)) == {"eager-1", "eager-2"}
        with pytest.raises(RuntimeError, match="planned failure"):
            tasks.fail_times.delay("eager-fail", 5)
        assert ztask_client._client is None  # no socket was made


@pytest.mark.django_db
def test_disabled_logs_the_call_and_runs_nothing(caplog):
    """Z5: DISABLED logs the task and its arguments and does not run or send it."""
    with ztask(URL=free_url(), DISABLED=True, ALWAYS_EAGER=True), caplog.at_level(logging.INFO, "djworkers.ztask"):
        tasks.record.delay("disabled-1")
        tasks.record.after(1, "disabled-2")
    assert not JobRun.objects.exists()
    assert "tests.testapp.tasks.record('disabled-1',)" in caplog.text
    assert ztask_client._client is None


# -- Z7: no ztaskd, the socket per process ----------------------------------------------------------------
def test_delay_without_a_ztaskd_raises_within_the_send_timeout():
    """Z7: nobody listening: .delay raises a clear error after SEND_TIMEOUT, never blocks for ever."""
    url = free_url()
    with ztask(URL=url, SEND_TIMEOUT=0.3):
        try:
            started = time.monotonic()
            with pytest.raises(
                ZtaskUnavailable, match=r'No ztaskd at .* within 0.3 s \(DJWORKERS\["ZTASK"\]\["SEND_TIMEOUT"\]\)'
            ):
                tasks.print_this.delay("nobody")
            assert 0.25 <= time.monotonic() - started < 1.5
        finally:
            ztask_client.reset()


@pytest.mark.django_db
def test_on_unreachable_run_runs_the_task_in_process():
    """Z7: ON_UNREACHABLE = "run": a task nobody took in time runs here instead of being lost."""
    with ztask(URL=free_url(), SEND_TIMEOUT=0.2, ON_UNREACHABLE="run"):
        try:
            tasks.record.delay("fallback")
        finally:
            ztask_client.reset()
    assert JobRun.objects.filter(key="fallback").exists()


@pytest.mark.slow
def test_100k_delays_keep_the_open_file_descriptors_flat():
    """Z7: one socket per process: 100,000 .delay() calls to a real PULL socket (another
    process) open no file descriptors, and every message arrives."""
    url = free_url()
    counter = counting_pull(url)
    try:
        with ztask(URL=url, SEND_TIMEOUT=5):
            tasks.print_this.delay("warm-up")  # the one socket (and its context's fds) exist from here
            fds_before = len(os.listdir("/proc/self/fd"))
            for n in range(100_000):
                tasks.print_this.delay(n)
            fds_after = len(os.listdir("/proc/self/fd"))
            ztask_client.client().send_frame(b"END")
            ztask_client.reset()
        assert abs(fds_after - fds_before) <= 2
        assert int(counter.communicate(timeout=60)[0].split()[-1]) == 100_001
    finally:
        counter.kill()
        counter.wait()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_sends_on_its_own_socket(pull):
    """Z7: after fork the child makes its own socket; the parent's keeps working."""
    tasks.print_this.delay("parent-before")
    parent_client = ztask_client.client()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            tasks.print_this.delay("child")
            child_client = ztask_client.client()
            code = 0 if child_client is not parent_client and child_client.pid == os.getpid() else 2
            ztask_client.reset()  # flush (LINGER) before leaving
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    tasks.print_this.delay("parent-after")
    assert ztask_client.client() is parent_client
    assert sorted(m.args[0] for m in frames_of(pull, 3)) == ["child", "parent-after", "parent-before"]


def test_worker_urls_connect_to_every_node_and_skip_one_that_is_down():
    """Z6: messages are spread over the nodes of WORKER_URLS; a node that is not up gets none."""
    first, second = Pull(), Pull()
    down = free_url()
    try:
        with ztask(WORKER_URLS=[first.url, down, second.url], SEND_TIMEOUT=2):
            tasks.print_this.delay("connect")
            time.sleep(0.2)  # let both connections complete
            for n in range(100):
                tasks.print_this.delay(n)
            deadline = time.monotonic() + 5
            while first.count + second.count < 101 and time.monotonic() < deadline:
                time.sleep(0.01)
            ztask_client.reset()
        assert first.count + second.count == 101
        assert first.count >= 30 and second.count >= 30
    finally:
        first.close()
        second.close()


# -- settings ---------------------------------------------------------------------------------------------
def test_old_ztaskd_settings_are_honoured():
    """Z5: the old flat names of django-ztask map to DJWORKERS["ZTASK"] (check W001 warns)."""
    with override_settings(
        ZTASKD_URL="tcp://127.0.0.1:7777",
        ZTASKD_RETRY_COUNT=2,
        ZTASKD_RETRY_AFTER=1,
        ZTASKD_ALWAYS_EAGER=True,
        ZTASKD_DISABLED=False,
        ZTASKD_ON_LOAD=("a.b",),
        ZTASKD_WORKER_URLS=["tcp://127.0.0.1:7778"],
    ):
        settings = conf.section("ZTASK")
        assert settings["URL"] == "tcp://127.0.0.1:7777" and settings["RETRY_COUNT"] == 2
        assert settings["ALWAYS_EAGER"] is True and settings["ON_LOAD"] == ("a.b",)
        assert settings["WORKER_URLS"] == ["tcp://127.0.0.1:7778"]


@pytest.mark.parametrize(
    "values, error_id",
    [
        ({"URL": "localhost:5555"}, "djworkers.E401"),
        ({"WORKER_URLS": ["tcp://127.0.0.1:1", 5]}, "djworkers.E401"),
        ({"RETRY_COUNT": -1}, "djworkers.E402"),
        ({"RETRY_AFTER": "5"}, "djworkers.E403"),
        ({"SEND_TIMEOUT": 0}, "djworkers.E403"),
        ({"ON_LOAD": ["no.such.module.fn"]}, "djworkers.E404"),
        ({"ON_LOAD": "tests.testapp.tasks.on_load"}, "djworkers.E404"),
        ({"DISABLED": "yes"}, "djworkers.E405"),
        ({"ON_UNREACHABLE": "drop"}, "djworkers.E406"),
        ({"ALWAYS_EAGER": True, "DISABLED": True}, "djworkers.W401"),
    ],
)
def test_checks_name_the_bad_setting(values, error_id):
    from djworkers.ztask.checks import check

    with ztask(**values):
        found = [message for message in check() if message.id == error_id]
    assert found, error_id
    assert 'DJWORKERS["ZTASK"]' in found[0].msg
    assert all(isinstance(m, checks.CheckMessage) for m in found)


def test_defaults_are_valid():
    from djworkers.ztask.checks import check

    with ztask():
        assert list(check()) == []


# -- the door on the seam -----------------------------------------------------------------------------
def test_djworkers_run_all_starts_ztaskd_when_tasks_are_registered(clean_registry):
    """Z2: the door's worker command is ztaskd, wanted by --all when @task functions exist."""
    from djworkers.management.commands.djworkers_run import worker_commands

    ztaskd = next(w for w in worker_commands() if w.name == "ztaskd")
    assert ztaskd.argv == ("ztaskd", "--noreload")
    assert ztaskd.wanted()  # tests/testapp/tasks.py was autodiscovered
    for job in registry.by_door("ztask"):
        registry.unregister(job.name)
    assert not ztaskd.wanted()


def test_replay_of_a_failed_task_sends_it_to_a_ztaskd(pull, db):
    """Z4: the admin's / djworkers_failed's replay hands a failed ztask task to ztaskd again."""
    from djworkers.messages import Message, encode
    from djworkers.models import FailedJob
    from djworkers.runtime.replay import replay

    message = Message("tests.testapp.tasks.record", args=("replayed",), attempt=5, queue="ztask:h:u")
    failed = FailedJob.objects.create(
        door="ztask", backend="database", reason="exception", raw=encode(message), name=message.name
    )
    assert "re-enqueued" in replay(failed)
    sent = frames_of(pull, 1)[0]
    assert sent.id == message.id and sent.attempt == 0 and sent.args == ("replayed",)
    assert not FailedJob.objects.exists()


@pytest.mark.django_db
def test_status_section_per_node_and_admin_pages(admin_client):
    """Z2: the status section has one row per node (received, pending, scheduled, running, failed);
    the admin lists the nodes and the tasks they hold."""
    from django.utils import timezone

    from djworkers.messages import Message, encode
    from djworkers.models import FailedJob
    from djworkers.monitoring.status import collect
    from djworkers.queue.models import QueueJob
    from djworkers.ztask.models import ZtaskNode

    queue = "ztask:host:tcp://127.0.0.1:5555"
    ZtaskNode.objects.create(queue=queue, url="tcp://127.0.0.1:5555", host="host", received=7, last_seen=timezone.now())
    frame = encode(
        Message(
            "tests.testapp.tasks.record",
            args=("x",),
            attempt=2,
            options={"last_error": "Traceback ... RuntimeError: boom"},
        )
    )
    QueueJob.objects.create(queue=queue, frame=frame, available_at=time.time() - 1)
    QueueJob.objects.create(queue=queue, frame=frame, available_at=time.time() + 60)
    QueueJob.objects.create(queue="default", frame=frame, available_at=time.time())  # a queue job: not ztask's
    FailedJob.objects.create(door="ztask", queue=queue, reason="exception", raw=frame)
    section = next(s for s in collect()["sections"] if s["door"] == "ztask")
    assert section["rows"] == [
        {
            "node": "tcp://127.0.0.1:5555 (host)",
            "state": "up",
            "received": 7,
            "pending": 1,
            "scheduled": 1,
            "running": 0,
            "failed": 1,
            "last_seen": section["rows"][0]["last_seen"],
        }
    ]
    page = admin_client.get("/admin/djworkers/ztasktask/").content.decode()
    assert page.count("tests.testapp.tasks.record") == 2 and "scheduled" in page and "pending" in page
    task_id = QueueJob.objects.filter(queue=queue).first().pk
    detail = admin_client.get(f"/admin/djworkers/ztasktask/{task_id}/change/").content.decode()
    assert "RuntimeError: boom" in detail
    assert "tcp://127.0.0.1:5555" in admin_client.get("/admin/djworkers/ztasknode/").content.decode()


def test_ztaskd_registry_view_is_reused_until_the_job_is_registered_again():
    """Z4: ztaskd's view of a ztask job (RETRY_COUNT retries every RETRY_AFTER s) is built once
    per registered job, and built again when the name is registered anew; other doors' jobs
    are passed through unchanged."""
    from djworkers.registry import Job
    from djworkers.ztask.node import TaskJobs

    class Base:
        def __init__(self):
            self.jobs = {"t": Job("t", print, door="ztask"), "q": Job("q", print, door="queue")}

        def get(self, name):
            return self.jobs[name]

        def names(self):
            return list(self.jobs)

    base = Base()
    view = TaskJobs(base, retries=3, delay=2.0)
    first = view.get("t")
    assert (first.retries, first.retry_delay, first.retry_backoff) == (3, 2.0, 1.0)
    assert view.get("t") is first
    assert view.get("q") is base.jobs["q"]
    base.jobs["t"] = Job("t", print, door="ztask", retries=1)
    assert view.get("t").retries == 1
