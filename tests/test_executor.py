"""The one place a job runs (Q10, X3, X6): retries with backoff, failure record, hooks, signals.

Why: every door delegates here, so retry counting, the FailedJob row with its
traceback, and connection hygiene must be right once. The retry loop below is
driven the way a transport drives it: run, and on RETRY run ``retry_message``.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection, transaction
from django.test import override_settings

from djworkers import signals
from djworkers.messages import Message, decode, encode
from djworkers.models import FailedJob
from djworkers.registry import Job
from djworkers.runtime import executor as executor_module
from djworkers.runtime.executor import Executor, Outcome
from djworkers.runtime.hooks import Hook
from djworkers.runtime.retry import RetryPolicy

SIGNALS = ("job_started", "job_succeeded", "job_retried", "job_failed")


@pytest.fixture
def received():
    """Every executor signal, as (signal name, kwargs) in order."""
    log: list[tuple[str, dict]] = []
    receivers = []
    for name in SIGNALS:

        def receiver(sender, name=name, **kwargs):
            kwargs.pop("signal")
            log.append((name, {"sender": sender, **kwargs}))

        getattr(signals, name).connect(receiver, weak=False)
        receivers.append((name, receiver))
    yield log
    for name, receiver in receivers:
        getattr(signals, name).disconnect(receiver)


class RecordingHook(Hook):
    def __init__(self):
        self.calls: list[tuple] = []

    def before_job(self, message):
        self.calls.append(("before_job", message.attempt))

    def after_job(self, message, result, duration):
        self.calls.append(("after_job", result, duration >= 0))

    def on_retry(self, message, exc, eta):
        self.calls.append(("on_retry", message.attempt, type(exc).__name__))

    def on_failure(self, message, exc, traceback):
        self.calls.append(("on_failure", message.attempt if message else None, "Traceback" in traceback))


class Flaky:
    """Raises for the first ``failures`` calls, then returns ``"ok"``."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"boom {self.calls}")
        return "ok"


def declare(registry, name, func, **options):
    return registry.register(Job.declare(name, func, door="core-tests", **options))


def test_success_fires_hooks_and_signals(clean_registry, received):
    declare(clean_registry, "core.add", lambda a, b=0: a + b)
    hook = RecordingHook()
    message = Message("core.add", args=(2,), kwargs={"b": 3})
    result = Executor("unit", hooks=[hook]).run(message)
    assert result.outcome is Outcome.SUCCEEDED and result.value == 5 and result.duration >= 0
    assert [name for name, _ in received] == ["job_started", "job_succeeded"]
    assert all(kwargs["sender"] == "unit" and kwargs["message"] == message for _, kwargs in received)
    assert received[1][1]["result"] == 5
    assert hook.calls == [("before_job", 0), ("after_job", 5, True)]


@pytest.mark.django_db
def test_retries_with_backoff_counted_then_failed_job_with_traceback(clean_registry, received):
    """Q10: 3 retries at ~1 s, ~2 s, ~4 s (10% jitter), then one FailedJob row."""
    job = Flaky(failures=100)
    declare(clean_registry, "core.flaky", job, retries=3, retry_delay=1.0, retry_backoff=2.0)
    hook = RecordingHook()
    executor = Executor("unit", hooks=[hook])
    message = Message("core.flaky", args=("x",), queue="reports")
    delays, outcomes = [], []
    for _ in range(10):
        raw = encode(message)
        before = time.time()
        result = executor.run(message, raw=raw)
        outcomes.append(result.outcome)
        if result.outcome is not Outcome.RETRY:
            break
        delays.append(result.eta - before)
        message = result.retry_message
        assert decode(encode(message)).attempt == message.attempt  # what a transport stores
    assert outcomes == [Outcome.RETRY] * 3 + [Outcome.FAILED]
    assert job.calls == 4
    for delay, expected in zip(delays, [1.0, 2.0, 4.0], strict=True):
        assert expected * 0.9 - 0.05 <= delay <= expected * 1.1 + 0.5, delays  # + a loaded machine
    assert [m.attempt for _, kw in received if _ == "job_retried" for m in [kw["message"]]] == [0, 1, 2]
    assert [name for name, _ in received].count("job_failed") == 1

    failed = FailedJob.objects.get()
    assert (failed.name, failed.queue, failed.door, failed.reason) == ("core.flaky", "reports", "unit", "exception")
    assert failed.job_id == message.id
    assert failed.attempts == 4
    assert failed.exception == "RuntimeError" and failed.error == "boom 4"
    assert "Traceback (most recent call last)" in failed.traceback
    assert 'raise RuntimeError(f"boom {self.calls}")' in failed.traceback
    assert failed.arguments == "'x'"
    assert bytes(failed.raw) == raw  # the exact frame of the last attempt
    assert hook.calls == [
        ("before_job", 0),
        ("on_retry", 0, "RuntimeError"),
        ("before_job", 1),
        ("on_retry", 1, "RuntimeError"),
        ("before_job", 2),
        ("on_retry", 2, "RuntimeError"),
        ("before_job", 3),
        ("on_failure", 3, True),
    ]


@pytest.mark.django_db
def test_success_after_retries_leaves_no_failed_job(clean_registry):
    declare(clean_registry, "core.flaky", Flaky(failures=2), retries=5, retry_delay=0.0)
    message = Message("core.flaky")
    outcomes = []
    for _ in range(5):
        result = Executor("unit").run(message)
        outcomes.append(result.outcome)
        if result.outcome is not Outcome.RETRY:
            break
        message = result.retry_message
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.SUCCEEDED]
    assert result.value == "ok"
    assert not FailedJob.objects.exists()


@pytest.mark.django_db
@override_settings(DJWORKERS={"QUEUE": {"RETRIES": 1, "RETRY_DELAY": 30.0}})
def test_retry_policy_falls_back_to_settings(clean_registry):
    declare(clean_registry, "core.flaky", Flaky(failures=100))
    first = Executor("unit").run(Message("core.flaky"))
    assert first.outcome is Outcome.RETRY
    assert 27 - 1 <= first.eta - time.time() <= 33
    second = Executor("unit").run(first.retry_message)
    assert second.outcome is Outcome.FAILED
    assert FailedJob.objects.get().attempts == 2


@pytest.mark.django_db
def test_no_retry_option_fails_at_once(clean_registry):
    declare(clean_registry, "core.flaky", Flaky(failures=100), retries=5)
    result = Executor("unit").run(Message("core.flaky", options={"no_retry": True}))
    assert result.outcome is Outcome.FAILED
    assert FailedJob.objects.get().attempts == 1


@pytest.mark.django_db
def test_unknown_job_is_a_failed_job(received):
    hook = RecordingHook()
    message = Message("core.never_registered", args=(1,))
    result = Executor("unit", hooks=[hook]).run(message)
    assert result.outcome is Outcome.FAILED
    failed = FailedJob.objects.get()
    assert failed.reason == FailedJob.Reason.UNKNOWN_JOB == "unknown-job"
    assert failed.name == "core.never_registered"
    assert failed.exception == "JobNotRegistered"
    assert "No job named 'core.never_registered' is registered" in failed.error
    assert decode(bytes(failed.raw)) == message  # no raw given: the message is encoded, replayable
    assert not failed.quarantined
    assert [name for name, _ in received] == ["job_started", "job_failed"]
    assert hook.calls == [("on_failure", 0, True)]


@pytest.mark.django_db
def test_record_failures_off(clean_registry):
    declare(clean_registry, "core.flaky", Flaky(failures=100))
    assert Executor("unit", record_failures=False).run(Message("core.flaky")).outcome is Outcome.FAILED
    assert not FailedJob.objects.exists()


@pytest.mark.django_db
def test_a_broken_failure_store_does_not_escape(clean_registry, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(executor_module, "record_failure", broken)
    declare(clean_registry, "core.flaky", Flaky(failures=100))
    before = time.time()
    result = Executor("unit").run(Message("core.flaky"))
    # Not FAILED: the transport would acknowledge it and the job would be lost without a
    # record. RETRY keeps it (after a pause); its next final failure is recorded.
    assert result.outcome is Outcome.RETRY
    assert before + executor_module.FAILURE_STORE_RETRY_DELAY <= result.eta
    assert result.retry_message.attempt == 1
    assert "Could not record the failure" in caplog.text
    monkeypatch.undo()
    again = Executor("unit").run(result.retry_message)
    assert again.outcome is Outcome.FAILED
    assert FailedJob.objects.get().attempts == 2


def test_a_raising_hook_never_loses_the_job(clean_registry, caplog):
    class Broken(Hook):
        def before_job(self, message):
            raise ValueError("observer bug")

        def after_job(self, message, result, duration):
            raise ValueError("observer bug")

    declare(clean_registry, "core.add", lambda: 42)
    result = Executor("unit", hooks=[Broken()]).run(Message("core.add"))
    assert result.outcome is Outcome.SUCCEEDED and result.value == 42
    assert caplog.text.count("raised; ignored") == 2


@pytest.mark.django_db(transaction=True)
def test_eager_run_inside_atomic_keeps_the_callers_connection(clean_registry):
    """An eager job inside a view's transaction must not close the connection under it."""
    from tests.testapp import core_jobs

    declare(clean_registry, "core.query_db", core_jobs.query_db)
    declare(clean_registry, "core.flaky", Flaky(failures=100))
    assert connection.settings_dict["CONN_MAX_AGE"] == 0  # outside atomic it would be closed
    with transaction.atomic():
        FailedJob.objects.create(door="marker", reason="exception", raw=b"")
        raw_connection = connection.connection
        result = Executor("eager").run(Message("core.query_db"))
        assert result.outcome is Outcome.SUCCEEDED and result.value == 1
        assert connection.connection is raw_connection and connection.in_atomic_block
        # A failure is recorded inside the caller's transaction too.
        Executor("eager").run(Message("core.flaky"))
        assert FailedJob.objects.count() == 2
    assert FailedJob.objects.count() == 2  # committed with the caller

    # Control: outside an atomic block a failing job's connection is closed (CONN_MAX_AGE = 0)
    # before its failure is recorded; after a success the worker closes it once it has acked.
    connection.ensure_connection()
    before = connection.connection
    Executor("eager").run(Message("core.flaky"))
    assert connection.connection is not before  # closed, then reopened to record the failure


@pytest.mark.django_db
def test_failed_job_keeps_a_bounded_readable_copy_of_the_arguments(clean_registry):
    from djworkers.runtime.failures import ARGUMENTS_REPR_LIMIT

    declare(clean_registry, "core.flaky", Flaky(failures=100))
    big = "x" * 5000
    Executor("unit").run(Message("core.flaky", args=(1, big), kwargs={"mode": "fast"}))
    failed = FailedJob.objects.get()
    assert failed.arguments.startswith("1, 'xxx")
    assert len(failed.arguments) == ARGUMENTS_REPR_LIMIT + 3 and failed.arguments.endswith("...")
    assert decode(bytes(failed.raw)).args == (1, big)  # the frame itself is complete
    assert str(failed).startswith("core.flaky [exception] ")


class TestRetryPolicy:
    def test_attempts_are_counted(self):
        policy = RetryPolicy(retries=2)
        assert [policy.should_retry(a) for a in range(4)] == [True, True, False, False]
        assert not RetryPolicy(retries=0).should_retry(0)

    def test_delays_grow_exponentially_up_to_the_cap(self):
        policy = RetryPolicy(retries=10, delay=1.5, backoff=3.0, max_delay=100.0, jitter=0)
        assert [policy.delay_for(a) for a in range(6)] == [1.5, 4.5, 13.5, 40.5, 100.0, 100.0]
        assert policy.delay_for(5000) == 100.0  # huge attempt counts do not overflow

    def test_constant_delay_with_backoff_one(self):
        policy = RetryPolicy(delay=5, backoff=1, jitter=0)
        assert {policy.delay_for(a) for a in range(10)} == {5}

    def test_jitter_is_bounded_and_spreads(self):
        policy = RetryPolicy(delay=10.0, backoff=2.0, jitter=0.1)
        for attempt, base in [(0, 10.0), (3, 80.0)]:
            samples = [policy.delay_for(attempt) for _ in range(500)]
            assert min(samples) >= base * 0.9 and max(samples) <= base * 1.1
            assert max(samples) - min(samples) > base * 0.05  # really spread, not constant

    def test_jitter_never_exceeds_max_delay(self):
        policy = RetryPolicy(delay=10.0, backoff=2.0, max_delay=60.0, jitter=0.5)
        samples = [policy.delay_for(10) for _ in range(500)]
        assert max(samples) <= 60.0 and min(samples) >= 30.0

    def test_zero_delay_stays_zero(self):
        assert RetryPolicy(delay=0, jitter=0.5).delay_for(3) == 0

    def test_for_job_prefers_job_options(self):
        job = Job.declare("x", len, door="q", retries=4, retry_delay=2.5)
        with override_settings(
            DJWORKERS={"QUEUE": {"RETRIES": 1, "RETRY_DELAY": 9, "RETRY_BACKOFF": 3, "RETRY_MAX_DELAY": 50}}
        ):
            policy = RetryPolicy.for_job(job)
        assert (policy.retries, policy.delay, policy.backoff, policy.max_delay) == (4, 2.5, 3, 50)


@pytest.mark.django_db
def test_a_job_calling_sys_exit_fails_like_any_error(clean_registry):
    """Review fix: SystemExit from a job was not caught, so it killed the worker's job
    thread with the delivery neither acked nor recorded (and a consumer whose threads
    all died exited 0, which a Supervisor does not restart)."""
    import sys

    def exits():
        sys.exit(3)

    declare(clean_registry, "core.exits", exits)
    result = Executor("unit").run(Message("core.exits"))
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.exception, SystemExit)
    assert FailedJob.objects.get().exception == "SystemExit"


@pytest.mark.django_db
def test_a_raising_signal_receiver_never_loses_the_job(clean_registry, caplog):
    """Review fix: with Signal.send, a job_succeeded receiver that raised made run() raise
    after the job had run, so the worker never acknowledged it (it ran again and again)."""

    def broken_receiver(sender, **kwargs):
        raise RuntimeError("observer bug")

    declare(clean_registry, "core.ok", lambda: "done")
    signals.job_succeeded.connect(broken_receiver, weak=False)
    try:
        result = Executor("unit").run(Message("core.ok"))
    finally:
        signals.job_succeeded.disconnect(broken_receiver)
    assert result.outcome is Outcome.SUCCEEDED and result.value == "done"
    assert "observer bug" in caplog.text


@pytest.mark.django_db
def test_failure_record_survives_nul_characters_and_long_names(clean_registry):
    """Review fix: PostgreSQL refuses NUL in text and over-long CharFields; a failure
    that cannot be recorded keeps its job coming back, so the job's own data must
    never make the record fail."""

    def nul_error(text):
        raise ValueError(f"bad byte {text[1]} in input")

    name = "core." + "n" * 300
    declare(clean_registry, name, nul_error)
    result = Executor("unit").run(Message(name, args=("a\x00b",), queue="q" * 150))
    assert result.outcome is Outcome.FAILED
    failed = FailedJob.objects.get()
    assert "\x00" not in failed.error and "\\x00" in failed.error
    assert len(failed.name) == 255 and len(failed.queue) == 100
    assert decode(bytes(failed.raw)).name == name  # the frame is whole: replay is unaffected
