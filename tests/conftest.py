"""Shared fixtures: private redis-server/gearmand, worker subprocesses, a clean registry."""

from __future__ import annotations

import os
import signal

import pytest

from tests.services import Gearmand, RedisServer, find_binary, missing


def pytest_configure(config):
    """On PostgreSQL, drop test databases left by earlier runs that were killed.

    Test databases are named per process (``test_djworkers_<pid>``, see
    tests/settings.py) so concurrent runs do not collide; a run killed before
    its teardown leaves its database behind, and this removes those whose
    process is gone.
    """
    if os.environ.get("DJWORKERS_TEST_DB") != "postgres" or os.environ.get("DJWORKERS_DB_NAME"):
        return
    try:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True, connect_timeout=3
        ) as conn:
            names = [
                row[0] for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'test_djworkers_%'")
            ]
            for name in names:
                pid = name.rsplit("_", 1)[-1]
                if pid.isdigit() and not _alive(int(pid)):
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    except Exception:  # cleanup is a courtesy: the run itself reports a missing server
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    from djworkers.monitoring import stats

    stats.counter.discard()


@pytest.fixture
def file_door(tmp_path, settings):
    """The test-only "file" door (tests/testapp/door.py) installed through DJWORKERS["DOORS"],
    with its FileSource directory; returns the source."""
    from tests.testapp.filesource import FileSource

    source = FileSource(tmp_path / "file-queue")
    settings.DJWORKERS = {
        **settings.DJWORKERS,
        "DOORS": ["tests.testapp.door.door"],
        "FILEDOOR": {"DIR": str(source.root)},
    }
    return source


@pytest.fixture
def consumers():
    """Worker subprocesses a test appends here are killed (with their process group) at its end."""
    started = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
