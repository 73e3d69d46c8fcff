"""System checks for ``DJWORKERS["SLACKER"]`` (ids djworkers.E601–E607)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from urllib.parse import urlsplit

from django.core import checks

from .. import conf


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def check() -> Iterator[checks.CheckMessage]:
    from .workers import WORKERS

    options = conf.section("SLACKER")
    worker = options["WORKER"]
    if worker not in WORKERS:
        yield checks.Error(
            f'DJWORKERS["SLACKER"]["WORKER"] is {worker!r}; the slacker workers are {", ".join(sorted(WORKERS))}.',
            id="djworkers.E601",
        )
    server = options["SERVER"]
    if server is not None:
        parts = urlsplit(server if isinstance(server, str) and "://" in server else f"http://{server}")
        if not isinstance(server, str) or parts.scheme not in ("http", "https") or not parts.hostname:
            yield checks.Error(
                f'DJWORKERS["SLACKER"]["SERVER"] must be the http(s) URL of the slacker endpoint, got {server!r}.',
                id="djworkers.E602",
            )
    elif worker == "http":
        yield checks.Error(
            'DJWORKERS["SLACKER"]["WORKER"] is "http" but DJWORKERS["SLACKER"]["SERVER"] is not set.',
            id="djworkers.E602",
        )
    for key in ("MAX_AGE", "TIMEOUT"):
        if not _positive(options[key]):
            yield checks.Error(
                f'DJWORKERS["SLACKER"]["{key}"] must be a positive number of seconds, got {options[key]!r}.',
                id="djworkers.E603",
            )
    for key in ("THREADS", "HTTP_MAX_CLIENTS"):
        value = options[key]
        if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            yield checks.Error(
                f'DJWORKERS["SLACKER"]["{key}"] must be a positive integer, got {value!r}.', id="djworkers.E604"
            )
    if worker == "http" and importlib.util.find_spec("tornado") is None:
        yield checks.Error(
            'DJWORKERS["SLACKER"]["WORKER"] is "http", which needs Tornado: pip install "djworkers[tornado]".',
            id="djworkers.E605",
        )
    command = options["TORNADO_COMMAND"]
    if command is not None and not (
        isinstance(command, (list, tuple)) and command and all(isinstance(a, str) for a in command)
    ):
        yield checks.Error(
            'DJWORKERS["SLACKER"]["TORNADO_COMMAND"] must be a list of strings (a management '
            f"command and its arguments) or None, got {command!r}.",
            id="djworkers.E606",
        )
    queue = options["QUEUE"]
    if queue is not None and not (isinstance(queue, str) and queue):
        yield checks.Error(
            f'DJWORKERS["SLACKER"]["QUEUE"] must be a queue name or None, got {queue!r}.', id="djworkers.E607"
        )
