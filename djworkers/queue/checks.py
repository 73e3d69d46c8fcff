"""System checks for the queue (ids ``djworkers.E2xx`` / ``W2xx``).

E201 unknown BACKEND name · E202 BACKEND path does not import · E203 BACKEND is
not a QueueBackend subclass · E204 CONNECTION unusable by the backend (Redis URL
or ``host:port:db``; database alias) · E205 LEASE_SECONDS not a positive number
· E206 RETRIES not an int >= 0 · E207 RETRY_DELAY / RETRY_MAX_DELAY negative or
RETRY_BACKOFF < 1 · E208 NAME not a non-empty string · E209 ALWAYS_EAGER,
PERIODIC, NOTIFY or RESULTS not a bool, ENQUEUE_ON_COMMIT not a bool or None · E210
RESULT_TTL not a positive number, or TIMEOUT neither None nor one · E211
MAX_DELIVERIES not an int >= 1 · W201 LEASE_SECONDS shorter than two heartbeats
(running jobs could lose their lease and run twice).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core import checks
from django.db import connections

from .. import conf
from ..conf import new_name
from ..exceptions import DjworkersImproperlyConfigured
from ..loading import load_object
from ..validation import is_at_least, is_number, is_positive
from .backends import BACKENDS, LEGACY_BACKENDS, QueueBackend, resolve_backend_path


def _backend_checks(settings: dict[str, Any]) -> Iterator[checks.CheckMessage]:
    value = settings["BACKEND"]
    setting = new_name("QUEUE", "BACKEND")
    try:
        path = resolve_backend_path(value)
    except DjworkersImproperlyConfigured as exc:
        yield checks.Error(str(exc), id="djworkers.E201")
        return
    try:
        cls = load_object(path, setting)
    except DjworkersImproperlyConfigured as exc:
        hint = "pip install 'djworkers[redis]'" if path == BACKENDS["redis"] else None
        yield checks.Error(str(exc), hint=hint, id="djworkers.E202")
        return
    if not (isinstance(cls, type) and issubclass(cls, QueueBackend)):
        yield checks.Error(
            f"{setting} = {value!r} is not a subclass of djworkers.queue.backends.base.QueueBackend.",
            id="djworkers.E203",
        )
        return
    yield from _connection_checks(path, settings["CONNECTION"])


def _connection_checks(path: Any, connection: Any) -> Iterator[checks.CheckMessage]:
    setting = new_name("QUEUE", "CONNECTION")
    if path == BACKENDS["redis"]:
        from ..redis_client import parse_connection

        try:
            parse_connection(connection)
        except DjworkersImproperlyConfigured as exc:
            yield checks.Error(
                str(exc), hint='Use a URL ("redis://host:6379/0") or the old "host:port:db".', id="djworkers.E204"
            )
    elif path == BACKENDS["database"]:
        # None and "" both mean 'default': the djutils README's database line is
        # ``QUEUE_CONNECTION = ''`` ("no connection needed").
        if connection not in (None, "") and (not isinstance(connection, str) or connection not in connections):
            yield checks.Error(
                f"{setting} = {connection!r}: the database backend takes a database alias from "
                f"settings.DATABASES ({', '.join(connections.settings)}), or None or '' for 'default'.",
                id="djworkers.E204",
            )
    elif path == BACKENDS["memory"]:
        if connection is not None and not isinstance(connection, str):
            yield checks.Error(
                f"{setting} = {connection!r}: the memory backend takes a store name (a string) or None.",
                id="djworkers.E204",
            )


def check() -> list[checks.CheckMessage]:
    settings = conf.section("QUEUE")
    messages = list(_backend_checks(settings))
    lease = settings["LEASE_SECONDS"]
    if not is_positive(lease):
        messages.append(
            checks.Error(
                f"{new_name('QUEUE', 'LEASE_SECONDS')} must be a positive number of seconds, got {lease!r}.",
                id="djworkers.E205",
            )
        )
    else:
        heartbeat = conf.section("WORKER")["HEARTBEAT_INTERVAL"]
        if is_number(heartbeat) and lease < 2 * heartbeat:
            messages.append(
                checks.Warning(
                    f"{new_name('QUEUE', 'LEASE_SECONDS')} = {lease!r} is shorter than two heartbeats "
                    f"({new_name('WORKER', 'HEARTBEAT_INTERVAL')} = {heartbeat!r}): a running job's lease "
                    "can run out before it is renewed, and the job would run twice.",
                    hint="Make LEASE_SECONDS at least a few heartbeat intervals.",
                    id="djworkers.W201",
                )
            )
    retries = settings["RETRIES"]
    if not is_at_least(retries, 0, whole=True):
        messages.append(
            checks.Error(
                f"{new_name('QUEUE', 'RETRIES')} must be an int >= 0, got {retries!r}.",
                id="djworkers.E206",
            )
        )
    for key, minimum in (("RETRY_DELAY", 0), ("RETRY_MAX_DELAY", 0), ("RETRY_BACKOFF", 1)):
        value = settings[key]
        if not is_at_least(value, minimum):
            messages.append(
                checks.Error(
                    f"{new_name('QUEUE', key)} must be a number >= {minimum}, got {value!r}.",
                    id="djworkers.E207",
                )
            )
    name = settings["NAME"]
    if not isinstance(name, str) or not name.strip():
        messages.append(
            checks.Error(
                f"{new_name('QUEUE', 'NAME')} must be a non-empty string, got {name!r}.",
                id="djworkers.E208",
            )
        )
    for key, allow_none in (("RESULT_TTL", False), ("TIMEOUT", True)):
        value = settings[key]
        if not (value is None and allow_none) and not is_positive(value):
            messages.append(
                checks.Error(
                    f"{new_name('QUEUE', key)} must be a positive number of seconds"
                    f"{' or None' if allow_none else ''}, got {value!r}.",
                    id="djworkers.E210",
                )
            )
    limit = settings["MAX_DELIVERIES"]
    if not is_at_least(limit, 1, whole=True):
        messages.append(
            checks.Error(
                f"{new_name('QUEUE', 'MAX_DELIVERIES')} must be an int >= 1, got {limit!r}.",
                id="djworkers.E211",
            )
        )
    for key in ("ALWAYS_EAGER", "PERIODIC", "NOTIFY", "RESULTS"):
        if not isinstance(settings[key], bool):
            messages.append(
                checks.Error(
                    f"{new_name('QUEUE', key)} must be True or False, got {settings[key]!r}.",
                    id="djworkers.E209",
                )
            )
    on_commit = settings["ENQUEUE_ON_COMMIT"]
    if on_commit is not None and not isinstance(on_commit, bool):
        messages.append(
            checks.Error(
                f"{new_name('QUEUE', 'ENQUEUE_ON_COMMIT')} must be True, False or None (the backend's "
                f"default), got {on_commit!r}.",
                id="djworkers.E209",
            )
        )
    return messages


__all__ = ["LEGACY_BACKENDS", "check"]
