"""Shared fixtures: private redis-server/gearmand, worker subprocesses, a clean registry."""

from __future__ import annotations

import pytest

from tests.services import Gearmand, RedisServer, find_binary, missing


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A private redis-server on a free port. Tests may stop/pause/restart it."""
    binary = find_binary("redis-server")
    if binary is None:
        missing("redis-server (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.binary = binary
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis(redis_server):
    """A client of the private server, flushed before the test; the server is restarted if a test stopped it."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def gearmand_server(tmp_path_factory):
    binary = find_binary("gearmand")
    if binary is None:
        missing("gearmand (apt-get install gearman-job-server)")
    server = Gearmand(tmp_path_factory.mktemp("gearmand"))
    server.binary = binary
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clean_registry():
    """Let a test register jobs without leaking them into other tests."""
    from djworkers.registry import registry

    before = dict(registry._jobs)
    yield registry
    registry._jobs.clear()
    registry._jobs.update(before)


@pytest.fixture(autouse=True)
def _discard_job_stats():
    """Job counters are per process and flushed from a thread: drop what a test counted so
    no flush lands in another test's database (or the dev database at exit)."""
    yield
    from djworkers import stats

    stats.counter.discard()
