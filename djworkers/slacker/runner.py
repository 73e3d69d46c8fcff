"""Awaiting a chain (S2): pick the worker, apply the timeout, count what happened.

``await chain`` and ``await run(chain, worker=..., timeout=...)`` are the same
thing; the function form takes per-call options without a method on the proxy
(whose every attribute name belongs to the wrapped object).
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

from .. import conf
from .chain import Postponed, chain_of, worker_of
from .workers import Worker, get_worker

DOOR = "slacker"


class Tracker:
    """This process's chains: in flight, done and failed per worker, and the last error.

    The status section shows it (for the process that asks: a Tornado process
    serving its own status page sees its chains); the per-minute job
    statistics (``DJWORKERS["STATS"]``) add up every process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: dict[str, dict[str, Any]] = {}

    def _row(self, worker: str) -> dict[str, Any]:
        row = self.rows.get(worker)
        if row is None:
            row = self.rows[worker] = {"in_flight": 0, "done": 0, "errors": 0, "last_error": "", "last_error_at": None}
        return row

    def started(self, worker: str) -> None:
        with self._lock:
            self._row(worker)["in_flight"] += 1

    def finished(self, worker: str, error: BaseException | None) -> None:
        with self._lock:
            row = self._row(worker)
            row["in_flight"] -= 1
            if error is None:
                row["done"] += 1
            else:
                row["errors"] += 1
                row["last_error"] = f"{type(error).__name__}: {error}"[:300]
                row["last_error_at"] = time.time()
        if conf.section("STATS")["ENABLED"]:
            counter = _stats_counter()
            counter.add(DOOR, worker, processed=int(error is None), failed=int(error is not None))
            counter.ensure_flusher()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: dict(row) for name, row in self.rows.items()}

    def reset(self) -> None:
        with self._lock:
            self.rows.clear()


tracker = Tracker()


@functools.cache
def _stats_counter() -> Any:
    # Imported on first use (the stats module needs Django's apps), once: every chain counts.
    from ..monitoring.stats import counter

    return counter


async def run(proxy: Postponed, *, worker: Worker | str | None = None, timeout: float | None = None) -> Any:
    """Run a postponed chain and return its value: ``await run(postpone(User).objects.count())``.

    ``worker`` overrides the chain's worker (``postpone(obj, worker=...)``),
    which overrides ``DJWORKERS["SLACKER"]["WORKER"]``; ``timeout`` (seconds)
    overrides ``DJWORKERS["SLACKER"]["TIMEOUT"]``. Raises what the chain raised,
    or a :class:`~djworkers.slacker.exceptions.SlackerError`.
    """
    chain = chain_of(proxy)
    chosen = get_worker(worker if worker is not None else worker_of(proxy))
    limit = float(timeout if timeout is not None else conf.section("SLACKER")["TIMEOUT"])
    tracker.started(chosen.name)
    error: BaseException | None = None
    try:
        return await chosen.run(chain, limit)
    except BaseException as exc:
        error = exc
        raise
    finally:
        tracker.finished(chosen.name, error)
