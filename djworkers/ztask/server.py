"""ztaskd: receive on a PULL socket, write ahead to the database, run through the core worker (Z2-Z4).

The receiver thread does only this: take frames off the socket (in batches),
verify them (a frame that is not a correctly signed envelope is quarantined,
never deserialized), and insert them into the node's rows of the queue table,
due at once or at their ``.after`` time. Nothing runs in the receive loop: the
core :class:`~djworkers.runtime.worker.Worker` claims the rows in its job
threads (with ``--multiprocess``, the core
:class:`~djworkers.runtime.supervisor.Supervisor` runs ``--worker-pool-size``
worker processes plus one receiver process, and the parent only supervises: no
thread or database connection crosses a fork), runs them through the core
executor, deletes a row when its task succeeded or failed for good (into the
failed-job store), and rewrites it with its next due time for a retry. A
ztaskd killed mid-task leaves the row leased; the next start on the same URL
hands those leases back, so the task runs again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections, connections
from django.utils import timezone

from .. import conf
from ..exceptions import InvalidMessage
from ..loading import load_object
from ..messages import decode, encode
from ..runtime.failures import quarantine
from .door import DOOR
from .node import NodeSource, node_queue

logger = logging.getLogger("djworkers.ztask.server")

#: Frames taken off the socket per database write.
BATCH = 500
#: Seconds between two updates of the node's status row.
NODE_UPDATE_INTERVAL = 1.0


def run_on_load() -> int:
    """Call every ``ON_LOAD`` callable (dotted paths or callables) once. Returns how many ran."""
    entries = conf.section("ZTASK")["ON_LOAD"] or ()
    for entry in entries:
        target = load_object(entry, 'DJWORKERS["ZTASK"]["ON_LOAD"]') if isinstance(entry, str) else entry
        logger.info("ON_LOAD: calling %s", entry)
        target()
    return len(entries)


class Receiver:
    """The PULL socket and the thread that writes what arrives ahead to the database."""

    def __init__(self, url: str, source: NodeSource):
        import zmq

        self.url = url
        self.source = source
        self.queue = source.queues[0]
        self.received = 0
        self._unreported = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PULL)
        self.socket.setsockopt(zmq.LINGER, 0)
        try:
            self.socket.bind(url)
        except zmq.ZMQError as exc:
            self.socket.close()
            self.context.term()
            raise OSError(
                f'ztaskd cannot listen at {url!r} (DJWORKERS["ZTASK"]["URL"] or --url): {exc}. '
                "Is another ztaskd running there?"
            ) from exc

    # -- the thread ------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ztaskd-receiver", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop receiving; what already arrived on the socket is written first."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.close()

    def close(self) -> None:
        if not self.socket.closed:
            self.socket.close()
            self.context.term()

    def serve_forever(self) -> int:
        """Receive until SIGTERM/SIGINT (a ``--multiprocess`` child that bound the URL)."""
        from ..runtime.shutdown import Shutdown

        shutdown = Shutdown()
        shutdown.install()
        self.start()
        logger.info("Receiving at %s in process %d", self.url, os.getpid())
        try:
            while not shutdown.requested and self._thread is not None and self._thread.is_alive():
                shutdown.wait(0.5)
            stopped = shutdown.requested
        finally:
            self.stop()
            shutdown.uninstall()
        return 0 if stopped else 1  # a receiver that died is restarted by the Supervisor

    def _loop(self) -> None:
        import zmq

        last_report = 0.0
        try:
            while True:
                stopping = self._stop.is_set()
                frames = self._take(0 if stopping else 200)
                if frames:
                    self._store(frames)
                elif stopping:
                    break
                if time.monotonic() - last_report >= NODE_UPDATE_INTERVAL:
                    last_report = time.monotonic()
                    self.report()
        except zmq.ZMQError:
            if not self._stop.is_set():
                logger.exception("ztaskd receiver socket failed")
        finally:
            self.report(stopped=self._stop.is_set())
            connections.close_all()

    def _take(self, timeout_ms: int) -> list[bytes]:
        import zmq

        if not self.socket.poll(timeout_ms):
            return []
        frames: list[bytes] = []
        while len(frames) < BATCH:
            try:
                frames.append(self.socket.recv(zmq.NOBLOCK, copy=True))
            except zmq.Again:
                break
        return frames

    def _store(self, frames: list[bytes]) -> None:
        """Write ``frames`` ahead, retrying while the database is away (they are in memory only)."""
        delay = 0.1
        while True:
            try:
                self.store(frames)
                return
            except Exception:
                logger.exception("ztaskd could not write %d message(s) ahead; retrying in %.1fs", len(frames), delay)
                close_old_connections()
                if self._stop.wait(delay) and delay >= 5:
                    logger.error(
                        "ztaskd stopping: %d received message(s) could not be written and are lost", len(frames)
                    )
                    return
                delay = min(5.0, delay * 2)

    def store(self, frames: list[bytes]) -> int:
        """Verify and insert ``frames``; quarantine the bad ones. Returns how many were written."""
        now = time.time()
        rows: list[tuple[bytes, float]] = []
        for raw in frames:
            try:
                message = decode(raw)  # the signature is checked before anything is deserialized
            except InvalidMessage as exc:
                quarantine(exc, door=DOOR, backend="zeromq", queue=self.queue)
                continue
            rows.append((raw, message.eta if message.eta is not None and message.eta > now else now))
        self.source.write_ahead(rows)
        written = len(rows)
        self.received += written
        self._unreported += written
        if written:
            self.source.wakeup.set()
        return written

    def report(self, stopped: bool = False) -> None:
        """Add what arrived since the last report to the node's row."""
        from django.db.models import F

        from .models import ZtaskNode

        count, self._unreported = self._unreported, 0
        try:
            self.source._retrying(
                lambda: ZtaskNode.objects.filter(queue=self.queue).update(
                    received=F("received") + count, last_seen=timezone.now(), stopped=stopped
                )
            )
        except Exception:
            self._unreported += count
            logger.debug("could not update the ztask node row", exc_info=True)


def register_node(queue: str, url: str) -> None:
    """Create or refresh the node's status row: single statements (an UPDATE, else an INSERT),
    never SQLite's read-then-write transaction that fails at once when another process writes."""
    from django.db import IntegrityError

    from .models import ZtaskNode

    values = {
        "url": url[:255],
        "host": socket.gethostname()[:255],
        "pid": os.getpid(),
        "started": timezone.now(),
        "last_seen": timezone.now(),
        "stopped": False,
    }
    if ZtaskNode.objects.filter(queue=queue).update(**values):
        return
    try:
        ZtaskNode.objects.create(queue=queue, **values)
    except IntegrityError:  # another start of this node won the race: refresh its row
        ZtaskNode.objects.filter(queue=queue).update(**values)


def replay_failed(source: NodeSource) -> int:
    """``--replayfailed``: every failed (not quarantined) ztask job goes back into this node's
    rows with its attempt count reset, oldest first; its failed row is deleted."""
    from ..models import FailedJob
    from ..runtime.replay import ReplayError

    count = 0
    quarantined = (FailedJob.Reason.BAD_SIGNATURE, FailedJob.Reason.MALFORMED)
    for failed in FailedJob.objects.filter(door=DOOR).exclude(reason__in=quarantined).order_by("failed_at", "id"):
        try:
            message = decode(bytes(failed.raw))
        except InvalidMessage as exc:
            logger.error("%s", ReplayError(f"Failed job {failed.pk} no longer decodes: {exc}"))
            continue
        options = {k: v for k, v in message.options.items() if k not in ("no_retry", "last_error")}
        message = message.replace(attempt=0, eta=None, options=options, queue=source.queues[0])
        source.write(encode(message), queue=source.queues[0])
        failed.delete()
        count += 1
    logger.info("--replayfailed: %d failed task(s) queued again", count)
    return count


def serve(
    url: str,
    *,
    pool_size: int,
    multiprocess: bool,
    replay: bool,
    make_worker: Callable[[NodeSource, int], Any],
    supervisor: Callable[..., Any],
) -> int:
    """Run one ztaskd node until SIGTERM/SIGINT. Returns the exit code."""
    from ..runtime.connections import close_all_connections

    queue = node_queue(url)
    source = NodeSource(queue)
    receiver = Receiver(url, source)  # binding first: no other live node serves this queue
    try:
        source._retrying(lambda: register_node(queue, url))  # SQLite "database is locked": retried
        released = source.release_all()
        if released:
            logger.warning("Resuming %d task(s) that were running when this node last stopped", released)
        if replay:
            replay_failed(source)
        run_on_load()
        logger.info(
            "ztaskd listening at %s (node %s), %d %s",
            url,
            queue,
            pool_size,
            "process(es)" if multiprocess else "thread(s)",
        )
        if multiprocess:
            # No thread and no open connection may cross a fork (SQLite's per-process lock
            # state would be shared with the children): the parent only supervises. Of its
            # pool_size + 1 children, the one that binds the URL receives, the others run
            # tasks; a restarted child takes whichever role is free.
            receiver.close()
            source.close()
            close_all_connections()

            def child() -> int:
                try:
                    own = Receiver(url, NodeSource(queue))
                except OSError:
                    return make_worker(NodeSource(queue, local=False), 1).run()
                return own.serve_forever()

            return supervisor(child, pool_size + 1).run()
        receiver.start()
        return make_worker(source, pool_size).run()
    finally:
        receiver.stop()
        source.close()
