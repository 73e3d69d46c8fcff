"""The sending side: one ZeroMQ PUSH socket per process (Z6, Z7).

The old library opened a socket per decorated function and leaked file
descriptors. Here there is one socket per process, made on the first send and
made again in a child after ``fork()`` (a ZeroMQ context must never be used on
both sides of a fork; the parent's objects are left untouched in the child).

The socket is connected to every node of ``WORKER_URLS`` (or to ``URL``).
``IMMEDIATE`` makes PUSH queue messages only to nodes whose connection is up,
so ZeroMQ's round robin skips a node that is down instead of parking messages
for it; ``SNDHWM`` bounds what may wait in memory per node; ``SNDTIMEO``
(``SEND_TIMEOUT``) bounds how long a send waits for room. A send that times out
raises :class:`ZtaskUnavailable` (or, with ``ON_UNREACHABLE = "run"``, the
caller runs the job in-process): never a block for ever, never a silent drop.

The client also keeps the :class:`~djworkers.framing.Framer` made from the
same settings, so a ``.delay()`` looks nothing up: both go when settings change.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

from .. import conf
from ..exceptions import DjworkersImproperlyConfigured
from ..framing import Framer

logger = logging.getLogger("djworkers.ztask")

#: Messages that may wait in memory per connected node before sends block (then time out).
SEND_HWM = 1000
#: The queue name written on ztask messages (ztaskd records its node on the rows it keeps).
QUEUE = "ztask"
#: Frames up to this size are copied into ZeroMQ; larger ones are sent zero-copy.
COPY_THRESHOLD = 65536


class ZtaskUnavailable(RuntimeError):
    """No ztaskd took the message within ``DJWORKERS["ZTASK"]["SEND_TIMEOUT"]`` seconds."""


def worker_urls(settings: dict[str, Any] | None = None) -> list[str]:
    """The nodes to push to: ``WORKER_URLS`` when set, else ``[URL]``."""
    settings = settings or conf.section("ZTASK")
    urls = list(settings["WORKER_URLS"] or ()) or [settings["URL"]]
    return urls


class Client:
    """A PUSH socket bound to this process (pid) and to the settings it was made from,
    with the :class:`Framer` of those settings."""

    def __init__(self, urls: list[str], timeout: float):
        import zmq

        self.framer = Framer(QUEUE)
        self.urls = list(urls)
        self.timeout = timeout
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.timed_out = zmq.Again  # what a send raises after SNDTIMEO (no import per send)
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PUSH)
        self.socket.setsockopt(zmq.IMMEDIATE, 1)
        self.socket.setsockopt(zmq.SNDHWM, SEND_HWM)
        self.socket.setsockopt(zmq.SNDTIMEO, max(1, int(timeout * 1000)))
        # At exit, queued messages get the same time to leave as a send had to enter.
        self.socket.setsockopt(zmq.LINGER, max(0, int(timeout * 1000)))
        try:
            for url in self.urls:
                self.socket.connect(url)
        except zmq.ZMQError as exc:
            self.close()
            raise DjworkersImproperlyConfigured(
                f'DJWORKERS["ZTASK"] names {url!r} as a ztaskd node, which ZeroMQ cannot connect to: {exc}.'
            ) from exc

    def send_frame(self, frame: bytes, what: str = "a message", message_id: str = "") -> None:
        """Hand ``frame`` to a connected node, or raise :class:`ZtaskUnavailable` after the timeout.

        ``what`` and ``message_id`` name the message in the error (joined only then)."""
        with self.lock:
            try:
                if len(frame) <= COPY_THRESHOLD:
                    self.socket.send(frame)  # copied: cheaper than tracking a zero-copy buffer
                else:
                    self.socket.send(frame, copy=False)
            except self.timed_out:
                raise ZtaskUnavailable(
                    f"No ztaskd at {', '.join(self.urls)} took {what}{f'[{message_id}]' if message_id else ''} "
                    f'within {self.timeout:g} s (DJWORKERS["ZTASK"]["SEND_TIMEOUT"]). Is manage.py ztaskd '
                    f'running? Set DJWORKERS["ZTASK"]["ON_UNREACHABLE"] = "run" to run such calls in-process.'
                ) from None

    def send(self, message) -> None:
        from ..messages import encode

        self.send_frame(encode(message), message.describe())

    def close(self) -> None:
        if self.pid != os.getpid():
            return  # inherited through fork: the parent owns these
        self.socket.close()
        self.context.term()


_client: Client | None = None
_client_lock = threading.Lock()
#: Clients inherited through fork: kept referenced so their sockets are never closed (or
#: garbage-collected) in the child, which would touch the parent's ZeroMQ state.
_inherited: list[Client] = []


def client() -> Client:
    """This process's client, made on first use and again after ``fork()`` or a settings change.

    A child made by ``os.fork()`` (or multiprocessing's fork) finds ``_client``
    emptied by :func:`_forget_after_fork`, so the common call costs one global read
    instead of a ``getpid()`` per call (a fork that bypasses Python's fork hooks is
    not supported).
    """
    global _client
    current = _client
    if current is not None:
        return current
    with _client_lock:
        if _client is not None and _client.pid != os.getpid():
            _inherited.append(_client)
            _client = None
        if _client is None:
            settings = conf.section("ZTASK")
            _client = Client(worker_urls(settings), float(settings["SEND_TIMEOUT"]))
        return _client


def reset() -> None:
    """Close this process's client (settings changed, or at exit: queued messages get
    ``SEND_TIMEOUT`` to leave)."""
    global _client
    with _client_lock:
        current, _client = _client, None
    if current is not None:
        try:
            current.close()
        except Exception:
            logger.debug("closing the ztask client failed", exc_info=True)


def _forget_after_fork() -> None:
    """In a forked child: set the parent's client aside (never closed here) and its lock anew."""
    global _client, _client_lock
    _client_lock = threading.Lock()
    if _client is not None:
        _inherited.append(_client)
        _client = None


#: Settings the client's framer reads (signing keys) besides ``DJWORKERS`` and the old names.
SIGNING_SETTINGS = ("SECRET_KEY", "SECRET_KEY_FALLBACKS")


def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    from .door import door

    if setting == "DJWORKERS" or setting in door.legacy_settings or setting in SIGNING_SETTINGS:
        reset()


def _connect_signals() -> None:
    from django.core.signals import setting_changed

    setting_changed.connect(_on_setting_changed, dispatch_uid="djworkers.ztask.reset_client")


_connect_signals()
atexit.register(reset)
os.register_at_fork(after_in_child=_forget_after_fork)
