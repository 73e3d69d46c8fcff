"""A test-only :class:`~djworkers.runtime.source.Source`: a directory of frame files.

It exists so the core worker runtime can be tested in real subprocesses with
real signals without depending on any front door's transport. Layout::

    <root>/queue/<due_ns>-<id>.frame    waiting (due at unix time due_ns / 1e9)
    <root>/leased/<same name>           claimed by a worker, not yet acked

Claiming is an atomic ``os.rename`` from ``queue/`` to ``leased/``: of several
workers racing for a file exactly one rename succeeds. ``ack`` deletes the
leased file, ``release`` renames it back, ``retry`` writes the new frame (due
at its eta) and then deletes the leased one, so a crash in between repeats the
job rather than losing it.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from djworkers.messages import Message, encode
from djworkers.runtime.source import Delivery, Source

SUFFIX = ".frame"


def _write_atomically(directory: Path, name: str, raw: bytes) -> Path:
    tmp = directory / f".{name}.tmp"
    tmp.write_bytes(raw)
    final = directory / name
    os.rename(tmp, final)
    return final


def frame_name(due: float | None = None) -> str:
    due_ns = time.time_ns() if due is None else int(due * 1e9)
    return f"{due_ns:020d}-{uuid.uuid4().hex}{SUFFIX}"


class FileSource(Source):
    """Deliveries are files; the receipt is the file's name."""

    door = "file"
    backend = "directory"
    supports_lease = False
    blocking = False

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.queue_dir = self.root / "queue"
        self.leased_dir = self.root / "leased"
        self.queue_dir.mkdir(parents=True, exist_ok=True)
        self.leased_dir.mkdir(parents=True, exist_ok=True)
        self.closed = False

    # -- producer side ----------------------------------------------------------
    def put(self, raw: bytes, eta: float | None = None) -> str:
        return _write_atomically(self.queue_dir, frame_name(eta), raw).name

    def enqueue(self, message: Message) -> str:
        return self.put(encode(message), message.eta)

    # -- Source -------------------------------------------------------------------
    def _due(self) -> list[str]:
        now_ns = time.time_ns()
        names = sorted(n for n in os.listdir(self.queue_dir) if n.endswith(SUFFIX))
        return [n for n in names if int(n.split("-", 1)[0]) <= now_ns]

    def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        deliveries: list[Delivery] = []
        for name in self._due():
            if len(deliveries) >= limit:
                break
            try:
                os.rename(self.queue_dir / name, self.leased_dir / name)
            except FileNotFoundError:
                continue  # another worker claimed it first
            raw = (self.leased_dir / name).read_bytes()
            deliveries.append(Delivery(raw=raw, receipt=name, queue="files"))
        return deliveries

    def ack(self, delivery: Delivery) -> None:
        (self.leased_dir / delivery.receipt).unlink()

    def release(self, delivery: Delivery) -> None:
        os.rename(self.leased_dir / delivery.receipt, self.queue_dir / delivery.receipt)

    def retry(self, delivery: Delivery, raw: bytes, eta: float) -> None:
        self.put(raw, eta)
        self.ack(delivery)

    def close(self) -> None:
        self.closed = True

    # -- inspection for tests -------------------------------------------------------
    def waiting(self) -> list[Path]:
        return sorted(p for p in self.queue_dir.iterdir() if p.name.endswith(SUFFIX))

    def leased(self) -> list[Path]:
        return sorted(p for p in self.leased_dir.iterdir() if p.name.endswith(SUFFIX))
