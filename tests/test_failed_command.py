"""``manage.py djworkers_failed`` (Q10, Z4): list, replay (inline, through a transport, through
the real queue), purge.

Why: a job that keeps failing must end somewhere visible and come back with one
command once the cause is fixed. The failed rows here are made by the real
executor running a job that raises while a flag file exists.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from djworkers.exceptions import BadSignature
from djworkers.messages import Message, decode
from djworkers.models import FailedJob
from djworkers.runtime.executor import Executor, Outcome
from djworkers.runtime.failures import quarantine
from djworkers.runtime.worker import PollBackoff, Worker
from tests.testapp import core_jobs  # noqa: F401  (registers core.fail_if_exists)

pytestmark = pytest.mark.django_db


def command(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("djworkers_failed", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def flag(tmp_path):
    path = tmp_path / "still-broken"
    path.write_text("the cause of the failures")
    return path


def make_failed(flag, done, *, door="unit", queue="default", name="core.fail_if_exists") -> FailedJob:
    message = Message(name, args=(str(flag), str(done)), queue=queue)
    result = Executor(door).run(message)
    assert result.outcome is Outcome.FAILED
    return FailedJob.objects.get(job_id=message.id)


def test_list_shows_failed_jobs(flag, tmp_path):
    failed = make_failed(flag, tmp_path / "done", queue="reports")
    out, _ = command("--list")
    assert f"{failed.pk:>6}  " in out
    assert "core.fail_if_exists  queue=reports  exception  RuntimeError: flag" in out
    assert out.strip().endswith("1 failed job(s).")
    assert command()[0] == out  # --list is the default


def test_list_filters_and_empty_store(flag, tmp_path):
    make_failed(flag, tmp_path / "a", queue="reports")
    make_failed(flag, tmp_path / "b", queue="mail")
    out, _ = command("--list", "--queue", "mail")
    assert "queue=mail" in out and "queue=reports" not in out
    assert command("--list", "--name", "nothing.like.this")[0].strip() == "No failed jobs."
    FailedJob.objects.all().delete()
    assert command()[0].strip() == "No failed jobs."


def test_replay_inline_runs_the_job_again(flag, tmp_path):
    done = tmp_path / "done"
    failed = make_failed(flag, done)
    flag.unlink()  # the cause is fixed
    out, _ = command("--replay", str(failed.pk), "--inline", "-v", "2")
    assert done.read_text().startswith("done")
    assert f"ran core.fail_if_exists[{failed.job_id}] here: succeeded" in out
    assert "Replayed 1 job(s); 0 could not be replayed." in out
    assert not FailedJob.objects.exists()


def test_replay_inline_that_fails_again_records_a_clean_new_row(flag, tmp_path):
    failed = make_failed(flag, tmp_path / "done")
    command("--replay", str(failed.pk), "--inline")
    new = FailedJob.objects.get()
    assert new.pk != failed.pk and new.job_id == failed.job_id
    assert new.attempts == 1
    # The stored frame must not carry the inline run's no_retry marker, or a later
    # replay through the queue would never retry.
    assert decode(bytes(new.raw)).options == {}


def test_replay_all_inline(flag, tmp_path):
    for i in range(3):
        make_failed(flag, tmp_path / f"done-{i}")
    flag.unlink()
    out, _ = command("--replay", "--all", "--inline")
    assert "Replayed 3 job(s); 0 could not be replayed." in out
    assert all((tmp_path / f"done-{i}").exists() for i in range(3))
    assert not FailedJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_replay_through_a_registered_transport(flag, tmp_path, file_door):
    done = tmp_path / "done"
    failed = make_failed(flag, done, door="file")
    attempts_before = failed.attempts
    out, _ = command("--replay", str(failed.pk), "-v", "2")
    assert f"re-enqueued core.fail_if_exists[{failed.job_id}] on file" in out
    assert not FailedJob.objects.exists()
    (frame,) = file_door.waiting()
    message = decode(frame.read_bytes())
    assert (message.id, message.attempt, message.eta) == (failed.job_id, 0, None)
    assert attempts_before == 1 and not done.exists()  # handed over, not run here
    # A worker of that transport then runs it.
    flag.unlink()
    worker = Worker(file_door, burst=True, exit_on_force=False, poll=PollBackoff(0.01, 1, 0.01))
    assert worker.run() == 0
    assert done.exists() and worker.counts == {"succeeded": 1}


def test_job_of_a_door_not_installed_is_refused_unless_inline(flag, tmp_path):
    """A failed job whose door is gone is not run here behind the user's back: --inline says so."""
    done = tmp_path / "done"
    failed = make_failed(flag, done, door="not-installed")
    flag.unlink()
    with pytest.raises(CommandError, match="1 job"):
        command("--replay", str(failed.pk))
    assert not done.exists() and FailedJob.objects.filter(pk=failed.pk).exists()
    command("--replay", str(failed.pk), "--inline")
    assert done.exists()


def test_job_of_a_door_without_transport_replays_here(flag, tmp_path):
    """The dumbwaiter door has no transport to send a message back to: replay runs it here."""
    done = tmp_path / "done"
    failed = make_failed(flag, done, door="dumbwaiter")
    flag.unlink()
    out, _ = command("--replay", str(failed.pk), "-v", "2")
    assert done.exists() and "ran core.fail_if_exists" in out


@pytest.mark.django_db(transaction=True)
def test_replay_through_the_real_queue(flag, tmp_path):
    """A FailedJob of the "queue" transport goes back into the configured queue backend.

    Committed for real: the backend's consumer side reads on its own connection."""
    api = pytest.importorskip("djworkers.queue.api")
    failed = make_failed(flag, tmp_path / "done", door="queue", queue="replayed")
    command("--replay", str(failed.pk))
    assert not FailedJob.objects.exists()
    backend = api.build_backend("replayed")
    try:
        assert len(backend) == 1
        message = decode(backend.read())
    finally:
        backend.close()
    assert (message.name, message.id, message.attempt, message.queue) == (
        "core.fail_if_exists",
        failed.job_id,
        0,
        "replayed",
    )


def test_unimportable_door_is_a_clear_error_and_keeps_the_row(flag, tmp_path, settings):
    failed = make_failed(flag, tmp_path / "done", door="broken")
    settings.DJWORKERS = {**settings.DJWORKERS, "DOORS": ["djworkers.no_such_module.door"]}
    with pytest.raises(ImproperlyConfigured, match=r'DJWORKERS\["DOORS"\] names the door .*no_such_module'):
        command("--replay", str(failed.pk))
    assert FailedJob.objects.filter(pk=failed.pk).exists()


def test_quarantined_frames_are_never_replayed(flag, tmp_path):
    bad = quarantine(BadSignature("forged", raw=b"\x80\x04evil"), door="unit", queue="q")
    out_err = StringIO()
    with pytest.raises(CommandError, match="1 job\\(s\\) could not be replayed"):
        call_command("djworkers_failed", "--replay", str(bad.pk), stdout=StringIO(), stderr=out_err)
    assert "quarantined frame (bad-signature)" in out_err.getvalue()
    assert FailedJob.objects.filter(pk=bad.pk).exists()
    # With --all they are skipped and counted, the others replayed.
    make_failed(flag, tmp_path / "done")
    flag.unlink()
    out, err = command("--replay", "--all", "--inline")
    assert "Replayed 1 job(s); 1 could not be replayed." in out
    assert list(FailedJob.objects.values_list("pk", flat=True)) == [bad.pk]


def test_replay_argument_errors():
    with pytest.raises(CommandError, match="No failed job with id 999"):
        command("--replay", "999")
    with pytest.raises(CommandError, match="ids or --all, not both"):
        command("--replay", "1", "--all")
    with pytest.raises(CommandError, match="Which jobs"):
        command("--replay")
    with pytest.raises(CommandError):
        command("--list", "--purge")  # mutually exclusive
    # Review fix: --all / --inline without --replay were silently ignored.
    with pytest.raises(CommandError, match="--all only applies to --replay"):
        command("--purge", "--all")
    with pytest.raises(CommandError, match="--inline only applies to --replay"):
        command("--inline")


def test_purge(flag, tmp_path):
    make_failed(flag, tmp_path / "a", queue="reports")
    make_failed(flag, tmp_path / "b", queue="mail")
    make_failed(flag, tmp_path / "c", queue="mail")
    out, _ = command("--purge", "--queue", "mail")
    assert "Deleted 2 failed job(s)." in out
    assert list(FailedJob.objects.values_list("queue", flat=True)) == ["reports"]
    assert "Deleted 1 failed job(s)." in command("--purge")[0]
    assert not FailedJob.objects.exists()


def test_help_explains_every_option():
    from djworkers.management.commands.djworkers_failed import Command

    text = Command().create_parser("manage.py", "djworkers_failed").format_help()
    for option in ("--list", "--replay", "--all", "--purge", "--inline", "--name", "--queue"):
        assert option in text
    assert "quarantined" in text
