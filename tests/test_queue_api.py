"""The queue front door in-process: decorator, class form, eager mode, backend selection (Q1-Q4, Q7).

Fast tests on the memory backend (same process), plus the database backend where
the point is what lands in the table.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.test import override_settings

from djworkers import signals
from djworkers.exceptions import DjworkersImproperlyConfigured, DuplicateJob, ResultsNotEnabled, SerializationError
from djworkers.messages import Message, decode, encode
from djworkers.queue import (
    JobHandle,
    QueueCommand,
    enqueue_message,
    get_backend,
    invoker,
    queue_command,
)
from djworkers.queue.api import build_backend, reset_backends
from djworkers.queue.backends import backend_class
from djworkers.queue.backends.database import DatabaseBackend
from djworkers.queue.backends.memory import MemoryBackend
from djworkers.registry import registry
from djworkers.runtime.executor import Executor, Outcome

MEMORY = {
    "WORKER": {"SHUTDOWN_TIMEOUT": 10, "HEARTBEAT_INTERVAL": 1},
    "QUEUE": {"BACKEND": "memory", "CONNECTION": "test-queue-api"},
}


@pytest.fixture
def memory_queue(clean_registry):
    with override_settings(DJWORKERS=MEMORY):
        backend = get_backend(["default", "other"])
        backend.flush()
        yield backend
        backend.flush()
    reset_backends()


def take_all(backend) -> list:
    messages = []
    while (raw := backend.read()) is not None:
        messages.append(decode(raw))
    return messages


# -- @queue_command ----------------------------------------------------------------------------
def test_calling_enqueues_and_returns_a_handle(memory_queue):
    """Q1: calling a @queue_command enqueues it and returns at once with the job id."""
    ran = []

    @queue_command
    def add(a, b=0):
        ran.append((a, b))

    handle = add(1, b=2)
    assert isinstance(handle, JobHandle)
    assert handle.stores_result is False  # results are opt-in (Q12)
    with pytest.raises(ResultsNotEnabled, match="result=True"):
        handle.get(timeout=0)
    assert ran == []  # not run here
    (message,) = take_all(memory_queue)
    assert message.id == handle.id
    assert message.name == handle.name == add.name
    assert (message.args, message.kwargs, message.queue) == ((1,), {"b": 2}, "default")


def test_job_name_is_module_and_function(memory_queue):
    from tests.testapp.commands import churn_data, record_run

    assert churn_data.name == "tests.testapp.commands.churn_data"
    assert registry.get(record_run.name).func is record_run.job.func
    assert churn_data.__doc__.startswith("The djutils README example")


def test_options_reach_the_registry_and_the_queue(memory_queue):
    @queue_command(queue="other", retries=4, retry_delay=1.5, retry_backoff=3)
    def job():
        pass

    declared = registry.get(job.name)
    assert (declared.queue, declared.retries, declared.retry_delay, declared.retry_backoff) == ("other", 4, 1.5, 3)
    job()
    assert memory_queue.stats("other")["ready"] == 1
    assert memory_queue.stats("default")["ready"] == 0


def test_bad_options_are_rejected_at_declaration(clean_registry):
    with pytest.raises(ValueError, match="retries"):
        queue_command(retries=-1)(lambda: None)
    with pytest.raises(TypeError):
        queue_command(retry=3)(lambda: None)  # typo of retries


def test_two_functions_cannot_share_a_name(clean_registry):
    queue_command(name="shared.name")(lambda: 1)

    def other():
        pass

    with pytest.raises(DuplicateJob):
        queue_command(name="shared.name")(other)


def test_call_local_runs_inline(memory_queue):
    @queue_command
    def double(x):
        return 2 * x

    assert double.call_local(21) == 42
    assert len(memory_queue) == 0


def test_schedule_with_delay_is_not_ready_yet(memory_queue):
    @queue_command
    def later():
        pass

    handle = later.schedule(delay=60)
    assert handle.eta == pytest.approx(time.time() + 60, abs=5)
    assert memory_queue.stats() == {"ready": 0, "scheduled": 1, "in_flight": 0}
    with pytest.raises(TypeError, match="eta or delay"):
        later.schedule(eta=time.time(), delay=1)


def test_unpicklable_argument_fails_at_enqueue_naming_the_job(memory_queue):
    @queue_command
    def takes(anything):
        pass

    with pytest.raises(SerializationError, match="takes.*positional argument 0 of type lock"):
        takes(threading.Lock())
    assert len(memory_queue) == 0


def test_job_enqueued_signal(memory_queue):
    """X6: job_enqueued is sent with the message."""
    seen = []

    def receiver(sender, message, **kwargs):
        seen.append((sender, message.name))

    @queue_command
    def signalled():
        pass

    signals.job_enqueued.connect(receiver)
    try:
        signalled()
    finally:
        signals.job_enqueued.disconnect(receiver)
    assert seen == [("queue", signalled.name)]


def test_the_framed_enqueue_writes_what_encode_writes(memory_queue):
    """Q1, Q14, D7: a call's frame (made by the Framer, without a Message) decodes to the envelope
    ``encode(Message(...))`` gives, options included; the signal's Message is the same job."""
    seen = []

    def receiver(sender, message, **kwargs):
        seen.append(message)

    @queue_command(queue="other", result=True)
    def framed(a, b=None):
        pass

    due = time.time() - 1  # due already: the memory backend hands it out at once
    signals.job_enqueued.connect(receiver)
    try:
        handle = framed.schedule(args=(1,), kwargs={"b": [2]}, eta=due, priority=5)
    finally:
        signals.job_enqueued.disconnect(receiver)
    (written,) = take_all(memory_queue)
    expected = Message(
        framed.name,
        (1,),
        {"b": [2]},
        "other",
        handle.id,
        eta=due,
        enqueued_at=written.enqueued_at,
        options={"priority": 5, "result": True},
    )
    assert written == expected and seen == [expected]
    assert decode(encode(expected)) == expected
    assert handle == JobHandle(handle.id, framed.name, "other", due, stores_result=True)


def test_enqueued_job_runs_through_the_executor(memory_queue):
    """The frame a call writes is what a consumer runs: decode + core executor."""
    out = []

    @queue_command
    def collect(value):
        out.append(value)
        return value

    collect({"k": [1, 2]})
    (delivery,) = memory_queue.fetch(1, 0.5)
    result = Executor("queue").run(decode(delivery.raw), raw=delivery.raw)
    assert result.outcome is Outcome.SUCCEEDED
    assert out == [{"k": [1, 2]}]


# -- QueueCommand ---------------------------------------------------------------------------------
def test_queue_command_class_registers_and_enqueues(memory_queue):
    """Q2: subclasses register under module.ClassName; MyCommand(data).enqueue() queues it."""
    done = []

    class Greet(QueueCommand):
        retries = 2

        def execute(self):
            done.append(f"hello {self.data}")
            return self.get_data()

    name = f"{__name__}.{Greet.__qualname__}"
    assert registry.get(name).retries == 2
    handle = Greet("world").enqueue()
    invoker.enqueue(Greet("again"))  # the old djutils spelling
    messages = take_all(memory_queue)
    assert [m.name for m in messages] == [name, name]
    assert messages[0].id == handle.id
    for message in messages:
        Executor("queue").run(message)
    assert done == ["hello world", "hello again"]


def test_abstract_queue_command_is_not_registered(clean_registry):
    before = set(registry.names())

    class Base(QueueCommand):
        abstract = True

    class Concrete(Base):
        def execute(self):
            return 1

    assert set(registry.names()) - before == {f"{__name__}.{Concrete.__qualname__}"}


def test_execute_not_implemented_names_the_class(memory_queue):
    class Forgot(QueueCommand):
        pass

    with pytest.raises(NotImplementedError, match="Forgot must implement execute"):
        Forgot(1).execute()


# -- eager mode -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_always_eager_runs_inline_after_a_round_trip(clean_registry):
    """Q7: eager runs now, through the serializer (the job sees a copy, not the caller's object)."""
    seen = []

    @queue_command
    def mutate(items):
        items.append("job")
        seen.append(items)
        return len(items)

    mine = ["caller"]
    with override_settings(DJWORKERS={"QUEUE": {"ALWAYS_EAGER": True}}):
        handle = mutate(mine)
    assert handle.eager and handle.result == 2
    assert seen == [["caller", "job"]]
    assert mine == ["caller"], "eager mode must round-trip arguments, not pass the object"


@pytest.mark.django_db
def test_always_eager_fails_like_production_on_unpicklable_args(clean_registry):
    @queue_command
    def takes(anything):
        pass

    with override_settings(DJWORKERS={"QUEUE": {"ALWAYS_EAGER": True}}):
        with pytest.raises(SerializationError):
            takes(lambda: None)


@pytest.mark.django_db
def test_always_eager_propagates_the_job_exception_and_records_nothing(clean_registry):
    from djworkers.models import FailedJob

    @queue_command(retries=5)
    def broken():
        raise KeyError("nope")

    with override_settings(DJWORKERS={"QUEUE": {"ALWAYS_EAGER": True}}):
        with pytest.raises(KeyError, match="nope"):
            broken()
    assert FailedJob.objects.count() == 0


@pytest.mark.django_db
def test_legacy_queue_always_eager_setting(clean_registry):
    calls = []

    @queue_command
    def legacy(x):
        calls.append(x)

    with override_settings(QUEUE_ALWAYS_EAGER=True):
        legacy(7)
    assert calls == [7]


# -- backend selection ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("database", DatabaseBackend),
        ("memory", MemoryBackend),
        ("djworkers.queue.backends.memory.MemoryBackend", MemoryBackend),
        ("djutils.queue.backends.database.DatabaseQueue", DatabaseBackend),
        ("djutils.queue.backends.database.DatabaseQeueue", DatabaseBackend),  # the README's typo
        (MemoryBackend, MemoryBackend),
    ],
)
def test_backend_names(value, expected):
    assert backend_class(value) is expected


def test_djutils_redis_path_maps_to_the_redis_backend():
    from djworkers.queue.backends import BACKENDS, resolve_backend_path

    assert resolve_backend_path("djutils.queue.backends.redis_backend.RedisQueue") == BACKENDS["redis"]
    assert BACKENDS["redis"] == "djworkers.queue.backends.redis.RedisBackend"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mongo", "not a known backend"),
        ("nowhere.Backend", "cannot be imported"),
        ("djworkers.queue.api.JobHandle", "not a subclass"),
    ],
)
def test_bad_backend_names_the_setting(value, message):
    with pytest.raises(DjworkersImproperlyConfigured, match=message) as info:
        backend_class(value)
    assert 'DJWORKERS["QUEUE"]["BACKEND"]' in str(info.value)


def test_legacy_queue_backend_setting_and_lease(clean_registry):
    with override_settings(
        QUEUE_BACKEND="djutils.queue.backends.database.DatabaseQueue",
        DJWORKERS={"QUEUE": {"LEASE_SECONDS": 7, "NOTIFY": False}},
    ):
        backend = build_backend(["a", "b"])
        assert isinstance(backend, DatabaseBackend)
        assert (backend.queues, backend.lease_seconds, backend.notify) == (["a", "b"], 7, False)
    reset_backends()


def test_get_backend_is_cached_and_reset_on_settings_change():
    with override_settings(DJWORKERS=MEMORY):
        first = get_backend()
        assert get_backend() is first
        assert get_backend("default") is first
    with override_settings(DJWORKERS=MEMORY):
        assert get_backend() is not first
    reset_backends()


@pytest.mark.django_db(transaction=True)
def test_enqueue_message_writes_to_the_database_table(clean_registry):
    """The transport entry point replay uses: the frame lands in QueueJob on the message's queue."""
    from djworkers.messages import Message
    from djworkers.queue.models import QueueJob

    enqueue_message(Message(name="x.y", args=(1,), queue="replayed"))
    row = QueueJob.objects.get()
    assert row.queue == "replayed"
    assert decode(bytes(row.frame)).name == "x.y"
    reset_backends()


@pytest.mark.django_db(transaction=False)
def test_enqueue_inside_a_transaction_is_visible_only_after_commit(clean_registry):
    """A job enqueued in a rolled-back transaction never runs (the database backend is transactional)."""
    from django.db import transaction

    from djworkers.queue.models import QueueJob

    @queue_command
    def noop():
        pass

    try:
        with transaction.atomic():
            noop()
            assert QueueJob.objects.count() == 1
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert QueueJob.objects.count() == 0
    reset_backends()


@pytest.mark.django_db
def test_consumer_side_inside_a_test_transaction_sees_its_rows():
    """In a TestCase-style transaction the backend joins the caller's connection: it sees the
    uncommitted rows and, on SQLite, does not wait for the write lock its own caller holds."""
    backend = build_backend()
    try:
        started = time.monotonic()
        backend.write(b"in-transaction")
        (delivery,) = backend.fetch(1, 0)
        assert delivery.raw == b"in-transaction"
        backend.ack(delivery)
        assert backend.read() is None
        assert time.monotonic() - started < 5
    finally:
        backend.close()


@pytest.mark.django_db
def test_a_raising_enqueued_receiver_does_not_fail_the_enqueue(settings, caplog):
    """X6: the frame is written before job_enqueued is sent; a broken receiver is logged,
    not raised, so a caller never retries (and duplicates) a job that was already queued."""
    from djworkers import signals
    from djworkers.queue import get_backend

    settings.DJWORKERS = {"QUEUE": {"BACKEND": "memory", "CONNECTION": "enqueued-receiver"}}
    backend = get_backend()
    backend.flush()

    def broken(**kwargs):
        raise RuntimeError("receiver bug")

    signals.job_enqueued.connect(broken)
    try:
        from djworkers.messages import Message
        from djworkers.queue.api import enqueue_message

        enqueue_message(Message("tests.anything"))
    finally:
        signals.job_enqueued.disconnect(broken)
    assert len(backend) == 1
    assert "receiver bug" in caplog.text
