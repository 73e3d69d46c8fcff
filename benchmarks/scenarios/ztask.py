"""Scenario: the ztask door (ZeroMQ): ``.delay()`` vs a raw pyzmq send, and ztaskd's drain vs the
database backend's on the same database, beside the raw zmq PULL loop.

Self-contained: it uses the existing "djworkers database (...)" and "raw zmq" peer
drivers and :func:`._common.drain` for the rows it compares against, and
drives ztaskd itself.
"""

from __future__ import annotations

import subprocess
import sys
import time

from .. import peers
from ..harness import Contender, Metric, Scenario, Unavailable
from . import register
from ._common import drain

#: A PULL socket that only receives: the sender's rate is not limited by the receiver's work.
SINK = (
    "import sys, zmq\nsocket = zmq.Context().socket(zmq.PULL)\nsocket.bind(sys.argv[1])\n"
    "print('ready', flush=True)\nwhile True:\n    socket.recv()\n"
)


@register
class Ztask(Scenario):
    name = "ztask"
    title = "ztask over ZeroMQ: .delay() rate, ztaskd drain"
    description = (
        "`.delay()`: one process calls `incr.delay()` N times (envelope, pickle, HMAC-SHA256 signature, "
        "one PUSH send) into a PULL socket of another process that only receives. The raw rows use a "
        'bare pyzmq PUSH socket to the same kind of sink: "raw pyzmq client, signed pickle per call" '
        "is what a minimal hand-written client sends per call (as django-ztask's `send_pyobj`): "
        "`pickle.dumps((name, args, kwargs))` signed with `hmac.digest(key, body, 'sha256')`, then "
        '`send`; "raw pyzmq send, constant frame" sends one pre-built signed frame over and over '
        "(the cost of `send` alone). `cpu_us_per_call`: the sending process's CPU time per call. "
        "Drain: ztaskd (`--worker-pool-size 1 --prefetch 4`, the queue consumer's default batch) is "
        "started, N `incr` tasks are sent with `.delay()`, and jobs/s is timed from the first "
        "INCR to the last: every message is written ahead to the database before it runs. The "
        "database backend row drains N queued jobs with `queue_consumer --burst -t 1` on the same "
        "database; the raw row is a pyzmq PULL + INCR loop (no database, no envelope)."
    )
    metrics = (
        Metric("per_s", "calls or jobs/s"),
        Metric("cpu_us_per_call", "µs", higher_is_better=False, digits=2),
        Metric("jobs", "jobs"),
    )

    def contenders(self, run):
        count = run.count(20_000, 500)
        cap = run.count(6, 1)
        sends = run.count(50_000, 2_000)
        rows = [
            Contender(".delay()", "djworkers", "send", {"mode": "delay", "count": sends}),
            Contender(
                "raw pyzmq client, signed pickle per call", "ceiling", "send", {"mode": "raw_client", "count": sends}
            ),
            Contender("raw pyzmq send, constant frame", "ceiling", "send", {"mode": "raw_send", "count": sends}),
        ]
        for db in ("sqlite", "postgres"):
            skip = "" if db == "sqlite" or run.postgres else run.postgres_reason
            group = f"drain ({db})"
            rows.append(
                Contender(
                    f"ztaskd ({db})",
                    "djworkers",
                    group,
                    {"mode": "ztaskd", "db": db, "count": count, "cap": cap, "skip": skip},
                )
            )
            rows.append(
                Contender(
                    f"djworkers database backend ({db})",
                    "peer",
                    group,
                    {"mode": "database", "db": db, "count": count, "cap": cap, "skip": skip},
                )
            )
        rows.append(
            Contender(
                "raw zmq PULL loop", "ceiling", "drain (sqlite)", {"mode": "raw_pull", "count": count, "cap": cap}
            )
        )
        return rows

    def measure(self, contender, params, child):
        if params.get("skip"):
            raise Unavailable(params["skip"])
        mode = params["mode"]
        if mode == "database":
            return _rename(
                drain(child, peers.get(f"djworkers database ({params['db']})"), 1, params["count"], params["cap"])
            )
        if mode == "raw_pull":
            return _rename(drain(child, peers.get("raw zmq"), 1, params["count"], params["cap"]))
        incr = _setup(params.get("db", "sqlite"))
        if mode in ("delay", "raw_client", "raw_send"):
            return _send(mode, incr, params["count"])
        return _ztaskd(child, incr, params)


def _rename(result: dict) -> dict:
    return {"per_s": result["jobs_per_s"], "jobs": result["jobs_done"]}


def _setup(db: str):
    """Django for this measurement (the run's database), and the ztask ``incr`` task."""
    from ..peers.base import django_setup

    try:
        import zmq  # noqa: F401

        import djworkers.ztask  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"the ztask door needs pyzmq ({exc})") from exc
    django_setup(BENCH_DB=db, BENCH_QUEUE_BACKEND="database")
    from benchmarks.bench_app import tasks

    if tasks.task is None:
        raise Unavailable("djworkers.ztask is not importable")
    return tasks.incr


def _free_url() -> str:
    from ..services import free_port

    return f"tcp://127.0.0.1:{free_port()}"


def _sending_to(url: str):
    from django.conf import settings
    from django.test import override_settings

    return override_settings(DJWORKERS={**settings.DJWORKERS, "ZTASK": {"URL": url, "SEND_TIMEOUT": 30.0}})


def _send(mode: str, incr, count: int) -> dict:
    url = _free_url()
    sink = subprocess.Popen([sys.executable, "-c", SINK, url], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout.readline().strip() == "ready"
        with _sending_to(url):
            call, socket = (incr.delay, None) if mode == "delay" else _raw_sender(mode, incr.name, url)
            for _ in range(20):
                call()
            cpu, started = time.process_time(), time.perf_counter()
            for _ in range(count):
                call()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            if socket is not None:
                socket.close(linger=0)
        return {"per_s": count / elapsed, "cpu_us_per_call": cpu / count * 1e6, "jobs": count}
    finally:
        sink.kill()
        sink.wait()


def _raw_sender(mode: str, name: str, url: str):
    """A bare pyzmq PUSH client: ``raw_client`` pickles and signs each call as a minimal
    hand-written client would (``hmac.digest`` of the body, as django-ztask's
    ``send_pyobj((name, args, kwargs))`` plus a signature); ``raw_send`` sends one
    frame made beforehand (the price of ``send`` alone)."""
    import hmac
    import pickle

    import zmq
    from django.conf import settings

    from djworkers.messages import Message, encode

    socket = zmq.Context.instance().socket(zmq.PUSH)
    socket.connect(url)
    send = socket.send
    if mode == "raw_send":
        frame = encode(Message(name, queue="ztask"))
        return (lambda: send(frame)), socket
    key = settings.SECRET_KEY.encode()

    def call(*args, **kwargs):
        body = pickle.dumps((name, args, kwargs))
        send(hmac.digest(key, body, "sha256") + body)

    return call, socket


def _ztaskd(child, incr, params: dict) -> dict:
    from djworkers.queue.models import QueueJob

    QueueJob.objects.filter(queue__startswith="ztask:").delete()
    child.flush()
    url = _free_url()
    process = child.spawn(
        child.manage("ztaskd", "--noreload", "--url", url, "--worker-pool-size", "1", "--prefetch", "4"),
        {"BENCH_DB": params["db"], "BENCH_QUEUE_BACKEND": "database"},
    )
    from django.db import connections

    connections.close_all()  # SQLite: let ztaskd have the file
    try:
        with _sending_to(url):
            for _ in range(params["count"]):
                incr.delay()  # the first blocks until ztaskd is up (SEND_TIMEOUT 30 s)
        drained = child.drain_rate(params["count"], params["cap"], [process])
    finally:
        child.stop(process)
    QueueJob.objects.filter(queue__startswith="ztask:").delete()
    return {"per_s": drained["jobs_per_s"], "jobs": drained["jobs_done"]}
