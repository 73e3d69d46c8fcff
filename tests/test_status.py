"""``djworkers_status`` (X4), the JSON schema shared with the dashboard, per-minute job
statistics and the admin dashboard page.

Healthy and unhealthy states are produced for real: an unreachable Redis port, a
periodic-cache function that was never computed, failed jobs in the store, and a
real ``queue_consumer`` subprocess whose job counts reach the JobStat table.
"""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from djworkers import signals
from djworkers.messages import Message, encode
from djworkers.models import FailedJob
from djworkers.monitoring import stats
from djworkers.monitoring.models import JobStat
from djworkers.monitoring.status import SCHEMA_VERSION, StatusOptions, collect
from tests.services import free_port

STATS_ON = {
    "WORKER": {"SHUTDOWN_TIMEOUT": 10, "HEARTBEAT_INTERVAL": 1},
    "STATS": {"ENABLED": True, "FLUSH_INTERVAL": 3600},
}


def status_command(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("djworkers_status", *args, stdout=out, stderr=StringIO(), no_color=True)
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


def failed_job(queue: str = "default", **fields) -> FailedJob:
    return FailedJob.objects.create(
        name="tests.boom", queue=queue, door="queue", reason="exception", raw=b"x", **fields
    )


# -- the command -----------------------------------------------------------------------
@pytest.mark.django_db
def test_healthy_exit_zero_and_text_report():
    """X4: nothing configured to be stale, backend reachable -> exit 0 and "Healthy."."""
    code, out = status_command()
    assert code == 0, out
    assert "Healthy." in out
    assert "Queue (database backend): OK" in out
    assert "Last 60 minutes: 0 job(s) processed, 0 failed." in out


@pytest.mark.django_db
def test_json_schema():
    """X4: --json prints the dict collect() returns; every row has its section's column keys."""
    failed_job("mail")
    code, out = status_command("--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"version", "generated_at", "healthy", "problems", "sections", "throughput"}
    assert data["version"] == SCHEMA_VERSION
    assert data["healthy"] is True and data["problems"] == []
    doors = [s["door"] for s in data["sections"]]
    assert "queue" in doors and "failed" in doors
    for section in data["sections"]:
        assert set(section) == {"door", "title", "healthy", "problems", "columns", "rows", "notes"}
        keys = [c["key"] for c in section["columns"]]
        assert all(set(c) == {"key", "label"} for c in section["columns"])
        for row in section["rows"]:
            assert set(row) == set(keys), (section["door"], row)
    queue = next(s for s in data["sections"] if s["door"] == "queue")
    by_name = {row["queue"]: row for row in queue["rows"]}
    assert by_name["mail"]["failed"] == 1  # a queue that only has failed jobs is still listed
    assert {"ready", "scheduled", "in_flight"} <= set(by_name["default"])
    assert all(isinstance(by_name["default"][k], int) for k in ("ready", "scheduled", "in_flight"))
    rate = data["throughput"]
    assert rate["window_minutes"] == 60 and len(rate["per_minute"]) == 60
    assert set(rate["per_minute"][0]) == {"minute", "processed", "failed"}


@pytest.mark.django_db(transaction=True)  # as in production: PostgreSQL's now() is per transaction
def test_queue_depth_counts_written_jobs():
    """X4: ready, scheduled and in flight come from the backend's own stats()."""
    from djworkers.queue import build_backend

    backend = build_backend(["default"])
    try:
        assert_depths_reported(backend)
    finally:
        backend.close()  # its PostgreSQL LISTEN connection must not outlive the test database


def assert_depths_reported(backend) -> None:
    for _ in range(3):
        backend.write(encode(Message(name="tests.anything")))
    backend.write(encode(Message(name="tests.later")), eta=time.time() + 3600)
    leased = backend.fetch(1, 0)  # a consumer holds one: in flight, not ready
    assert len(leased) == 1
    data = collect()
    row = next(r for r in next(s for s in data["sections"] if s["door"] == "queue")["rows"] if r["queue"] == "default")
    assert (row["ready"], row["scheduled"], row["in_flight"]) == (2, 1, 1)
    backend.ack(leased[0])


@pytest.mark.django_db
def test_redis_queue_depths(redis_server, redis):
    """X4 per backend: the same figures from a real Redis server."""
    from djworkers.queue import build_backend

    with override_settings(DJWORKERS={"QUEUE": {"BACKEND": "redis", "CONNECTION": redis_server.url}}):
        backend = build_backend(["default"])
        try:
            assert_depths_reported(backend)
            assert collect()["sections"][1]["title"] == "Queue (redis backend)"
        finally:
            backend.close()


@pytest.mark.django_db
def test_failed_jobs_unhealthy_only_beyond_max_failed():
    """Failed jobs are reported; --max-failed N turns more than N into a non-zero exit."""
    failed_job()
    failed_job()
    code, out = status_command()
    assert code == 0, out
    code, out = status_command("--max-failed", "2")
    assert code == 0, out
    code, out = status_command("--max-failed", "1")
    assert code == 1
    assert "2 failed job(s), more than --max-failed 1" in out
    assert "Unhealthy: 1 problem(s)." in out


@pytest.mark.django_db
def test_max_failed_counts_the_whole_failed_job_store():
    """Review fix: --max-failed ("jobs in the failed-job store") only counted the queue
    transport's rows; a quarantined frame of another transport went unjudged."""
    FailedJob.objects.create(door="ztask", reason="bad-signature", raw=b"x")
    code, out = status_command("--max-failed", "0")
    assert code == 1, out
    assert "1 failed job(s), more than --max-failed 0" in out


def test_max_failed_rejects_negative():
    with pytest.raises(CommandError, match="must be 0 or more"):
        call_command("djworkers_status", "--max-failed", "-1", stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db
def test_unreachable_redis_backend_is_unhealthy():
    """A queue backend that cannot be reached is a problem naming it, not a traceback."""
    port = free_port()  # nothing listens there
    with override_settings(DJWORKERS={"QUEUE": {"BACKEND": "redis", "CONNECTION": f"redis://127.0.0.1:{port}/0"}}):
        code, out = status_command("--json")
    assert code == 1
    data = json.loads(out)
    assert data["healthy"] is False
    queue = next(s for s in data["sections"] if s["door"] == "queue")
    assert queue["healthy"] is False
    assert "redis backend unreachable" in queue["problems"][0]
    assert queue["rows"][0]["ready"] is None


@pytest.mark.django_db
def test_dumbwaiter_never_computed_then_fresh_then_stale():
    """D2/X4: a configured function never computed is unhealthy; once run it is healthy;
    when its value grows older than its frequency allows it is flagged stale."""
    from djworkers import dumbwaiter

    functions = [{"function": "tests.statusapp.functions.clock", "name": "status-clock", "frequency": 60}]
    with override_settings(DJWORKERS={"DUMBWAITER": {"FUNCTIONS": functions}}):
        code, out = status_command("--json")
        data = json.loads(out)
        section = next(s for s in data["sections"] if s["door"] == "dumbwaiter")
        assert code == 1
        assert section["rows"][0]["name"] == "status-clock"
        assert section["rows"][0]["age"] is None and section["rows"][0]["stale"] is True
        assert "never been computed" in section["problems"][0]

        call_command("run_dumbwaiter", "--once", "status-clock", stdout=StringIO(), stderr=StringIO())
        assert dumbwaiter.get_age("status-clock") is not None
        code, out = status_command()
        assert code == 0, out
        assert "status-clock" in out

    # The same value, now judged against a 1 s frequency, is stale after a few seconds.
    functions[0]["frequency"] = 1
    time.sleep(2.5)
    with override_settings(DJWORKERS={"DUMBWAITER": {"FUNCTIONS": functions}}):
        data = collect()
    section = next(s for s in data["sections"] if s["door"] == "dumbwaiter")
    assert section["rows"][0]["stale"] is True
    assert "is stale" in section["problems"][0]
    assert data["healthy"] is False


# -- statistics --------------------------------------------------------------------------
@pytest.mark.django_db
def test_counts_are_kept_in_memory_not_written_per_job():
    """No database write per job: 200 signals, zero queries, one row per minute on flush."""
    counter = stats.counter
    counter.flush()
    with override_settings(DJWORKERS=STATS_ON):
        message = Message(name="tests.x", queue="q1")
        with CaptureQueriesContext(connection) as queries:
            for _ in range(150):
                signals.job_succeeded.send(sender="queue", message=message, result=None, duration=0.0)
            for _ in range(50):
                signals.job_failed.send(sender="queue", message=message, exception=None, traceback="")
        assert len(queries) == 0
        assert JobStat.objects.count() == 0
        assert counter.flush() == 1
    row = JobStat.objects.get()
    assert (row.door, row.queue, row.processed, row.failed) == ("queue", "q1", 150, 50)


@pytest.mark.django_db
def test_disabled_stats_count_nothing():
    stats.counter.flush()
    signals.job_succeeded.send(sender="queue", message=Message(name="x"), result=None, duration=0.0)
    assert stats.counter.pending() == {}


@pytest.mark.django_db
def test_flushes_from_several_processes_add_up():
    """Two processes flushing the same minute add to one row (UPDATE ... + n), never overwrite."""
    now = time.time()
    first, second = stats.Counter(), stats.Counter()
    first.add("queue", "default", processed=3, failed=1, now=now)
    second.add("queue", "default", processed=4, now=now)
    first.flush()
    second.flush()
    row = JobStat.objects.get()
    assert (row.processed, row.failed) == (7, 1)
    series = stats.per_minute(60, now=now)
    assert len(series) == 60
    assert series[-1]["processed"] == 7 and series[-1]["failed"] == 1
    assert sum(p["processed"] for p in series[:-1]) == 0


@pytest.mark.django_db
def test_per_minute_window_and_pruning():
    now = time.time()
    counter = stats.Counter()
    counter.add("queue", "a", processed=5, now=now - 30 * 60)
    counter.add("queue", "a", processed=9, now=now - 90 * 60)  # outside the hour
    counter.flush()
    assert sum(p["processed"] for p in stats.per_minute(60, now=now)) == 5
    assert sum(p["processed"] for p in stats.per_minute(120, now=now)) == 14
    JobStat.objects.create(
        minute=stats.minute_datetime(int((now - 72 * 3600) // 60)), door="queue", queue="a", processed=2
    )  # beyond RETENTION_HOURS (48)
    assert stats.prune(now=now) == 1
    assert JobStat.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_failed_flush_keeps_the_counts(monkeypatch):
    """The database being away loses no counts: they wait for the next flush."""
    from django.db import OperationalError

    counter = stats.Counter()
    counter.add("queue", "default", processed=2)

    def database_gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(stats, "_add_row", database_gone)
    assert counter.flush() == 0
    assert sum(v[0] for v in counter.pending().values()) == 2
    monkeypatch.undo()
    assert counter.flush() == 1
    assert JobStat.objects.get().processed == 2


@pytest.mark.django_db(transaction=True)
def test_a_flush_failing_half_way_does_not_count_written_rows_twice(monkeypatch):
    """Review fix: rows written before the error were given back too, then added again."""
    from django.db import OperationalError

    counter = stats.Counter()
    minute = (time.time() // 60 - 2) * 60  # two distinct recent minutes (old ones are pruned)
    counter.add("queue", "default", processed=3, now=minute)
    counter.add("queue", "default", processed=5, now=minute + 60)
    real_add_row = stats._add_row
    calls = []

    def second_write_fails(key, processed, failed):
        calls.append(key)
        if len(calls) == 2:
            raise OperationalError("server closed the connection unexpectedly")
        real_add_row(key, processed, failed)

    monkeypatch.setattr(stats, "_add_row", second_write_fails)
    assert counter.flush() == 0
    assert list(counter.pending().values()) == [(5, 0)]  # only the unwritten minute waits
    monkeypatch.undo()
    assert counter.flush() == 1
    assert sorted(JobStat.objects.values_list("processed", flat=True)) == [3, 5]


def test_stats_settings_checks():
    from djworkers.checks import djworkers_checks

    with override_settings(DJWORKERS={"STATS": {"ENABLED": "yes", "FLUSH_INTERVAL": 0}}):
        ids = {m.id for m in djworkers_checks()}
    assert {"djworkers.E301", "djworkers.E302"} <= ids


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_consumer_feeds_the_per_minute_counts(tmp_path):
    """End to end: signals in a real queue_consumer process reach JobStat (flushed at exit)."""
    from djworkers.messages import encode
    from djworkers.queue import build_backend
    from tests.utils import run

    backend = build_backend(["default"])
    for n in range(4):
        backend.write(encode(Message(name="tests.statusapp.commands.status_ok", args=(n,))))
    backend.write(encode(Message(name="tests.statusapp.commands.status_boom", args=(1,))))
    backend.close()
    from django.conf import settings as django_settings

    extra = {
        "INSTALLED_APPS": [*django_settings.INSTALLED_APPS, "tests.statusapp"],
        "DJWORKERS": {**STATS_ON, "STATS": {"ENABLED": True, "FLUSH_INTERVAL": 1}},
    }
    result = run(["queue_consumer", "--burst"], settings=extra, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    totals = [(r.door, r.queue, r.processed, r.failed) for r in JobStat.objects.all()]
    assert totals == [("queue", "default", 4, 1)], (totals, result.stderr[-2000:])
    data = collect()
    assert (data["throughput"]["processed"], data["throughput"]["failed"]) == (4, 1)


# -- the admin dashboard -----------------------------------------------------------------
@pytest.mark.django_db
def test_admin_dashboard_page(admin_client):
    """X4/X5: linked from the admin index; same figures as the command; inline SVG chart."""
    failed_job("mail")
    counter = stats.Counter()
    counter.add("queue", "default", processed=12, failed=3)
    counter.flush()
    index = admin_client.get("/admin/")
    assert b"/admin/djworkers/dashboard/" in index.content
    page = admin_client.get("/admin/djworkers/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'class="bar-processed"' in html and 'class="bar-failed"' in html
    assert "12 processed, 3 failed" in html
    assert "Queue (database backend)" in html and "mail" in html
    assert "http://" not in html.split("<body", 1)[1].replace("http://www.w3.org/2000/svg", "")  # no CDN
    data = admin_client.get("/admin/djworkers/dashboard/?format=json").json()
    assert data["throughput"]["processed"] == 12
    assert [s["door"] for s in data["sections"]] == [s["door"] for s in collect()["sections"]]


@pytest.mark.django_db
def test_dashboard_needs_staff(client, django_user_model):
    user = django_user_model.objects.create_user("plain", password="pw", is_staff=False)
    client.force_login(user)
    response = client.get("/admin/djworkers/dashboard/")
    assert response.status_code in (302, 403)


def test_collect_options_keywords():
    assert StatusOptions(max_failed=3).max_failed == 3


@pytest.mark.slow
@pytest.mark.django_db
def test_database_down_is_reported_not_a_traceback():
    """The health check's most important case: the database is unreachable. The command
    still prints its JSON and exits 1 with the problems named."""
    from tests.utils import run

    port = free_port()  # nothing listens there
    down = {
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "USER": "postgres",
                "NAME": "nowhere",
                "OPTIONS": {"connect_timeout": 2},
            }
        }
    }
    result = run(["djworkers_status", "--json"], settings=down, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["healthy"] is False
    text = " ".join(data["problems"])
    assert "queue: database backend unreachable" in text and "queue: cannot read failed jobs" in text
    queue = next(s for s in data["sections"] if s["door"] == "queue")
    assert all(row["ready"] is None and row["failed"] is None for row in queue["rows"])  # unknown, not 0
    assert data["throughput"]["error"]
    assert "Traceback" not in result.stderr
