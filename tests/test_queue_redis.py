"""The Redis queue backend (Q4, Q6) against a real, private redis-server.

The shared contract runs first; then what is particular to Redis: the
connection setting (URL or the djutils ``host:port:db``), priorities, the
blocking wait's bounds, receipts that stay unique across consumers and
restarts, acknowledgements that ride on the next fetch, and surviving a
stopped or restarted server. Worker subprocesses: test_queue_redis_processes.py.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from djworkers.exceptions import BackendUnavailable, DjworkersImproperlyConfigured
from djworkers.queue.backends import backend_class
from djworkers.queue.backends.base import TrackedFrame
from djworkers.queue.backends.redis import RedisBackend
from djworkers.queue.backends.redis_scripts import FETCH, HELPERS, SCRIPTS, QueueKeys
from djworkers.redis_client import DEFAULT_URL, get_client, parse_connection
from djworkers.runtime.source import Delivery
from tests.backend_contract import LEASE, BackendContract


class TestRedisBackendContract(BackendContract):
    """Q4/Q6: the backend contract every queue backend passes, on real Redis."""

    @pytest.fixture
    def backend_factory(self, redis, redis_server):
        def make(queues=("default",), lease_seconds=LEASE):
            return RedisBackend(queues, redis_server.url, lease_seconds=lease_seconds)

        return make


@pytest.fixture
def make_backend(redis, redis_server):
    """New RedisBackend instances (consumers) on the private server, closed afterwards."""
    made: list[RedisBackend] = []

    def make(queues=("default",), lease_seconds=LEASE, connection=None):
        backend = RedisBackend(queues, connection or redis_server.url, lease_seconds=lease_seconds)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        try:
            backend.close()
        except Exception:
            pass


def _keys(queue="default") -> QueueKeys:
    return QueueKeys.for_queue(queue)


# -- the CONNECTION setting ------------------------------------------------------------
@pytest.mark.parametrize(
    "value, expected",
    [
        (None, DEFAULT_URL),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        (
            "redis://:secret@cache.example.com:6380/2?socket_timeout=2",
            "redis://:secret@cache.example.com:6380/2?socket_timeout=2",
        ),
        ("rediss://user:pw@redis.example.com", "rediss://user:pw@redis.example.com"),
        ("redis://[::1]:6379/0", "redis://[::1]:6379/0"),
        ("unix:///run/redis.sock?db=1", "unix:///run/redis.sock?db=1"),
        ("  redis://localhost/3 ", "redis://localhost/3"),
        # the djutils README form, and its shorter variants
        ("10.0.0.75:6379:0", {"host": "10.0.0.75", "port": 6379, "db": 0}),
        ("localhost:6380:5", {"host": "localhost", "port": 6380, "db": 5}),
        ("localhost:6380", {"host": "localhost", "port": 6380, "db": 0}),
        ("redis-host", {"host": "redis-host", "port": 6379, "db": 0}),
        ({"host": "h", "port": 1, "password": "x"}, {"host": "h", "port": 1, "password": "x"}),
    ],
)
def test_parse_connection_accepts(value, expected):
    """Q6: a URL or the old host:port:db string."""
    assert parse_connection(value) == expected


@pytest.mark.parametrize(
    "value, why",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("http://localhost:6379/0", "unknown scheme 'http'"),
        ("redis://localhost:notaport/0", "Port could not be cast"),
        ("redis://localhost:99999/0", "Port out of range"),
        ("redis://localhost:6379/zero", "database number 'zero'"),
        ("redis:///0", "no host"),
        ("unix://", "socket path"),
        ("localhost:port:0", "the port 'port'"),
        ("localhost:6379:db", "the db 'db'"),
        ("localhost:6379:-1", "the db '-1'"),
        ("localhost:0:0", "port 0 is out of range"),
        ("localhost:6379:0:extra", "too many ':'"),
        (":6379:0", "bad host ''"),
        ("my host:6379", "bad host"),
        (6379, "a int is not accepted"),
        (("localhost", 6379), "a tuple is not accepted"),
        ({1: "x"}, "dict keys must be strings"),
    ],
)
def test_parse_connection_rejects_garbage_naming_the_setting(value, why):
    """Q6: garbage raises DjworkersImproperlyConfigured naming the setting and the value."""
    with pytest.raises(DjworkersImproperlyConfigured) as caught:
        parse_connection(value)
    message = str(caught.value)
    assert 'DJWORKERS["QUEUE"]["CONNECTION"]' in message
    assert why in message
    assert "host:port:db" in message  # says what would be accepted


def test_parse_connection_names_another_setting():
    with pytest.raises(DjworkersImproperlyConfigured, match=r"DUMBWAITER.*CONNECTION"):
        parse_connection("nope:nope", setting='DJWORKERS["DUMBWAITER"]["CONNECTION"]')


def test_legacy_string_and_url_reach_the_server(redis_server, redis):
    """The old host:port:db form connects to that host, port and database."""
    legacy = get_client(f"127.0.0.1:{redis_server.port}:3")
    legacy.set("where", "db3")
    assert get_client(f"redis://127.0.0.1:{redis_server.port}/3").get("where") == b"db3"
    assert redis.get("where") is None  # not in db 0
    legacy.flushdb()


def test_client_defaults_and_url_overrides(redis_server):
    """Finite socket timeouts by default (a stopped server cannot hang a consumer); the URL may override."""
    plain = get_client(redis_server.url).connection_pool.connection_kwargs
    assert plain["socket_timeout"] == 5.0 and plain["socket_connect_timeout"] == 5.0
    tuned = get_client(redis_server.url + "?socket_timeout=1.5").connection_pool.connection_kwargs
    assert tuned["socket_timeout"] == 1.5
    # one pool per setting per process
    assert get_client(redis_server.url) is get_client(redis_server.url)


def test_backend_is_selected_by_name_and_djutils_path():
    assert backend_class("redis") is RedisBackend
    assert backend_class("djutils.queue.backends.redis_backend.RedisQueue") is RedisBackend


def test_bad_connection_fails_at_construction():
    with pytest.raises(DjworkersImproperlyConfigured, match="CONNECTION"):
        RedisBackend(["default"], "localhost:6379:x")


# -- ordering and priorities --------------------------------------------------------------
def test_priorities_higher_first_fifo_within(make_backend):
    backend = make_backend()
    for frame, priority in [(b"n1", 0), (b"low", -5), (b"h1", 10), (b"n2", 0), (b"mid", 3), (b"h2", 10)]:
        backend.write(frame, priority=priority)
    assert backend.stats()["ready"] == 6
    got = [d.raw for d in backend.fetch(10, 0)]
    assert got == [b"h1", b"h2", b"mid", b"n1", b"n2", b"low"]


def test_priority_survives_release_retry_and_lease_expiry(make_backend):
    """A job keeps its priority when handed back, retried, or recovered from a dead consumer."""
    backend = make_backend()
    backend.write(b"hi", priority=7)
    (hi,) = backend.fetch(1, 0)
    backend.release(hi)
    backend.write(b"normal")
    assert [d.raw for d in backend.fetch(1, 0)] == [b"hi"]

    backend.flush()
    backend.write(b"hi", priority=7)
    (hi,) = backend.fetch(1, 0)
    backend.retry(hi, b"hi-again", time.time() - 1)
    backend.write(b"normal")
    assert [d.raw for d in backend.fetch(1, 0)] == [b"hi-again"]

    backend.flush()
    backend.write(b"hi", priority=7)
    backend.fetch(1, 0)  # then "dies"
    backend.write(b"normal")
    time.sleep(LEASE + 0.2)
    assert [d.raw for d in make_backend().fetch(1, 0)] == [b"hi"]


def test_release_goes_to_the_head(make_backend):
    backend = make_backend()
    backend.write_many([b"1", b"2", b"3"])
    (first,) = backend.fetch(1, 0)
    backend.release(first)
    assert [d.raw for d in backend.fetch(3, 0)] == [b"1", b"2", b"3"]


def test_first_queue_is_served_first(make_backend):
    backend = make_backend(("high", "low"))
    backend.write(b"l", queue="low")
    backend.write(b"h", queue="high")
    assert [(d.raw, d.queue) for d in backend.fetch(1, 0)] == [(b"h", "high")]


def test_write_many_chunks_and_read_takes_for_good(make_backend, redis):
    backend = make_backend()
    count = RedisBackend.WRITE_CHUNK * 2 + 7
    backend.write_many(b"%d" % n for n in range(count))  # a generator is fine
    assert len(backend) == count
    assert backend.read() == b"0"
    assert backend.stats() == {"ready": count - 1, "scheduled": 0, "in_flight": 0}
    got = []
    while batch := backend.fetch(RedisBackend.MAX_FETCH, 0):
        got += batch
    assert len(got) == count - 1 and got[-1].raw == b"%d" % (count - 1)


# -- receipts and acknowledgements -----------------------------------------------------
def test_receipts_unique_across_consumers(make_backend):
    a, b = make_backend(), make_backend()
    a.write_many([b"x"] * 20)
    receipts = [d.receipt for d in a.fetch(10, 0) + b.fetch(10, 0)]
    assert len(set(receipts)) == 20


def test_stale_ack_does_not_touch_the_redelivery(make_backend):
    """A consumer that stalled past its lease and then acks must not erase the job's new lease."""
    slow, fast = make_backend(), make_backend()
    slow.write(b"job")
    (old,) = slow.fetch(1, 0)
    time.sleep(LEASE + 0.2)
    (new,) = fast.fetch(1, 0)
    assert new.raw == b"job" and new.receipt != old.receipt
    slow.ack(old)
    slow.flush_acks()
    assert fast.stats()["in_flight"] == 1  # still leased to the fast consumer
    slow.retry(old, b"retry", time.time())  # lost lease: ignored, the job is not duplicated
    assert fast.stats() == {"ready": 0, "scheduled": 0, "in_flight": 1}


def test_lease_expiries_are_whole_milliseconds_of_the_server_clock(make_backend, redis):
    """Q5: a lease's score is an integer number of milliseconds (Redis formats such a score
    without printf), lease_seconds after the server's time."""
    backend = make_backend()
    backend.write(b"job")
    (taken,) = backend.fetch(1, 0)
    seconds, micros = redis.time()
    score = redis.zscore(_keys().leases, taken.receipt)
    assert score == int(score)
    assert abs(score - (seconds * 1000 + micros // 1000 + LEASE * 1000)) < 2000


def test_extend_counts_the_leases_still_held(make_backend, caplog):
    """Q5: extend counts the leases it found held (not the scores it changed, which a
    renewal within the millisecond of the last one leaves as they were); only the lost
    one is reported."""
    backend = make_backend()
    backend.write_many([b"a", b"b"])
    held, lost = backend.fetch(2, 0)
    backend.ack(lost)
    backend.flush_acks()
    with caplog.at_level("WARNING", logger="djworkers.queue.redis"):
        backend.extend([held, lost])
        backend.extend([held])
    assert [r.getMessage() for r in caplog.records if "already expired" in r.getMessage()] == [
        "1 of 2 lease(s) on queue 'default' had already expired; those jobs may run twice"
    ]


def _ack_from_job_thread(backend: RedisBackend, delivery: Delivery) -> None:
    """Ack as a worker's job thread does (the fetching thread is another one)."""
    thread = threading.Thread(target=backend.ack, args=(delivery,))
    thread.start()
    thread.join()


def test_ack_from_the_fetching_thread_is_sent_at_once(make_backend, redis):
    backend = make_backend()
    backend.write(b"1")
    (one,) = backend.fetch(1, 0)
    backend.ack(one)
    assert not backend._pending
    assert redis.zcard(_keys().leases) == 0 and redis.hlen(_keys().inflight) == 0


def test_acks_from_job_threads_ride_on_the_next_fetch(make_backend, redis):
    backend = make_backend()
    backend.ACK_DELAY = 5  # make the background flush wait, to see the piggyback
    backend.write_many([b"1", b"2"])
    (one,) = backend.fetch(1, 0)
    _ack_from_job_thread(backend, one)
    assert backend._pending  # not sent yet: no round trip for the ack itself
    (two,) = backend.fetch(1, 0)
    assert not backend._pending
    assert redis.zcard(_keys().leases) == 1 and redis.hlen(_keys().inflight) == 1


def test_unsent_acks_are_flushed_in_the_background(make_backend, redis):
    """Outside a fetch loop, acks still reach Redis within a moment."""
    backend = make_backend()
    backend.write(b"1")
    (one,) = backend.fetch(1, 0)
    _ack_from_job_thread(backend, one)
    deadline = time.monotonic() + 5
    while redis.zcard(_keys().leases) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert redis.zcard(_keys().leases) == 0 and redis.hlen(_keys().inflight) == 0


@pytest.mark.slow
def test_a_busy_fetch_loop_sends_no_ack_round_trips_of_its_own(make_backend, redis):
    """While a worker keeps fetching, its acks ride on the fetches; the background
    flush (every ACK_DELAY) used to send the acks of the batch in progress as ACK calls of
    their own, ~880 extra round trips per 20,000 jobs. Counted on the server: EVALSHA = fetches."""
    backend = make_backend()
    backend.ACK_DELAY = 0.2  # a batch (4 x 10 ms) well inside it, the loop (20 batches) 4 times longer
    backend.write_many([str(n).encode() for n in range(80)])
    redis.script_load(FETCH.source)  # a first EVALSHA answered NOSCRIPT would count too
    redis.config_resetstat()
    fetches = 0
    while True:
        deliveries = backend.fetch(4, 0)
        fetches += 1
        if not deliveries:
            break
        for delivery in deliveries:
            time.sleep(0.01)  # the job
            backend.ack_soon(delivery)
    time.sleep(backend.ACK_DELAY * 3)
    calls = redis.info("commandstats")["cmdstat_evalsha"]["calls"]
    assert calls == fetches
    assert redis.zcard(_keys().leases) == 0 and redis.hlen(_keys().inflight) == 0


def test_drained_queue_leaves_no_keys(make_backend, redis):
    """Nothing accumulates in Redis once every job is acknowledged."""
    backend = make_backend()
    backend.write_many([b"a", b"b"])
    backend.write(b"p", priority=2)
    backend.write(b"later", eta=time.time() + 0.3)
    got: list[Delivery] = []
    deadline = time.monotonic() + 10
    while len(got) < 4 and time.monotonic() < deadline:
        got += backend.fetch(10, 1)
    for delivery in got:
        backend.ack(delivery)
    backend.close()
    assert len(got) == 4
    assert redis.keys("djworkers:queue:*") == []


# -- blocking wait: bounded and prompt ---------------------------------------------------------
def test_wait_wakes_on_write_from_another_client(make_backend):
    consumer, producer = make_backend(lease_seconds=60), make_backend()
    timer = threading.Timer(0.3, producer.write, args=(b"wake",))
    timer.start()
    started = time.monotonic()
    got = consumer.fetch(1, 5)
    elapsed = time.monotonic() - started
    timer.join()
    assert [d.raw for d in got] == [b"wake"]
    assert 0.2 < elapsed < 3.0


def test_a_waiting_fetch_runs_in_one_round_trip_after_its_wait(make_backend, monkeypatch):
    """Q6: a consumer that found its queue empty waits with BLPOP and the FETCH pipelined
    behind it: a job written meanwhile comes back from that same round trip (two round
    trips for the whole call: the first, empty FETCH, then BLPOP + FETCH)."""
    from redis.connection import Connection

    consumer, producer = make_backend(lease_seconds=60), make_backend()
    producer.write(b"warm-up")
    assert len(consumer.fetch(1, 0)) == 1  # scripts loaded, connections open
    me, sends = threading.get_ident(), []
    original = Connection.send_packed_command

    def counting(self, command, check_health=True):
        if threading.get_ident() == me:
            sends.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    timer = threading.Timer(0.3, producer.write, args=(b"wake",))
    timer.start()
    got = consumer.fetch(1, 5)
    timer.join()
    assert [d.raw for d in got] == [b"wake"]
    assert len(sends) == 2


def test_a_waiting_fetch_reloads_scripts_the_server_lost(make_backend, redis):
    """Q6: the FETCH pipelined behind the wait meets NOSCRIPT (server restarted meanwhile):
    the script is loaded again and the job is fetched, not lost or reported as an outage."""
    backend = make_backend(lease_seconds=60)
    backend.write(b"job")
    redis.script_flush()
    deliveries, _ = backend._fetch(1, leasing=True, wait=0.01)
    assert [d.raw for d in deliveries] == [b"job"]


def test_wait_wakes_when_a_delayed_job_is_due(make_backend):
    consumer = make_backend(lease_seconds=60)
    consumer.write(b"soon", eta=time.time() + 0.5)
    started = time.monotonic()
    got = []
    while not got and time.monotonic() - started < 5:
        got = consumer.fetch(1, 5)
    assert [d.raw for d in got] == [b"soon"]
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("timeout", [0, 0.0001, 0.2])
def test_wait_never_blocks_past_timeout(make_backend, redis, timeout):
    """Q6 old bug: BLPOP with timeout 0 blocks for ever. Tiny timeouts must stay tiny,
    and stale wake-up tokens (the queue emptied by someone else) must not extend the wait."""
    backend = make_backend(lease_seconds=60)
    redis.lpush(_keys().wake, *["1"] * 5)
    started = time.monotonic()
    assert backend.fetch(5, timeout) == []
    assert time.monotonic() - started < timeout + 1.0


def test_idle_wait_is_capped_by_the_lease(make_backend):
    """A blocked fetch returns within a third of the lease, so a heartbeat is never late."""
    backend = make_backend(lease_seconds=0.9)
    started = time.monotonic()
    assert backend.fetch(1, 30) == []
    assert time.monotonic() - started < 2.0


def test_poison_bytes_are_delivered_as_bytes(make_backend, redis):
    """Frames pushed straight into the list come out untouched (the worker quarantines them)."""
    backend = make_backend()
    junk = b"\x00" + os.urandom(63)  # not '#' or 0xff first: see the next test
    redis.lpush(_keys().ready, junk)
    assert [d.raw for d in backend.fetch(1, 1)] == [junk]


def test_foreign_frame_that_looks_written_by_id_is_delivered_whole(make_backend, redis):
    """Q6: a pushed frame starting with '#' and holding a '|' (as 1 random frame in ~260
    does) is not a frame written by id unless the queue tracks that id: it comes out
    whole, so the failed-job store keeps every byte that was pushed. A tracked one next
    to it still loses its prefix."""
    backend = make_backend()
    junk = b"##\xfb~" + os.urandom(8) + b"|" + os.urandom(16)
    redis.lpush(_keys().ready, junk)
    backend.write_jobs([TrackedFrame(b"DJW1 ours", "ours")])
    assert [d.raw for d in backend.fetch(2, 1)] == [junk, b"DJW1 ours"]


def test_foreign_frame_starting_with_the_redelivery_byte_survives_a_lost_lease(make_backend, redis):
    """Q16: a frame pushed by something else that starts with 0xff (the byte of the
    redelivery tag) without a count is delivered as it is; when its lease is lost it comes
    back as it was, counted once more, and the fetch that recovers it does not fail."""
    backend = make_backend(lease_seconds=0.3)
    junk = b"\xffno-count|" + os.urandom(16)
    redis.lpush(_keys().ready, junk)
    (first,) = backend.fetch(1, 1)
    assert (first.raw, first.deliveries) == (junk, 1)
    time.sleep(0.5)  # its lease runs out unrenewed
    (again,) = backend.fetch(1, 1)
    assert (again.raw, again.deliveries) == (junk, 2)


# -- a server that stalls or restarts ---------------------------------------------------------
def test_stopped_server_times_out_then_recovers(make_backend, redis_server, redis):
    """SIGSTOP: calls fail with a timeout instead of hanging; after SIGCONT all is well:
    the ack made meanwhile arrives, and the job the timed-out fetch leased (the server ran
    it once resumed, but nobody got the reply) comes back when that lease expires."""
    backend = make_backend(lease_seconds=2, connection=redis_server.url + "?socket_timeout=1")
    backend.write_many([b"1", b"2"])
    (one,) = backend.fetch(1, 0)
    redis_server.pause()
    try:
        _ack_from_job_thread(backend, one)  # never blocks: queued for later
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            backend.fetch(1, 0.5)
        assert time.monotonic() - started < 4
        assert "Timeout" in type(caught.value.__cause__).__name__
    finally:
        redis_server.resume()
    got: list[Delivery] = []
    deadline = time.monotonic() + 15
    while not got and time.monotonic() < deadline:
        got = backend.fetch(1, 1)
    assert [d.raw for d in got] == [b"2"]
    backend.ack(got[0])
    assert backend.stats() == {"ready": 0, "scheduled": 0, "in_flight": 0}


def test_restarted_server_reconnects_and_reloads_scripts(make_backend, redis_server, redis):
    """After a restart (data and script cache gone) producers and consumers carry on."""
    backend = make_backend(lease_seconds=60)
    backend.write(b"before")
    assert backend.read() == b"before"
    redis_server.restart()
    backend.write(b"after")  # stale pooled socket: reconnect; NOSCRIPT: reload
    assert [d.raw for d in backend.fetch(1, 1)] == [b"after"]


def test_failed_fetch_keeps_acks_for_later(make_backend, redis_server, redis):
    backend = make_backend(lease_seconds=60)
    backend.write_many([b"1", b"2"])
    backend.ACK_DELAY = 5
    (one,) = backend.fetch(1, 0)
    _ack_from_job_thread(backend, one)
    redis_server.stop()
    try:
        with pytest.raises(BackendUnavailable):
            backend.fetch(1, 0)
        assert backend._pending == {"default": [one.receipt]}
    finally:
        redis_server.start()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_gets_a_fresh_token_and_no_inherited_acks(make_backend, redis):
    """Receipts made in a forked child never collide with the parent's; parent acks stay home."""
    backend = make_backend(lease_seconds=60)
    backend.write_many([b"p", b"c"])
    (parent_delivery,) = backend.fetch(1, 0)
    backend.ack(parent_delivery)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: take the other job on a fresh socket
        try:
            (child_delivery,) = backend.fetch(1, 0)
            ok = not backend._pending and child_delivery.receipt.split(".")[0] != parent_delivery.receipt.split(".")[0]
            backend.ack(child_delivery)
            backend.flush_acks()
            os.write(write, b"ok" if ok and child_delivery.raw == b"c" else b"bad")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 10) == b"ok"
    backend.flush_acks()
    assert backend.stats() == {"ready": 0, "scheduled": 0, "in_flight": 0}


def test_write_many_with_eta_and_priority(make_backend):
    """Same keyword arguments as the database backend's bulk write."""
    backend = make_backend(lease_seconds=60)
    backend.write_many([b"n1", b"n2"])
    backend.write_many([b"p1", b"p2"], priority=4)
    backend.write_many([b"later1", b"later2"], eta=time.time() + 0.4, priority=9)
    assert backend.stats() == {"ready": 4, "scheduled": 2, "in_flight": 0}
    assert [d.raw for d in backend.fetch(10, 0)] == [b"p1", b"p2", b"n1", b"n2"]
    time.sleep(0.6)
    backend.write(b"n3")
    assert [d.raw for d in backend.fetch(10, 0)] == [b"later1", b"later2", b"n3"]


def test_decoding_client_is_refused(redis_server):
    """Frames are bytes: a client that decodes replies to str would corrupt them."""
    with pytest.raises(DjworkersImproperlyConfigured, match="decode_responses"):
        RedisBackend(["default"], {"port": redis_server.port, "decode_responses": True})


def test_idle_consumer_blocks_instead_of_spinning(make_backend, redis):
    """An idle consumer waits on the server: a handful of commands per second, not a poll loop."""
    backend = make_backend(lease_seconds=300)
    redis.config_resetstat()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert backend.fetch(10, 1.0) == []
    stats = redis.info("commandstats")
    assert stats["cmdstat_blpop"]["calls"] <= 4
    assert stats["cmdstat_evalsha"]["calls"] <= 10


# -- the scripts' cost per call -----------------------------------------------------------
def test_each_script_defines_the_helpers_it_calls_and_no_other():
    """Q4: a script carries the shared Lua helpers it calls (directly or through another
    helper) and only those: Redis runs a script's whole text on every call."""
    for script in SCRIPTS:
        defined = {name for name, source in HELPERS if source in script.source}
        body = script.source
        for _, source in HELPERS:
            body = body.replace(source, "")
        needed: set[str] = set()
        texts = [body]
        while texts:
            text = texts.pop()
            for name, source in HELPERS:
                if name not in needed and name in text:
                    needed.add(name)
                    texts.append(source)
        assert defined == needed, script.name


def test_a_lone_job_written_by_id_is_tracked_like_a_batch(make_backend, redis):
    """Q14: a single job due now and not unique (the one-job script) is recorded as queued,
    can be cancelled before it starts, keeps its priority, and reaches consumers unchanged."""
    producer, consumer = make_backend(), make_backend()
    assert producer.write_jobs([TrackedFrame(b"DJW1-low", "lone-1")]) == ["lone-1"]
    assert producer.write_jobs([TrackedFrame(b"DJW1-high", "lone-2")], priority=3) == ["lone-2"]
    assert producer.write_jobs([TrackedFrame(b"DJW1-gone", "lone-3")]) == ["lone-3"]
    assert redis.hexists(_keys().queued, "lone-1")
    assert producer.cancel("lone-3") is True
    assert [d.raw for d in consumer.fetch(10, 0.5)] == [b"DJW1-high", b"DJW1-low"]
    assert producer.cancel("lone-1") is False  # started
    with pytest.raises(ValueError):
        producer.write_jobs([TrackedFrame(b"DJW1-bad", "has|bar")])


def test_an_ack_finds_the_flusher_flag_already_set_and_is_still_sent(make_backend, redis):
    """``ack_soon`` and ``defer_result_write`` leave a wake-up flag already set alone (setting an
    Event costs a lock and a notify per job); the flusher looks at what is pending after each
    pause, so an ack that found the flag set (here: set before any flusher ran) still goes out."""
    backend = make_backend()
    backend.write(b"1")
    (one,) = backend.fetch(1, 0)
    backend._ack_event.set()
    assert backend._flusher is None
    backend.ack_soon(one)
    assert backend._flusher is not None  # started, though the flag was not set again
    deadline = time.monotonic() + 5
    while redis.zcard(_keys().leases) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert redis.zcard(_keys().leases) == 0 and redis.hlen(_keys().inflight) == 0
