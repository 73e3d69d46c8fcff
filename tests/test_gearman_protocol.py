"""The worker half of the Gearman protocol against a scripted fake gearmand (G7).

What gearmand does with these packets is covered by the tests against a real
gearmand (test_gearman_worker.py); these check which packets the worker sends,
in particular when it grabs the next job at once and when it sleeps.
"""

from __future__ import annotations

import socket
import struct

import pytest

from djworkers.gearman import worker_connection as wc
from djworkers.gearman.protocol import HEADER, JOB_ASSIGN_UNIQ, REQ, RES

NO_JOB, NOOP = wc.NO_JOB, wc.NOOP


@pytest.fixture
def fake_gearmand():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    yield server
    server.close()


def connect(server):
    """A WorkerConnection to ``server`` and the server's end of it."""
    connection = wc.WorkerConnection("127.0.0.1", server.getsockname()[1], [b"fn.a", b"fn.b"], "me")
    peer, _ = server.accept()
    peer.settimeout(5)
    return connection, peer


def send(peer, kind, *arguments):
    body = b"\0".join(arguments)
    peer.sendall(HEADER.pack(RES, kind, len(body)) + body)


def received(peer, count):
    """The next ``count`` packets the worker sent: [(type, body), ...]."""
    packets = []
    for _ in range(count):
        magic, kind, size = struct.unpack(">4sII", exact(peer, 12))
        assert magic == REQ
        packets.append((kind, exact(peer, size) if size else b""))
    return packets


def exact(peer, size):
    data = b""
    while len(data) < size:
        chunk = peer.recv(size - len(data))
        assert chunk, "the worker closed the connection"
        data += chunk
    return data


def test_registers_and_grabs_then_sleeps_and_wakes(fake_gearmand):
    """G7: CAN_DO per function and a first grab; NO_JOB -> PRE_SLEEP; NOOP -> GRAB_JOB_UNIQ."""
    connection, peer = connect(fake_gearmand)
    assert received(peer, 4) == [
        (wc.SET_CLIENT_ID, b"me"),
        (wc.CAN_DO, b"fn.a"),
        (wc.CAN_DO, b"fn.b"),
        (wc.GRAB_JOB_UNIQ, b""),
    ]
    send(peer, NO_JOB)
    assert connection.next_job() is None
    assert received(peer, 1) == [(wc.PRE_SLEEP, b"")]
    send(peer, NOOP)
    assert connection.next_job() is None
    assert received(peer, 1) == [(wc.GRAB_JOB_UNIQ, b"")]
    # Job data may contain NUL bytes: only the first three separators split.
    send(peer, JOB_ASSIGN_UNIQ, b"H:1", b"fn.a", b"u1", b"da\0ta")
    assert connection.next_job() == (b"H:1", b"fn.a", b"da\0ta")
    connection.close()


def test_after_a_job_grabs_while_jobs_wait_and_sleeps_when_none_do(fake_gearmand):
    """G7: the answer goes with GRAB_JOB_UNIQ while there is a backlog, with PRE_SLEEP when there
    is none, and a sleeping worker grabs again every PROBE_EVERY jobs to notice a new backlog."""
    connection, peer = connect(fake_gearmand)
    received(peer, 4)

    def run_one_job(handle, after_noop=True):
        if after_noop:
            send(peer, NOOP)
            assert connection.next_job() is None
            assert received(peer, 1) == [(wc.GRAB_JOB_UNIQ, b"")]
        send(peer, JOB_ASSIGN_UNIQ, handle, b"fn.a", b"", b"x")
        assert connection.next_job() == (handle, b"fn.a", b"x")
        connection.answer(handle, b"result", more=True)
        complete, following = received(peer, 2)
        assert complete == (wc.WORK_COMPLETE, handle + b"\0result")
        return following[0]

    # A backlog at the start: the answer asks for the next job at once.
    assert run_one_job(b"H:1", after_noop=False) == wc.GRAB_JOB_UNIQ
    send(peer, NO_JOB)  # none left
    assert connection.next_job() is None
    assert received(peer, 1) == [(wc.PRE_SLEEP, b"")]
    # No backlog: the next answers go with PRE_SLEEP, up to PROBE_EVERY of them.
    follows = [run_one_job(b"H:%d" % n) for n in range(wc.PROBE_EVERY)]
    assert follows == [wc.PRE_SLEEP] * wc.PROBE_EVERY
    assert run_one_job(b"H:probe") == wc.GRAB_JOB_UNIQ  # the probe
    # The probe finds a job waiting: back to grabbing after each job.
    assert run_one_job(b"H:next", after_noop=False) == wc.GRAB_JOB_UNIQ
    connection.close()


def test_failure_and_stopping_send_the_answer_alone(fake_gearmand):
    """G7: a job the worker could not handle gets WORK_FAIL; a stopping worker asks for nothing more."""
    connection, peer = connect(fake_gearmand)
    received(peer, 4)
    send(peer, JOB_ASSIGN_UNIQ, b"H:1", b"fn.a", b"", b"x")
    assert connection.next_job() == (b"H:1", b"fn.a", b"x")
    connection.answer(b"H:1", None, more=False)
    connection.close()
    assert received(peer, 1) == [(wc.WORK_FAIL, b"H:1")]
    assert peer.recv(1) == b""  # nothing after it
