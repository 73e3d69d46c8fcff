"""Q1, Q6: the connection an enqueuing thread keeps (``thread_client``) and the direct write
(``execute``), against the private redis-server (tests/conftest.py), which some tests restart."""

from __future__ import annotations

import gc
import os
import threading

import pytest

from djworkers.redis_client import LuaScript, execute, execute_many, get_client, thread_client
from tests.utils import in_forked_child, in_other_thread

ECHO = LuaScript("test_echo", "return ARGV[1]")
INCR = LuaScript("test_incr", "return redis.call('INCR', KEYS[1])")


@pytest.fixture
def shared(redis_server, redis):
    """A djworkers client (its own pool) of the private server."""
    client = get_client({"host": "127.0.0.1", "port": redis_server.port, "max_connections": 50})
    yield client
    client.connection_pool.disconnect()


def client_id(client) -> int:
    """The server's id of the connection the client's next command goes over."""
    return client.client_id()


def test_a_thread_keeps_one_connection_and_other_threads_their_own(shared):
    """Every command of one thread goes over one connection; another thread has another."""
    own = thread_client(shared)
    assert thread_client(shared) is own and ECHO(own, [], ["x"]) == b"x"
    first = client_id(own)
    assert [client_id(thread_client(shared)) for _ in range(5)] == [first] * 5
    assert in_other_thread(lambda: client_id(thread_client(shared))) != first


def test_the_connection_goes_back_to_the_pool_when_its_thread_ends(shared):
    """A thread that ended leaves no connection checked out (its held client is garbage)."""
    pool = shared.connection_pool
    before = len(pool._in_use_connections)
    done = threading.Event()

    def enqueue_once():
        ECHO(thread_client(shared), [], ["x"])
        done.set()

    thread = threading.Thread(target=enqueue_once)
    thread.start()
    thread.join()
    assert done.is_set()
    gc.collect()
    assert len(pool._in_use_connections) == before


def test_a_full_pool_is_shared_instead_of_held(redis_server, redis):
    """max_connections already reached: the thread uses the shared client, as before."""
    client = get_client({"host": "127.0.0.1", "port": redis_server.port, "max_connections": 1})
    try:
        taken = client.connection_pool.get_connection()
        try:
            assert in_other_thread(lambda: thread_client(client)) is client
        finally:
            client.connection_pool.release(taken)
        assert in_other_thread(lambda: ECHO(thread_client(client), [], ["held"])) == b"held"
    finally:
        client.connection_pool.disconnect()


def test_a_held_connection_survives_a_server_restart(redis_server, shared):
    """Q6: the socket died with the server; the next command reconnects (redis-py's retry) and runs once."""
    own = thread_client(shared)
    execute(own, "DEL", "counter")
    assert INCR(own, ["counter"], []) == 1
    redis_server.restart()
    assert INCR(own, ["counter"], []) == 1  # the server keeps nothing: 1 means the INCR ran once
    assert INCR(own, ["counter"], []) == 2


def test_a_script_flushed_from_the_server_is_loaded_again(shared):
    """NOSCRIPT on the direct write loads the script and runs it (e.g. after SCRIPT FLUSH)."""
    own = thread_client(shared)
    assert ECHO(own, [], ["one"]) == b"one"
    execute(own, "SCRIPT", "FLUSH")
    assert ECHO(own, [], ["two"]) == b"two"
    assert ECHO(own, [], ["three"]) == b"three"


@pytest.mark.parametrize("held", [True, False], ids=["held connection", "shared pool"])
def test_commands_sent_together_answer_in_order_with_errors_in_place(shared, held):
    """A fetch and the result writes in front of it go out in one write: each reply comes back
    in its place, an error reply (NOSCRIPT here) as its exception, and the commands after it
    still ran and the connection stays in step."""
    client = thread_client(shared) if held else shared
    execute(client, "SCRIPT", "FLUSH")
    replies = execute_many(
        client,
        [("SET", "k", "v"), ("EVALSHA", ECHO.sha, 0, "x"), ("INCR", "n"), ("GET", "k")],
    )
    assert replies[0] is True or replies[0] == b"OK"
    assert type(replies[1]).__name__ == "NoScriptError"
    assert replies[2:] == [1, b"v"]
    assert execute(client, "GET", "n") == b"1"
    assert execute_many(client, [("INCR", "n"), ("INCR", "n")]) == [2, 3]


def test_commands_sent_together_survive_a_server_restart(redis_server, shared):
    """Q6: the held socket died with the server: the batch is sent again on a new connection."""
    own = thread_client(shared)
    assert execute_many(own, [("INCR", "n")]) == [1]
    redis_server.restart()
    assert execute_many(own, [("INCR", "n"), ("INCR", "n")]) == [1, 2]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_uses_a_connection_of_its_own(shared):
    """The parent's held socket is never written to by a child (their replies would interleave)."""
    own = thread_client(shared)
    parent = client_id(own)
    child = int(in_forked_child(lambda: str(client_id(thread_client(shared)))))
    assert child != parent
    assert client_id(thread_client(shared)) == parent  # and the parent's connection still works
