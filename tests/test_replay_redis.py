"""Replaying a job that failed on the Redis backend re-queues it on Redis (X5, Q10).

The failure is recorded as door "queue", backend "redis" (they were one
"transport" field, "redis", which no door answered to: replay then ran the job
inline inside the admin's web request). Now the admin action and
``djworkers_failed --replay`` hand it back to the queue door, a real consumer
runs it, and ``djworkers_status`` counts the failure meanwhile.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from djworkers.models import FailedJob
from djworkers.monitoring.status import collect
from tests.redisapp import commands as jobs
from tests.test_queue_redis_processes import EMPTY, consumer_settings, queue  # noqa: F401  (a fixture)
from tests.utils import run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _fail_once(queue, redis_server, flag, key) -> FailedJob:
    flag.write_text("broken")
    jobs.incr_unless_flagged(redis_server.url, key, str(flag))
    result = run(["queue_consumer", "--no-periodic", "--burst"], settings=consumer_settings(redis_server.url))
    assert result.returncode == 0, result.stdout + result.stderr
    failed = FailedJob.objects.get(name=jobs.incr_unless_flagged.name)
    assert (failed.door, failed.backend, failed.queue) == ("queue", "redis", "default")
    return failed


def _queue_section(door="queue"):
    return next(s for s in collect()["sections"] if s["door"] == door)


@pytest.mark.parametrize("way", ["admin action", "djworkers_failed --replay"])
def test_replay_of_a_redis_failure_requeues_it(way, queue, redis_server, redis, tmp_path, admin_client):
    flag, key = tmp_path / "flag", f"replayed-{way[:5]}"
    failed = _fail_once(queue, redis_server, flag, key)
    row = next(r for r in _queue_section()["rows"] if r["queue"] == "default")
    assert row["failed"] == 1  # the status counts the Redis queue's failure
    flag.unlink()
    if way == "admin action":
        response = admin_client.post(
            "/admin/djworkers/failedjob/", {"action": "replay_selected", "_selected_action": [failed.pk]}, follow=True
        )
        assert response.status_code == 200 and "Replayed 1 job(s)." in response.content.decode()
    else:
        out = StringIO()
        call_command("djworkers_failed", "--replay", str(failed.pk), "-v", "2", stdout=out)
        assert "re-enqueued" in out.getvalue() and "on queue" in out.getvalue()
    # Handed back to Redis, not run here (in the web request or the command).
    assert redis.get(jobs.RUNS + key) is None
    assert queue.stats() == {**EMPTY, "ready": 1}
    assert not FailedJob.objects.exists()
    result = run(["queue_consumer", "--no-periodic", "--burst"], settings=consumer_settings(redis_server.url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert redis.get(jobs.RUNS + key) == b"1"
    assert queue.stats() == EMPTY
