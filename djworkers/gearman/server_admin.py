"""gearmand's text admin protocol: ``status`` (jobs queued, running, workers per function).

A few lines of sockets rather than pygearman's admin client: one command, one
short connection, a timeout, and it never touches the job connections.
"""

from __future__ import annotations

import socket
from typing import Any


def _command(server: tuple[str, int], command: bytes, timeout: float) -> bytes:
    with socket.create_connection(server, timeout=timeout) as sock:
        sock.sendall(command + b"\n")
        data = b""
        while not (data == b".\n" or data.endswith(b"\n.\n")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if command == b"version" and data.endswith(b"\n"):
                break
    return data


def function_status(server: tuple[str, int], timeout: float = 2.0) -> list[dict[str, Any]]:
    """One row per function gearmand knows: ``function``, ``queued`` (all jobs, running included,
    as gearmand counts them), ``running`` and ``workers`` (workers able to run it)."""
    rows = []
    for line in _command(server, b"status", timeout).decode("utf-8", "replace").splitlines():
        if line == ".":
            break
        parts = line.split("\t")
        if len(parts) < 4:
            continue
        try:
            total, running, workers = int(parts[1]), int(parts[2]), int(parts[3])
        except ValueError:
            continue
        rows.append({"function": parts[0], "queued": max(0, total - running), "running": running, "workers": workers})
    return rows


def answers(server: tuple[str, int], timeout: float = 1.0) -> bool:
    """True if a gearmand answers the admin ``version`` command at ``server``."""
    try:
        return bool(_command(server, b"version", timeout).strip())
    except OSError:
        return False
