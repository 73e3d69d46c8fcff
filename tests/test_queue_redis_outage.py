"""Redis outages and limits (Q6, Q9, X3): back-off, clear errors, big thread pools, bad keys.

Consumers run as real ``queue_consumer`` subprocesses against the private
redis-server (tests/conftest.py), which these tests stop and restart; "Redis is
unreachable" is also a URL to a port where nothing listens.
"""

from __future__ import annotations

import logging
import re
import time

import pytest
from django.test import override_settings

from djworkers.exceptions import BackendUnavailable, DjworkersImproperlyConfigured
from djworkers.queue.api import reset_backends
from djworkers.queue.backends.redis import RedisBackend
from djworkers.queue.backends.redis_scripts import QueueKeys
from tests.redisapp import commands as jobs
from tests.services import free_port
from tests.test_queue_redis_processes import (  # noqa: F401 (fixtures)
    EMPTY,
    consumer_settings,
    consumers,
    djworkers_settings,
    log_of,
    queue,
    runs,
    wait_ready,
)
from tests.utils import run, spawn, stop, wait_until

SETTING = 'DJWORKERS["QUEUE"]["CONNECTION"]'


def _outage_settings(url: str, *, max_delay: float, burst_timeout: float = 30.0) -> dict:
    settings = consumer_settings(url)
    settings["DJWORKERS"]["WORKER"].update(OUTAGE_MAX_DELAY=max_delay, BURST_OUTAGE_TIMEOUT=burst_timeout)
    return settings


def _dead_url() -> str:
    """A Redis URL with a password, on a port where nothing listens."""
    return f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"


def _tracebacks(log: str) -> int:
    """Logged tracebacks of the outage (a chained one prints "Traceback" once per link)."""
    return len(re.findall(r"^djworkers\.exceptions\.BackendUnavailable: ", log, re.M))


def _retry_delays(log: str) -> list[float]:
    return [
        float(x)
        for x in re.findall(r"Fetching from queue \(redis\) failed \(attempt \d+\): .*; retrying in ([\d.]+)s", log)
    ]


# -- enqueue ---------------------------------------------------------------------------------
def test_enqueue_to_unreachable_redis_names_backend_and_setting():
    """Q6: an enqueue while Redis is down raises BackendUnavailable (a djworkers error), naming the
    backend, the server (password hidden) and the setting, chained to redis-py's error."""
    import redis

    url = _dead_url()
    with override_settings(DJWORKERS=djworkers_settings(url)):
        reset_backends()
        try:
            with pytest.raises(BackendUnavailable) as caught:
                jobs.incr(url, "never")
        finally:
            reset_backends()
    message = str(caught.value)
    assert "redis queue backend" in message and SETTING in message, message
    assert re.search(r"redis://:\*\*\*@127\.0\.0\.1:\d+/0", message), message
    assert "s3cret-pw" not in message
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    assert isinstance(caught.value, ConnectionError)  # existing `except ConnectionError` still catches it


# -- the consumer during an outage -------------------------------------------------------------
@pytest.mark.slow
def test_burst_consumer_gives_up_on_unreachable_redis(tmp_path):
    """Q9: ``queue_consumer --burst`` with Redis unreachable backs off, logs one line per attempt
    (URL with the password hidden, one traceback), and exits non-zero after BURST_OUTAGE_TIMEOUT."""
    url = _dead_url()
    started = time.monotonic()
    result = run(
        ["queue_consumer", "--no-periodic", "--burst", "-t", "4"],
        settings=_outage_settings(url, max_delay=1.0, burst_timeout=3.0),
        timeout=60,
    )
    took = time.monotonic() - started
    log = result.stdout + result.stderr
    assert result.returncode != 0, log
    assert took < 30, log
    assert "Giving up" in log and "BURST_OUTAGE_TIMEOUT" in log, log
    delays = _retry_delays(log)
    # one line per attempt for the four threads together: 0.5, 1, 1, 1 ... within 3 s
    assert 3 <= len(delays) <= 8, log
    assert delays[:3] == [0.5, 1.0, 1.0], delays
    assert re.search(r"redis://:\*\*\*@127\.0\.0\.1:\d+/0", log) and SETTING in log, log
    assert "s3cret-pw" not in log
    assert _tracebacks(log) == 1, log


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_consumer_backs_off_while_redis_is_down_then_carries_on(queue, redis_server, redis, tmp_path):
    """Q6/X3: the server stops under a running consumer: exponential back-off capped at
    OUTAGE_MAX_DELAY, one line per attempt, one traceback; after a restart the consumer says so
    and runs new jobs (before the fix: a full traceback every 0.1 s per thread)."""
    process = spawn(
        ["queue_consumer", "--no-periodic", "-t", "4"],
        settings=_outage_settings(redis_server.url, max_delay=2.0),
        log=tmp_path / "consumer.log",
    )
    process.log = tmp_path / "consumer.log"
    try:
        wait_ready(process)
        jobs.incr(redis_server.url, "before")
        wait_until(lambda: redis.get(jobs.RUNS + "before"), timeout=60)
        redis_server.stop()
        time.sleep(7)
        log = process.log.read_text(errors="replace")
        delays = _retry_delays(log)
        assert delays[:3] == [0.5, 1.0, 2.0], log[-3000:]
        assert max(delays) == 2.0
        assert 3 <= len(delays) <= 8, log[-3000:]  # 0.5 + 1 + 2 + 2 + ... in 7 s, for four threads
        assert _tracebacks(log) == 1, log[-3000:]
        assert process.poll() is None

        redis_server.start()
        client = redis_server.client()
        wait_until(lambda: "reachable again" in process.log.read_text(errors="replace"), timeout=30)
        jobs.incr(redis_server.url, "after")
        wait_until(lambda: client.get(jobs.RUNS + "after"), timeout=60)
        assert stop(process) == 0, log_of(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- many threads --------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_hundred_threads_share_a_pool_sized_for_them(queue, redis_server, redis, consumers):
    """Q9: ``-t 200`` on Redis: the pool is sized from the thread count (redis-py refuses a 101st
    connection by default: MaxConnectionsError on most fetches before the fix)."""
    process = consumers(redis_server.url, "-t", "200", name="wide")
    wait_ready(process, timeout=90)
    keys = [f"w{n}" for n in range(600)]
    for key in keys:
        jobs.incr(redis_server.url, key, 0.05)
    wait_until(lambda: all(runs(redis, keys)) or process.poll() is not None, timeout=120, interval=0.5)
    assert all(runs(redis, keys)), log_of(process)
    assert stop(process) == 0, log_of(process)
    log = process.log.read_text(errors="replace")
    assert "MaxConnectionsError" not in log and "Too many connections" not in log, log[-3000:]
    assert "failed" not in log.lower(), log[-3000:]
    assert int(redis.info("clients")["connected_clients"]) >= 1


def test_pool_grows_with_threads_and_an_explicit_limit_is_checked(redis_server, redis):
    """Q9: reserve_connections raises redis-py's default 100 to fit the threads; a max_connections
    the user set is kept, and one below the thread count is rejected naming the setting."""
    backend = RedisBackend(["default"], redis_server.url + "?socket_timeout=4")
    try:
        backend.reserve_connections(202)
        assert backend.client.connection_pool.max_connections >= 202
    finally:
        backend.close()
    limited = RedisBackend(["default"], redis_server.url + "?max_connections=50")
    try:
        limited.reserve_connections(10)
        with pytest.raises(DjworkersImproperlyConfigured, match=r"max_connections=50.*--threads") as caught:
            limited.reserve_connections(202)
        assert SETTING in str(caught.value)
    finally:
        limited.close()


def test_fetching_threads_keep_a_connection_only_where_the_pool_leaves_their_jobs_one(redis_server, redis):
    """Q9: a fetching thread keeps a connection of its own only when the pool has a second one
    per thread for the jobs it runs (their code may share the pool): under a user's
    ``max_connections`` too small for that, fetches check one out each time and still work."""
    from djworkers.redis_client import thread_client

    roomy = RedisBackend(["default"], redis_server.url + "?max_connections=50")
    tight = RedisBackend(["other"], redis_server.url + "?max_connections=30")
    try:
        roomy.reserve_connections(20)
        tight.reserve_connections(20)
        assert roomy._fetch_client() is thread_client(roomy.client) is not roomy.client
        assert tight._fetch_client() is tight.client
        for backend, queue in ((roomy, "default"), (tight, "other")):
            backend.write(b"DJW1 " + queue.encode(), queue=queue)
            (delivery,) = backend.fetch(1, 1)
            assert delivery.raw == b"DJW1 " + queue.encode()
            backend.ack(delivery)
            assert backend.stats(queue) == {"ready": 0, "scheduled": 0, "in_flight": 0}
    finally:
        roomy.close()
        tight.close()


@pytest.mark.slow
def test_consumer_rejects_threads_above_an_explicit_pool_limit(redis_server):
    """Q9: ``-t 200`` with ``?max_connections=50`` in the URL stops at start with a clear error."""
    result = run(
        ["queue_consumer", "--no-periodic", "--burst", "-t", "200"],
        settings=consumer_settings(redis_server.url + "?max_connections=50"),
        timeout=60,
    )
    assert result.returncode != 0
    assert "max_connections=50" in result.stderr and SETTING in result.stderr, result.stderr


# -- a bad member in a structural key ------------------------------------------------------------
def test_non_numeric_priority_level_is_skipped_and_reported_once(redis_server, redis, caplog):
    """Q6/Q14: a foreign member in the priority-levels ZSET ("attempt to compare nil with number"
    in the fetch script before the fix) is skipped and logged once; every job still runs in order."""
    backend = RedisBackend(["default"], redis_server.url, lease_seconds=30)
    keys = QueueKeys.for_queue("default")
    try:
        backend.write(b"low", priority=-2)
        backend.write(b"normal")
        backend.write(b"high", priority=5)
        redis.zadd(keys.levels, {"oops": 3, "1.5": 2})
        with caplog.at_level(logging.ERROR, logger="djworkers.queue.redis"):
            got = [d.raw for d in backend.fetch(2, 0)]
            got += [d.raw for d in backend.fetch(2, 0)]
            assert backend.stats() == {"ready": 0, "scheduled": 0, "in_flight": 3}
            assert backend.fetch(2, 0) == []
        assert got == [b"high", b"normal", b"low"]
        reports = [r.getMessage() for r in caplog.records if "not an integer priority" in r.getMessage()]
        assert len(reports) == 2, reports  # "oops" and "1.5", once each over three fetches
        assert all(keys.levels in text and "ZREM" in text for text in reports)
        assert redis.zscore(keys.levels, "oops") == 3  # reported, not silently destroyed
    finally:
        backend.flush()
        backend.close()


@pytest.mark.parametrize(
    "setting, shown",
    [
        ("redis://:pw@example.com:6380/2", "redis://:***@example.com:6380/2"),
        ("redis://user:pw@example.com/0?socket_timeout=2", "redis://user:***@example.com/0?socket_timeout=2"),
        ("rediss://example.com:6390/1", "rediss://example.com:6390/1"),
        ("unix:///run/redis.sock?password=pw", "unix:///run/redis.sock?password=***"),
        ("example.com:6381:3", "redis://example.com:6381/3"),
        ({"host": "example.com", "password": "pw"}, "redis://example.com:6379/0"),
        ({"unix_socket_path": "/run/redis.sock", "password": "pw"}, "unix:///run/redis.sock"),
        (None, "redis://127.0.0.1:6379/0"),
    ],
)
def test_connection_is_described_without_its_password(setting, shown):
    """Q6: what outage messages show of DJWORKERS["QUEUE"]["CONNECTION"]: never a password."""
    from djworkers.redis_client import describe

    assert describe(setting) == shown
