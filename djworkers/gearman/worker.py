"""One Gearman worker process: registers the jobs, runs what gearmand assigns (G7).

It speaks the worker half of the protocol itself (:mod:`.worker_connection`
says why) and adds what a djworkers worker owes its users:

* jobs run through the core :class:`~djworkers.runtime.executor.Executor`
  (signals, statistics, the retry policy, the failed-job store); frames that
  are not correctly signed are quarantined, never deserialized;
* a foreground job answers with a signed result frame (value or error);
* a background job that fails with retries left is held here until its retry
  is due, then submitted again (gearmand has no delayed jobs); a graceful stop
  hands held retries back to gearmand (another worker holds them), or records
  them in the failed-job store when gearmand is gone;
* it reconnects with back-off when gearmand restarts (its function names are
  registered again on the new connection);
* SIGTERM lets the running job finish, then exits; a second SIGTERM exits at once.

A process runs one job at a time; ``gearman_worker -w N`` runs N of them.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import select
import socket
import time
from typing import Any

from ..exceptions import InvalidMessage
from ..messages import Message, decode, encode
from ..runtime.connections import close_stale_connections
from ..runtime.executor import Executor, Outcome
from ..runtime.failures import quarantine, record_failure
from ..runtime.shutdown import Shutdown
from ..runtime.worker import PollBackoff
from . import protocol, results
from .client import GearmanClient
from .decorators import DOOR, gearman_jobs
from .errors import GearmanUnavailable
from .naming import server_name
from .worker_connection import WorkerConnection

logger = logging.getLogger("djworkers.gearman")

BACKEND = "gearmand"


class GearmanWorkerProcess:
    """Serve every registered Gearman job, or those of one ``queue``, until stopped.

    ``poll_interval``: how long one poll of gearmand lasts (bounds how late a
    stop request or a due retry is noticed). ``backoff``: delays between
    reconnection attempts while gearmand is unreachable.
    """

    def __init__(
        self,
        queue: str | None = None,
        *,
        servers: list[Any] | None = None,
        shutdown: Shutdown | None = None,
        poll_interval: float = 1.0,
        backoff: PollBackoff | None = None,
    ):
        self.queue = queue
        self.jobs = gearman_jobs(queue)
        self._queues = {job.name: job.queue or "" for job in self.jobs}
        self.client = GearmanClient(servers)
        self.servers = self.client.servers
        self.shutdown = shutdown or Shutdown(on_force=self._force_exit)
        self.poll_interval = poll_interval
        self.backoff = backoff or PollBackoff(0.5, 2.0, 10.0)
        self.executor = Executor(DOOR, BACKEND, retry_section="GEARMAN")
        # A foreground caller receives the error itself: no retries, no failed-job row.
        self.foreground_executor = Executor(DOOR, BACKEND, retry_section="GEARMAN", record_failures=False)
        self.held: list[tuple[float, int, Message]] = []  # retries waiting for their eta
        self._sequence = itertools.count()
        self._was_connected = False
        self.counts: dict[str, int] = {}
        self.client_id = f"djworkers-{socket.gethostname()}-{os.getpid()}"

    # -- running -----------------------------------------------------------------------
    def functions(self) -> dict[bytes, str]:
        """gearmand function name (bytes: a str name crashes pygearman's worker) -> public job name."""
        return {server_name(job.name).encode("utf-8"): job.name for job in self.jobs}

    def run(self) -> int:
        """Work until SIGTERM/SIGINT. Returns the exit code."""
        if not self.jobs:
            where = f"queue {self.queue!r}" if self.queue else "any installed app"
            logger.error("No Gearman jobs registered for %s (gearman_jobs.py modules with @gearman_job)", where)
            return 1
        self.shutdown.install()
        logger.info(
            "Gearman worker %d serving %d job(s)%s on %s",
            os.getpid(),
            len(self.jobs),
            f" of queue {self.queue!r}" if self.queue else "",
            ", ".join(f"{h}:{p}" for h, p in self.servers),
        )
        connections: dict[tuple[str, int], WorkerConnection] = {}
        retry_at = dict.fromkeys(self.servers, 0.0)  # server -> when to (re)connect (monotonic)
        try:
            while not self.shutdown.requested:
                if len(connections) < len(retry_at):
                    self._connect_due(connections, retry_at)
                if not connections:
                    self.shutdown.wait(max(0.0, min(retry_at.values()) - time.monotonic()))
                    continue
                timeout = self.poll_interval
                if len(connections) < len(self.servers):  # wake up for the next reconnection attempt
                    pending = [at for server, at in retry_at.items() if server not in connections]
                    timeout = max(0.0, min(timeout, min(pending) - time.monotonic()))
                ready = [connection for connection in connections.values() if connection.buffered()]
                if not ready:
                    ready = select.select(list(connections.values()), [], [], timeout)[0]
                for connection in ready:
                    if self.shutdown.requested:
                        break
                    try:
                        job = connection.next_job()
                        if job is not None:
                            self._run_job(connection, *job)
                    except (OSError, protocol.ProtocolError) as exc:
                        self._lost(connection, exc, connections, retry_at)
                self.submit_due_retries()
            return 0
        finally:
            try:
                self.hand_back_retries()
            finally:
                for connection in connections.values():
                    connection.close()
                self.client.reset()
                self.shutdown.uninstall()
                logger.info("Gearman worker %d stopped: %s", os.getpid(), self.counts)

    def connected(self) -> None:
        if not self._was_connected:
            logger.info("Gearman worker %d connected to gearmand", os.getpid())
        self._was_connected = True
        self.backoff.reset()

    def _connect_due(
        self, connections: dict[tuple[str, int], WorkerConnection], retry_at: dict[tuple[str, int], float]
    ) -> None:
        """Connect (and register the functions) to each server not connected whose retry time has come."""
        now = time.monotonic()
        for server, at in retry_at.items():
            if server in connections or at > now:
                continue
            try:
                connections[server] = WorkerConnection(*server, list(self.functions()), self.client_id)
            except OSError as exc:
                retry_at[server] = now + self._unreachable(server, exc)
            else:
                self.connected()

    def _lost(
        self,
        connection: WorkerConnection,
        exc: BaseException,
        connections: dict[tuple[str, int], WorkerConnection],
        retry_at: dict[tuple[str, int], float],
    ) -> None:
        """A connection failed (gearmand restarted or went away): close it, reconnect later.

        The job it may have been running is not lost: gearmand gives a job whose
        worker disconnected to another worker.
        """
        connection.close()
        connections.pop(connection.address, None)
        retry_at[connection.address] = time.monotonic() + self._unreachable(connection.address, exc)

    def _unreachable(self, server: tuple[str, int], exc: BaseException) -> float:
        """Log an unreachable gearmand; the delay before the next attempt (back-off)."""
        delay = self.backoff.next()
        level = logging.WARNING if self._was_connected else logging.INFO
        logger.log(
            level,
            "gearmand unreachable at %s:%s (%s: %s); reconnecting in %.1fs",
            *server,
            type(exc).__name__,
            exc,
            delay,
        )
        self._was_connected = False
        return delay

    def _force_exit(self) -> None:
        logger.warning("Gearman worker %d: second signal, exiting now (gearmand re-assigns its job)", os.getpid())
        os._exit(1)

    # -- one job -----------------------------------------------------------------------
    def _run_job(self, connection: WorkerConnection, handle: bytes, function: bytes, raw: bytes) -> None:
        """Run one assigned job and answer gearmand (asking for the next job unless stopping)."""
        try:
            result: bytes | None = self._handle(function, raw)
        except Exception:  # _handle answers job errors itself; this is a bug in the worker
            logger.exception("Gearman worker %d could not handle job %r", os.getpid(), handle)
            result = None  # WORK_FAIL: the caller gets an error instead of waiting forever
        finally:
            close_stale_connections()
        connection.answer(handle, result, more=not self.shutdown.requested)

    def _handle(self, task: bytes, raw: bytes) -> bytes:
        """The WORK_COMPLETE data for the job frame ``raw`` of gearmand function ``task``."""
        function = task.decode("utf-8", "replace")
        try:
            message = decode(raw)
        except InvalidMessage as exc:
            quarantine(exc, door=DOOR, backend=BACKEND, queue=function)
            self._count("quarantined")
            return results.failure(exc, "")
        queue = self._queue_of(message.name)
        if queue and message.queue != queue:
            message = message.replace(queue=queue)
        if message.options.get("foreground"):
            if message.options.get("no_retry") is not True:
                message = message.replace(options={**message.options, "no_retry": True})
            result = self.foreground_executor.run(message, raw=raw)
            self._count(result.outcome.value)
            if result.outcome is Outcome.SUCCEEDED:
                return results.success(result.value)
            return results.failure(result.exception or RuntimeError("failed"), result.traceback)
        if not message.is_due:  # a retry handed over by a worker that stopped: hold it here
            self._hold(message)
            return b""
        result = self.executor.run(message, raw=raw)
        self._count(result.outcome.value)
        if result.outcome is Outcome.RETRY:
            self._hold(result.retry_message)
        return b""

    def _queue_of(self, name: str) -> str:
        return self._queues.get(name, "")

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    # -- retries -----------------------------------------------------------------------
    def _hold(self, message: Message) -> None:
        heapq.heappush(self.held, (message.eta or 0.0, next(self._sequence), message))

    def submit_due_retries(self, now: float | None = None) -> None:
        """Send the held retries whose eta has come to gearmand as background jobs."""
        now = time.time() if now is None else now
        while self.held and self.held[0][0] <= now:
            eta, sequence, message = self.held[0]
            try:
                self.client.submit_message(message, background=True)
            except Exception as exc:
                logger.warning("Could not submit the retry of %s yet (%s); trying again", message.describe(), exc)
                return
            heapq.heappop(self.held)

    def hand_back_retries(self) -> None:
        """On stop: give held retries to gearmand (their eta travels with them), or record them."""
        while self.held:
            _, _, message = heapq.heappop(self.held)
            try:
                self.client.submit_message(message, background=True, poll_timeout=5.0)
            except Exception as exc:
                logger.error(
                    "gearmand did not take back the retry of %s (%s); recorded as a failed job to replay",
                    message.describe(),
                    exc,
                )
                try:
                    record_failure(
                        message,
                        encode(message),
                        door=DOOR,
                        backend=BACKEND,
                        exception=GearmanUnavailable(f"retry not handed back to gearmand: {exc}"),
                    )
                except Exception:
                    logger.exception(
                        "Lost the retry of %s: neither gearmand nor the failed-job store took it", message.describe()
                    )
