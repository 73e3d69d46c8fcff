"""Helpers for the ztask tests: free ports, a PULL socket that counts, ztaskd subprocess settings."""

from __future__ import annotations

import socket
import threading

import zmq


def free_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"


class Pull:
    """A PULL socket bound at a free port, drained by a thread that keeps (or counts) frames."""

    def __init__(self, keep: bool = True):
        self.url = free_url()
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PULL)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(self.url)
        self.keep = keep
        self.frames: list[bytes] = []
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            if self.socket.poll(50):
                while True:
                    try:
                        frame = self.socket.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.count += 1
                    if self.keep:
                        self.frames.append(frame)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.socket.close()
        self.context.term()


def ztask_settings(url: str, **ztask) -> dict:
    """``DJWORKERS`` for a ztaskd subprocess (tests/settings.py's, plus a ZTASK section)."""
    return {
        "DJWORKERS": {
            "WORKER": {"SHUTDOWN_TIMEOUT": 10, "HEARTBEAT_INTERVAL": 0.5},
            "STATS": {"ENABLED": False},
            "ZTASK": {"URL": url, "RETRY_AFTER": 0.2, **ztask},
        }
    }


COUNTER = """
import sys, zmq
socket = zmq.Context().socket(zmq.PULL)
socket.bind(sys.argv[1])
print("ready", flush=True)
count = 0
while True:
    frame = socket.recv()
    if frame == b"END":
        break
    count += 1
print(count, flush=True)
"""


def counting_pull(url: str):
    """A PULL socket in another process (so it drains at full speed), counting frames until
    a bare ``END`` frame; its stdout's last line is the count."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", COUNTER, url], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process
