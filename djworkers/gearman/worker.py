"""One Gearman worker process: registers the jobs, runs what gearmand assigns (G7).

pygearman's ``GearmanWorker`` speaks the protocol; this module adds what a
djworkers worker owes its users:

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
from . import library, results
from .client import GearmanClient
from .decorators import DOOR, gearman_jobs
from .errors import GearmanUnavailable
from .naming import server_name

logger = logging.getLogger("djworkers.gearman")

BACKEND = "gearmand"


def _lowlevel_worker_class() -> type:
    """pygearman's worker with our hooks: stop between jobs, reconnect back-off, no pygearman job calls."""
    gearman = library.gearman()

    class LowLevelWorker(gearman.GearmanWorker):  # type: ignore[name-defined]
        owner: GearmanWorkerProcess

        def after_poll(self, any_activity: bool) -> bool:
            self.owner.submit_due_retries()
            return not self.owner.shutdown.requested

        def establish_worker_connections(self) -> list:
            connections = super().establish_worker_connections()
            if connections:
                self.owner.connected()
            return connections

    return LowLevelWorker


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
        lowlevel = _lowlevel_worker_class()(list(self.servers))
        lowlevel.owner = self
        lowlevel.set_client_id(f"djworkers-{socket.gethostname()}-{os.getpid()}")
        for function in self.functions():
            lowlevel.register_task(function, self.handle)
        logger.info(
            "Gearman worker %d serving %d job(s)%s on %s",
            os.getpid(),
            len(self.jobs),
            f" of queue {self.queue!r}" if self.queue else "",
            ", ".join(f"{h}:{p}" for h, p in self.servers),
        )
        try:
            while not self.shutdown.requested:
                try:
                    lowlevel.work(poll_timeout=self.poll_interval)
                except Exception as exc:  # ServerUnavailable, ConnectionError, socket errors
                    if self.shutdown.requested:
                        break
                    lowlevel.shutdown()
                    delay = self.backoff.next()
                    level = logging.WARNING if self._was_connected else logging.INFO
                    logger.log(
                        level, "gearmand unreachable (%s: %s); reconnecting in %.1fs", type(exc).__name__, exc, delay
                    )
                    self._was_connected = False
                    self.shutdown.wait(delay)
            return 0
        finally:
            try:
                self.hand_back_retries()
            finally:
                lowlevel.shutdown()
                self.client.reset()
                self.shutdown.uninstall()
                logger.info("Gearman worker %d stopped: %s", os.getpid(), self.counts)

    def connected(self) -> None:
        if not self._was_connected:
            logger.info("Gearman worker %d connected to gearmand", os.getpid())
        self._was_connected = True
        self.backoff.reset()

    def _force_exit(self) -> None:
        logger.warning("Gearman worker %d: second signal, exiting now (gearmand re-assigns its job)", os.getpid())
        os._exit(1)

    # -- one job -----------------------------------------------------------------------
    def handle(self, lowlevel: Any, job: Any) -> bytes:
        """pygearman's callback: run one assigned job and return the WORK_COMPLETE data."""
        try:
            return self._handle(job)
        finally:
            close_stale_connections()

    def _handle(self, job: Any) -> bytes:
        raw = bytes(job.data)
        function = job.task.decode("utf-8", "replace") if isinstance(job.task, bytes) else str(job.task)
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
            result = self.foreground_executor.run(
                message.replace(options={**message.options, "no_retry": True}), raw=raw
            )
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
        for job in self.jobs:
            if job.name == name:
                return job.queue or ""
        return ""

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
