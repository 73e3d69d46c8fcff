"""The worker half of gearmand's protocol: register functions, sleep, grab a job, answer it.

Why not pygearman's ``GearmanWorker`` (it served the door until the round-trip
target was measured): each job went through five epoll polls, each with a new
epoll object registered and unregistered, and three separately packed and sent
commands, ~170 µs of CPU per job before our own work started, on a 2-core
machine where the client, gearmand and the worker share the CPUs. The worker's
protocol is as small as the client's (:mod:`.protocol`): CAN_DO and
SET_CLIENT_ID once, then PRE_SLEEP → NOOP → GRAB_JOB_UNIQ → JOB_ASSIGN_UNIQ
→ WORK_COMPLETE.

After a job, the answer leaves in one ``send`` with what comes next, chosen by
what the last try found: while jobs are waiting (a backlog), GRAB_JOB_UNIQ, so
the next job comes back without a NOOP wake-up; while they are not (callers
waiting on one job at a time), PRE_SLEEP, which spares a GRAB → NO_JOB exchange
per job on the worker and on gearmand. Every :data:`PROBE_EVERY` jobs a sleeping
worker grabs instead, to notice a backlog that built up meanwhile.
"""

from __future__ import annotations

import time

from .protocol import JOB_ASSIGN_UNIQ, Connection, ProtocolError, packet

CAN_DO = 1
PRE_SLEEP = 4
NOOP = 6
WORK_COMPLETE = 13
WORK_FAIL = 14
NO_JOB = 10
SET_CLIENT_ID = 22
GRAB_JOB_UNIQ = 30

#: A worker that found no job waiting after its last jobs grabs again after this many.
PROBE_EVERY = 16

#: Seconds the rest of a packet may take once its first byte arrived.
PACKET_TIMEOUT = 30.0

_GRAB = packet(GRAB_JOB_UNIQ)
_SLEEP = packet(PRE_SLEEP)


class WorkerConnection(Connection):
    """One worker socket to one gearmand: which functions it can do, and its sleep/grab state."""

    def __init__(self, host: str, port: int, functions: list[bytes], client_id: str):
        super().__init__(host, port)
        self.sock.settimeout(None)
        #: Whether jobs were waiting when this worker last grabbed after a job.
        self.backlog = True
        self._grabbed_after_job = False
        self._jobs_since_grab = 0
        packets = [packet(SET_CLIENT_ID, client_id.encode("utf-8"))]
        packets += [packet(CAN_DO, function) for function in functions]
        self.send(b"".join(packets) + _GRAB)  # a job may be waiting already

    def fileno(self) -> int:
        return self.sock.fileno()

    def next_job(self) -> tuple[bytes, bytes, bytes] | None:
        """Read one packet (the socket is readable); ``(handle, function, data)`` for a job, else None.

        NOOP (a job arrived while asleep) → grab; NO_JOB (none left) → sleep.
        """
        kind, parts = self._packet()
        if kind == JOB_ASSIGN_UNIQ:
            if self._grabbed_after_job:
                self.backlog, self._grabbed_after_job = True, False
            handle, function, _unique, data = parts
            return handle, function, data
        if kind == NOOP:
            self.send(_GRAB)
        elif kind == NO_JOB:
            if self._grabbed_after_job:
                self.backlog, self._grabbed_after_job = False, False
            self.send(_SLEEP)
        return None

    def answer(self, handle: bytes, result: bytes | None, more: bool) -> None:
        """Send WORK_COMPLETE (``result``) or WORK_FAIL (None); with ``more``, ask for the next job.

        (Grab at once or sleep until woken: see the module docstring.)
        """
        if result is None:
            reply = packet(WORK_FAIL, handle)
        else:
            reply = packet(WORK_COMPLETE, handle, result)
        if not more:
            self.send(reply)
        elif self.backlog or self._jobs_since_grab >= PROBE_EVERY:
            self._grabbed_after_job, self._jobs_since_grab = True, 0
            self.send(reply + _GRAB)
        else:
            self._jobs_since_grab += 1
            self.send(reply + _SLEEP)

    def buffered(self) -> bool:
        """Whether a whole or partial packet is already read (select would not report it)."""
        return bool(self.buffer)

    def _packet(self) -> tuple[int, list[bytes]]:
        kind, parts = self.read(time.monotonic() + PACKET_TIMEOUT)
        if kind == JOB_ASSIGN_UNIQ and len(parts) != 4:
            raise ProtocolError(f"gearmand at {self.address} sent a JOB_ASSIGN_UNIQ without 4 arguments")
        return kind, parts
