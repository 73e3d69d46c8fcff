"""The Gearman door's status section, from gearmand's admin ``status`` command."""

from __future__ import annotations

from typing import Any

from ..monitoring.status import StatusOptions, column, failed_counts, section
from . import library, server_admin
from .decorators import gearman_jobs
from .naming import server_name


def gearman_section(options: StatusOptions) -> dict[str, Any]:
    """One row per function of ours (and any other gearmand knows): queued, running, workers."""
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    try:
        servers = library.configured_servers()
    except Exception as exc:
        servers = []
        problems.append(f"gearman: {exc}")
    ours: dict[str, str] = {}
    for job in gearman_jobs():
        try:
            ours[server_name(job.name)] = job.name
        except Exception as exc:
            problems.append(f"gearman: {exc}")
            break
    try:
        failed: dict[str, int] | None = failed_counts("gearman")
    except Exception:
        failed = None
    for host, port in servers:
        address = f"{host}:{port}"
        try:
            known = {row["function"]: row for row in server_admin.function_status((host, port))}
        except OSError as exc:
            problems.append(f"gearman: gearmand at {address} unreachable: {type(exc).__name__}: {exc}")
            rows += [
                {"server": address, "function": function, "job": name, "queued": None, "running": None, "workers": None}
                for function, name in sorted(ours.items())
            ]
            continue
        for function in sorted(set(known) | set(ours)):
            row = known.get(function, {"queued": 0, "running": 0, "workers": 0})
            rows.append(
                {
                    "server": address,
                    "function": function,
                    "job": ours.get(function, ""),
                    "queued": row["queued"],
                    "running": row["running"],
                    "workers": row["workers"],
                }
            )
    notes = []
    if failed:
        notes.append(f"failed jobs in the store: {sum(failed.values())} (djworkers_failed lists them)")
    columns = [
        column("server", "Server"),
        column("function", "Function"),
        column("job", "Job"),
        column("queued", "Queued"),
        column("running", "Running"),
        column("workers", "Workers"),
    ]
    return section("gearman", "Gearman", columns, rows, problems, notes)
