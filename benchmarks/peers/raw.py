"""The raw ceilings: a redis-py LPUSH/BRPOP loop and a pyzmq PUSH/PULL loop, same payload, same work.

Run as a worker: ``python -m benchmarks.peers.raw redis`` (BRPOP one at a time
+ INCR) or ``python -m benchmarks.peers.raw zmq ENDPOINT`` (PULL + INCR). No
envelope, no signing, no acknowledgement: what the transport costs on its own.
"""

from __future__ import annotations

import sys
import time

from .. import workload
from .base import Peer

QUEUE_KEY = "bench:raw"


class RawRedis(Peer):
    name = "raw redis"

    def enqueuer(self, job: str):
        client = workload.client()
        payload = workload.RAW_PAYLOAD
        if job == "record":
            return lambda enqueued_at: client.lpush(QUEUE_KEY, b"T%r|" % enqueued_at + payload)
        return lambda: client.lpush(QUEUE_KEY, payload)

    def bulk(self, job: str, count: int) -> None:
        client = workload.client()
        for start in range(0, count, 1000):
            pipe = client.pipeline(transaction=False)
            for _ in range(min(1000, count - start)):
                pipe.lpush(QUEUE_KEY, workload.RAW_PAYLOAD)
            pipe.execute()

    def worker(self, threads: int, child, burst: bool = True):
        return [child.python, "-m", "benchmarks.peers.raw", "redis"], {}

    def queued(self) -> int:
        return workload.client().llen(QUEUE_KEY)


class RawRedisHeld(RawRedis):
    """LPUSH written straight to one connection the enqueuing thread keeps (no pool checkout per
    command), as djworkers' enqueue writes its script: the transport's own cost, for honesty."""

    name = "raw redis (held connection)"

    def enqueuer(self, job: str):
        from hiredis import pack_command

        if job != "noop":  # only the enqueue scenario's no-op jobs are measured this way
            return super().enqueuer(job)
        connection = workload.client().client().connection
        payload = workload.RAW_PAYLOAD

        def lpush() -> None:
            connection.send_packed_command((pack_command(("LPUSH", QUEUE_KEY, payload)),))
            connection.read_response()

        return lpush


def work(client, frame: bytes) -> None:
    """The same work as :mod:`benchmarks.workload`: INCR, or for latency probes (``T<sent>|...``) record + INCR."""
    if frame.startswith(b"T"):
        sent = float(frame[1 : frame.index(b"|")])
        pipe = client.pipeline(transaction=False)
        pipe.rpush(workload.LATENCIES, time.time() - sent)
        pipe.incr(workload.COUNTER)
        pipe.execute()
    else:
        client.incr(workload.COUNTER)


def redis_loop() -> None:
    """BRPOP one payload, do the work, repeat (one job at a time, nothing batched)."""
    client = workload.client()
    while True:
        item = client.brpop(QUEUE_KEY, timeout=1)
        if item is not None:
            work(client, item[1])


def zmq_loop(endpoint: str) -> None:
    """PULL one payload, do the work, repeat; latency probes carry the send time after the payload."""
    import zmq

    context = zmq.Context()
    socket = context.socket(zmq.PULL)
    socket.bind(endpoint)
    client = workload.client()
    while True:
        work(client, socket.recv())


class RawZmq(Peer):
    """PUSH from the child to a PULL worker process: a ceiling, there is no queue at rest."""

    name = "raw zmq"

    def __init__(self) -> None:
        from ..services import free_port

        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self._socket = None

    def socket(self):
        if self._socket is None:
            import zmq

            self._socket = zmq.Context.instance().socket(zmq.PUSH)
            self._socket.setsockopt(zmq.SNDHWM, 0)
            self._socket.connect(self.endpoint)
        return self._socket

    def enqueuer(self, job: str):
        sock = self.socket()
        payload = workload.RAW_PAYLOAD
        if job == "record":
            return lambda enqueued_at: sock.send(b"T%r|" % enqueued_at + payload)
        return lambda: sock.send(payload)

    def worker(self, threads: int, child, burst: bool = True):
        return [child.python, "-m", "benchmarks.peers.raw", "zmq", self.endpoint], {}


if __name__ == "__main__":
    if sys.argv[1] == "redis":
        redis_loop()
    else:
        zmq_loop(sys.argv[2])
