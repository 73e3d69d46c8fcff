"""Scenario 9: what signing and at-least-once delivery cost, per job, in CPU.

Each row times one piece of the Redis per-job path in-process (no worker
process, no thread hand-offs), as CPU time of this process and of the
redis-server, so a user can weigh each guarantee against its price:

- signing: HMAC-SHA256 of a frame at enqueue (``sign``) and its check before
  anything is deserialized (``unsign``), beside the whole ``encode`` and
  ``decode`` they are part of;
- at-least-once: taking one job with a lease (``fetch(1)`` + ``ack_soon``, the
  ack riding on the next fetch) against taking it for good (``read()``, the old
  djutils at-most-once API), against the batch a worker really takes
  (``fetch(4)``), against a raw ``BRPOP``. Each job also INCRs the counter, as
  in ``drain``.
"""

from __future__ import annotations

import time

from .. import workload
from ..harness import Contender, Metric, Scenario
from ..peers.base import django_setup
from . import register

PIECES = [
    ("encode (envelope + pickle + sign)", "encode"),
    ("sign (HMAC-SHA256 of the frame)", "sign"),
    ("decode (verify + unpickle + envelope)", "decode"),
    ("unsign (verify the HMAC)", "unsign"),
    ("take 1 job, at-least-once (fetch(1) + ack)", "fetch1"),
    ("take 1 job, at-most-once (read())", "read"),
    ("take jobs 4 at a time, at-least-once (fetch(4) + ack)", "fetch4"),
    ("raw BRPOP (no envelope, no lease)", "brpop"),
]


@register
class Guarantees(Scenario):
    name = "guarantees"
    title = "What signing and at-least-once cost, per job"
    description = (
        "Pieces of the Redis per-job path timed in one process, no worker: CPU of this process "
        "per operation (`cpu_us`), and for the rows that take jobs the redis-server's CPU per job "
        "(`redis_cpu_us`, from `INFO cpu`; each taken job also INCRs the counter, as in `drain`). "
        "Signing is `sign` at enqueue plus `unsign` before decoding; at-least-once is the "
        "difference between taking a job with a lease and acknowledging it, and taking it for good "
        "(`read()`), and batching (`fetch(4)`, what a worker takes per thread) is what pays for "
        "it. The ratio column compares each piece with the row of its group."
    )
    metrics = (
        Metric("cpu_us", "µs", higher_is_better=False, digits=1),
        Metric("redis_cpu_us", "µs", higher_is_better=False, digits=1),
        Metric("ops", "ops"),
    )

    def contenders(self, run):
        ops = run.count(20_000, 2_000)
        groups = {
            "encode": "signing",
            "sign": "signing",
            "decode": "verifying",
            "unsign": "verifying",
            "fetch1": "taking",
            "read": "taking",
            "fetch4": "taking",
            "brpop": "taking",
        }
        leaders = {"encode", "decode", "fetch1"}
        # "part": a piece of the path or a reference, not a competitor (no loss is reported for it)
        quick = {"encode", "decode", "fetch1", "read"}  # --quick: one child per row, keep it short
        return [
            Contender(label, "djworkers" if piece in leaders else "part", groups[piece], {"piece": piece, "ops": ops})
            for label, piece in PIECES
            if not run.quick or piece in quick
        ]

    def measure(self, contender, params, child):
        django_setup(BENCH_QUEUE_BACKEND="redis", BENCH_DB="sqlite")
        from benchmarks.peers.djworkers_queue import DjworkersQueue
        from djworkers.messages import Message, decode, encode
        from djworkers.queue import get_backend
        from djworkers.serializers.signing import sign, unsign

        piece, ops = params["piece"], params["ops"]
        peer = DjworkersQueue()
        peer.setup()
        name = peer.job_name("incr")
        frame = encode(Message(name))
        body = unsign(frame)
        if piece in ("encode", "sign", "decode", "unsign"):
            message = Message(name)
            step = {
                "encode": lambda: encode(message),
                "sign": lambda: sign(body),
                "decode": lambda: decode(frame),
                "unsign": lambda: unsign(frame),
            }[piece]
            for _ in range(200):
                step()
            started = time.process_time()
            for _ in range(ops):
                step()
            return {"cpu_us": (time.process_time() - started) / ops * 1e6, "ops": ops}

        client = workload.client()
        child.flush()
        if piece == "brpop":
            from ..peers.raw import QUEUE_KEY, RawRedis

            RawRedis().bulk("incr", ops)

            def take() -> int:
                client.brpop(QUEUE_KEY, timeout=1)
                client.incr(workload.COUNTER)
                return 1
        else:
            backend = get_backend()
            peer.bulk("incr", ops)
            if piece == "read":

                def take() -> int:
                    backend.read()
                    client.incr(workload.COUNTER)
                    return 1
            else:
                limit = 1 if piece == "fetch1" else 4

                def take() -> int:
                    deliveries = backend.fetch(limit, 1)
                    for delivery in deliveries:
                        client.incr(workload.COUNTER)
                        backend.ack_soon(delivery)
                    return len(deliveries)

        server_before = redis_cpu(client)
        started, done = time.process_time(), 0
        while done < ops:
            taken = take()
            if not taken:
                break
            done += taken
        cpu = time.process_time() - started
        server = redis_cpu(client) - server_before
        if piece.startswith("fetch"):
            backend.flush_acks()
        if done < ops:
            raise RuntimeError(f"{contender}: took {done} of {ops} jobs")
        return {"cpu_us": cpu / done * 1e6, "redis_cpu_us": server / done * 1e6, "ops": done}


def redis_cpu(client) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
