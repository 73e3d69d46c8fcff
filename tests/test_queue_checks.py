"""Queue system checks: every id is triggered by a setting a user could write."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from djworkers.queue.checks import check

WORKER = {"SHUTDOWN_TIMEOUT": 10, "HEARTBEAT_INTERVAL": 1}


def ids(queue: dict, **legacy) -> list[str]:
    with override_settings(DJWORKERS={"WORKER": WORKER, "QUEUE": queue}, **legacy):
        return [m.id for m in check()]


def test_defaults_are_clean():
    assert ids({}) == []


@pytest.mark.parametrize(
    "backend",
    [
        "database",
        "memory",
        "djutils.queue.backends.database.DatabaseQueue",
        "djworkers.queue.backends.memory.MemoryBackend",
    ],
)
def test_valid_backends(backend):
    assert ids({"BACKEND": backend}) == []


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        ({"BACKEND": "rabbit"}, "djworkers.E201"),
        ({"BACKEND": "myproject.queues.Missing"}, "djworkers.E202"),
        ({"BACKEND": "djworkers.queue.api.JobHandle"}, "djworkers.E203"),
        ({"BACKEND": "database", "CONNECTION": "nosuchdb"}, "djworkers.E204"),
        ({"BACKEND": "memory", "CONNECTION": 42}, "djworkers.E204"),
        ({"BACKEND": "redis", "CONNECTION": "localhost:notaport:0"}, "djworkers.E204"),
        ({"BACKEND": "redis", "CONNECTION": "http://example.com/"}, "djworkers.E204"),
        ({"LEASE_SECONDS": 0}, "djworkers.E205"),
        ({"LEASE_SECONDS": "300"}, "djworkers.E205"),
        ({"RETRIES": -1}, "djworkers.E206"),
        ({"RETRIES": 1.5}, "djworkers.E206"),
        ({"RETRY_DELAY": -2}, "djworkers.E207"),
        ({"RETRY_BACKOFF": 0.5}, "djworkers.E207"),
        ({"RETRY_MAX_DELAY": "1h"}, "djworkers.E207"),
        ({"NAME": ""}, "djworkers.E208"),
        ({"NAME": None}, "djworkers.E208"),
        ({"ALWAYS_EAGER": "yes"}, "djworkers.E209"),
        ({"PERIODIC": 1}, "djworkers.E209"),
        ({"NOTIFY": None}, "djworkers.E209"),
        ({"ENQUEUE_ON_COMMIT": "yes"}, "djworkers.E209"),
        ({"RESULTS": "on"}, "djworkers.E209"),
        ({"RESULT_TTL": 0}, "djworkers.E210"),
        ({"TIMEOUT": -1}, "djworkers.E210"),
        ({"TIMEOUT": "30"}, "djworkers.E210"),
        ({"MAX_DELIVERIES": 0}, "djworkers.E211"),
        ({"MAX_DELIVERIES": 2.5}, "djworkers.E211"),
        ({"LEASE_SECONDS": 1.5}, "djworkers.W201"),
    ],
)
def test_each_check_id(queue, expected):
    assert ids(queue) == [expected]


def test_redis_connection_forms_accepted():
    """Q6: URL and the old host:port:db are both valid connections."""
    assert ids({"BACKEND": "redis", "CONNECTION": "redis://127.0.0.1:6379/2"}) == []
    assert ids({"BACKEND": "redis", "CONNECTION": "10.0.0.75:6379:0"}) == []
    assert (
        ids({"BACKEND": "djutils.queue.backends.redis_backend.RedisQueue"}, QUEUE_CONNECTION="127.0.0.1:6379:1") == []
    )


def test_legacy_flat_settings_are_checked_too():
    assert ids({}, QUEUE_BACKEND="nonsense") == ["djworkers.E201"]


def test_messages_name_the_setting():
    with override_settings(DJWORKERS={"WORKER": WORKER, "QUEUE": {"BACKEND": "database", "CONNECTION": "nosuchdb"}}):
        (message,) = check()
    assert 'DJWORKERS["QUEUE"]["CONNECTION"]' in message.msg and "nosuchdb" in message.msg


def test_manage_py_check_reports_queue_errors():
    with override_settings(DJWORKERS={"WORKER": WORKER, "QUEUE": {"RETRIES": -3}}):
        with pytest.raises(SystemCheckError, match="djworkers.E206"):
            call_command("check")
