"""The client half of gearmand's binary protocol: submit a job, read its answer.

Why not pygearman's client (the worker still uses pygearman): each of its calls
builds an epoll object and runs a generic poll loop, which made a djworkers
submit cost ~0.5x a raw pygearman one once the signed frame was added, below
the door's performance target; and the wrapper had grown three workarounds
(no wait at all for a foreground job without ``poll_timeout``, a reset after
each timeout so the late answer is not taken for the next call's, one client
per thread). The protocol a client needs is small: a 12-byte header
(``\\0REQ``/``\\0RES``, type, length) and NUL-separated arguments.
"""

from __future__ import annotations

import socket
import struct
import time

HEADER = struct.Struct(">4sII")
REQ, RES = b"\0REQ", b"\0RES"

JOB_CREATED = 8
WORK_STATUS = 12
WORK_COMPLETE = 13
WORK_FAIL = 14
ERROR = 19
WORK_EXCEPTION = 25
WORK_DATA = 28
WORK_WARNING = 29
JOB_ASSIGN_UNIQ = 31

#: (background, priority) -> SUBMIT_JOB* packet type.
SUBMIT = {
    (False, None): 7,
    (True, None): 18,
    (False, "HIGH"): 21,
    (True, "HIGH"): 32,
    (False, "LOW"): 33,
    (True, "LOW"): 34,
}
#: How many NUL-separated arguments each response type has (the last may hold NULs).
ARGUMENTS = {
    JOB_CREATED: 1,
    WORK_STATUS: 3,
    WORK_COMPLETE: 2,
    WORK_FAIL: 1,
    ERROR: 2,
    WORK_EXCEPTION: 2,
    WORK_DATA: 2,
    WORK_WARNING: 2,
    JOB_ASSIGN_UNIQ: 4,
}
FINAL = (WORK_COMPLETE, WORK_FAIL, WORK_EXCEPTION)


class ProtocolError(ConnectionError):
    """gearmand sent something this client does not understand, or an ERROR packet."""


def packet(kind: int, *arguments: bytes) -> bytes:
    body = b"\0".join(arguments)
    return HEADER.pack(REQ, kind, len(body)) + body


class Connection:
    """One socket to one gearmand, used by one thread at a time."""

    def __init__(self, host: str, port: int, connect_timeout: float = 5.0):
        self.address = (host, port)
        self.sock = socket.create_connection(self.address, timeout=connect_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        #: Answers read while waiting for another job: handle -> (type, arguments).
        self.finished: dict[bytes, tuple[int, list[bytes]]] = {}

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, deadline: float | None) -> tuple[int, list[bytes]]:
        """The next response packet; ``socket.timeout`` past ``deadline`` (monotonic), ConnectionError on EOF."""
        while True:
            if len(self.buffer) >= 12:
                magic, kind, size = HEADER.unpack_from(self.buffer)
                if magic != RES:
                    raise ProtocolError(f"gearmand at {self.address} sent a bad packet header {magic!r}")
                if len(self.buffer) >= 12 + size:
                    body = self.buffer[12 : 12 + size]
                    self.buffer = self.buffer[12 + size :]
                    parts = body.split(b"\0", ARGUMENTS.get(kind, 1) - 1)
                    if kind == ERROR:
                        raise ProtocolError(
                            f"gearmand at {self.address} answered ERROR: {b' '.join(parts).decode('utf-8', 'replace')}"
                        )
                    return kind, parts
            if deadline is None:
                self.sock.settimeout(None)
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("timed out")
                self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"gearmand at {self.address} closed the connection")
            self.buffer += chunk

    def submit(
        self,
        function: bytes,
        unique: bytes,
        data: bytes,
        *,
        background: bool,
        priority: str | None,
        deadline: float | None,
    ) -> bytes:
        """Send a SUBMIT_JOB* packet and return the handle from JOB_CREATED."""
        self.send(packet(SUBMIT[(background, priority)], function, unique, data))
        while True:
            kind, parts = self.read(deadline)
            if kind == JOB_CREATED:
                return parts[0]
            if kind in FINAL:  # an answer to an earlier job of this connection
                self.finished[parts[0]] = (kind, parts)

    def wait(self, handle: bytes, deadline: float | None) -> tuple[int, list[bytes]]:
        """Read until the final answer (WORK_COMPLETE / FAIL / EXCEPTION) for ``handle``."""
        if handle in self.finished:
            return self.finished.pop(handle)
        while True:
            kind, parts = self.read(deadline)
            if kind in FINAL:
                if parts[0] == handle:
                    return kind, parts
                self.finished[parts[0]] = (kind, parts)
