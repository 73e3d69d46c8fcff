"""The slacker's queue worker (S3): a chain sent as a queue job, run by a real ``queue_consumer``
subprocess, its result awaited from the queue door's result store."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.contrib.auth.models import User

from djworkers.queue.api import reset_backends
from djworkers.slacker import RemoteError, SlackerTimeout, postpone, run
from djworkers.slacker.jobs import JOB_NAME
from tests.testapp import slacker_targets
from tests.utils import spawn, stop

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SETTINGS = {"DJWORKERS": {"WORKER": {"SHUTDOWN_TIMEOUT": 5, "HEARTBEAT_INTERVAL": 0.5}}}


@pytest.fixture
def consumer(tmp_path):
    reset_backends()
    process = spawn(
        ["queue_consumer", "-d", "0.05", "-m", "0.2", "--no-periodic", "-t", "4"],
        settings=SETTINGS,
        log=tmp_path / "consumer.log",
    )
    yield process
    stop(process)
    reset_backends()


@pytest.fixture
def users(db):
    return [User.objects.create(username=f"user{i}") for i in range(7)]


def test_get_filter_and_does_not_exist_through_the_queue(consumer, users):
    async def main():
        objects = postpone(User, worker="queue").objects
        return await asyncio.gather(
            objects.get(pk=users[4].pk),
            objects.filter(username__startswith="user").order_by("pk")[:5],
            objects.count(),
        )

    one, five, count = asyncio.run(main())
    assert one == users[4]
    assert [u.username for u in five] == [f"user{i}" for i in range(5)]
    assert count == 7
    with pytest.raises(User.DoesNotExist):
        asyncio.run(run(postpone(User).objects.get(pk=10**9), worker="queue", timeout=30))
    with pytest.raises(RemoteError):
        asyncio.run(run(postpone(slacker_targets.raise_unpicklable)(), worker="queue", timeout=30))


def test_no_consumer_means_a_timeout_not_a_hang(users):
    started = time.monotonic()
    with pytest.raises(SlackerTimeout):
        asyncio.run(run(postpone(User).objects.count(), worker="queue", timeout=1))
    assert time.monotonic() - started < 3


def test_the_job_is_registered_by_autodiscovery():
    from djworkers.registry import registry

    assert JOB_NAME in registry
