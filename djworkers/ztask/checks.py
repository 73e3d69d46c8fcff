"""System checks for ztask (ids ``djworkers.E4xx`` / ``W4xx``).

E401 URL or a WORKER_URLS entry not a ZeroMQ endpoint (``tcp://``, ``ipc://``, ``inproc://``)
· E402 RETRY_COUNT not an int >= 0 · E403 RETRY_AFTER / SEND_TIMEOUT not a number (>= 0,
> 0) · E404 ON_LOAD not a list of callables or dotted paths that import · E405
ALWAYS_EAGER / DISABLED not a bool · E406 ON_UNREACHABLE not "raise" or "run" · E407
pyzmq missing while @task functions are registered and tasks are sent · W401
ALWAYS_EAGER and DISABLED both on (DISABLED wins: nothing runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core import checks

from .. import conf
from ..conf import new_name
from ..exceptions import DjworkersImproperlyConfigured
from ..loading import load_object
from .door import DOOR

SCHEMES = ("tcp://", "ipc://", "inproc://", "pgm://", "epgm://")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _endpoint(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SCHEMES) and len(value) > 7


def check() -> Iterator[checks.CheckMessage]:
    settings = conf.section("ZTASK")
    if not _endpoint(settings["URL"]):
        yield checks.Error(
            f"{new_name('ZTASK', 'URL')} must be a ZeroMQ endpoint such as "
            f"'tcp://127.0.0.1:5555', got {settings['URL']!r}.",
            id="djworkers.E401",
        )
    urls = settings["WORKER_URLS"]
    if not isinstance(urls, (list, tuple)) or not all(_endpoint(url) for url in urls):
        yield checks.Error(
            f"{new_name('ZTASK', 'WORKER_URLS')} must be a list of ZeroMQ endpoints "
            f"(one per ztaskd node), got {urls!r}.",
            id="djworkers.E401",
        )
    count = settings["RETRY_COUNT"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        yield checks.Error(
            f"{new_name('ZTASK', 'RETRY_COUNT')} must be an int >= 0, got {count!r}.", id="djworkers.E402"
        )
    if not _number(settings["RETRY_AFTER"]) or settings["RETRY_AFTER"] < 0:
        yield checks.Error(
            f"{new_name('ZTASK', 'RETRY_AFTER')} must be a number of seconds >= 0, got {settings['RETRY_AFTER']!r}.",
            id="djworkers.E403",
        )
    if not _number(settings["SEND_TIMEOUT"]) or settings["SEND_TIMEOUT"] <= 0:
        yield checks.Error(
            f"{new_name('ZTASK', 'SEND_TIMEOUT')} must be a number of seconds > 0, got {settings['SEND_TIMEOUT']!r}.",
            id="djworkers.E403",
        )
    yield from _on_load(settings["ON_LOAD"])
    for key in ("ALWAYS_EAGER", "DISABLED"):
        if not isinstance(settings[key], bool):
            yield checks.Error(
                f"{new_name('ZTASK', key)} must be True or False, got {settings[key]!r}.", id="djworkers.E405"
            )
    if settings["ON_UNREACHABLE"] not in ("raise", "run"):
        yield checks.Error(
            f"{new_name('ZTASK', 'ON_UNREACHABLE')} must be 'raise' or 'run', got {settings['ON_UNREACHABLE']!r}.",
            id="djworkers.E406",
        )
    if settings["ALWAYS_EAGER"] is True and settings["DISABLED"] is True:
        yield checks.Warning(
            f"{new_name('ZTASK', 'ALWAYS_EAGER')} and {new_name('ZTASK', 'DISABLED')} are "
            "both on: DISABLED wins, tasks are logged and never run.",
            id="djworkers.W401",
        )
    yield from _pyzmq(settings)


def _on_load(entries: Any) -> Iterator[checks.CheckMessage]:
    setting = new_name("ZTASK", "ON_LOAD")
    if isinstance(entries, str) or not isinstance(entries, (list, tuple)):
        yield checks.Error(
            f"{setting} must be a list of callables or dotted paths, got {entries!r}.", id="djworkers.E404"
        )
        return
    for entry in entries:
        try:
            target = load_object(entry, setting) if isinstance(entry, str) else entry
        except DjworkersImproperlyConfigured as exc:
            yield checks.Error(str(exc), id="djworkers.E404")
            continue
        if not callable(target):
            yield checks.Error(f"{setting} entry {entry!r} is not callable.", id="djworkers.E404")


def _pyzmq(settings: dict[str, Any]) -> Iterator[checks.CheckMessage]:
    from ..registry import registry

    if settings["ALWAYS_EAGER"] is True or settings["DISABLED"] is True or not registry.by_door(DOOR):
        return
    try:
        import zmq  # noqa: F401
    except ImportError:
        yield checks.Error(
            "@task functions are registered but pyzmq is not installed, so .delay() cannot send them.",
            hint="pip install 'djworkers[zmq]'",
            id="djworkers.E407",
        )
