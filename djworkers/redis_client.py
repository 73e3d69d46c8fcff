"""The one Redis client style: a connection setting turned into a shared redis-py client,
and Lua scripts run by SHA.

Every part of djworkers that talks to Redis (the queue backend, the result
store, the periodic cache's locks) gets its client from :func:`get_client` and
runs its scripts as :class:`LuaScript`. :func:`parse_connection` is the one
parser of a connection setting (``DJWORKERS["QUEUE"]["CONNECTION"]``,
``DJWORKERS["DUMBWAITER"]["CONNECTION"]``); system checks call it too, so a
typo is reported by ``manage.py check`` before a worker starts. It accepts:

- ``None``: ``redis://127.0.0.1:6379/0``;
- a URL (``redis://``, ``rediss://``, ``unix://``), query options included
  (``?socket_timeout=2``), returned as the string;
- the djutils form ``"host:port:db"`` (also ``"host:port"`` and ``"host"``),
  returned as ``{"host": ..., "port": ..., "db": ...}``;
- a dict of :class:`redis.Redis` keyword arguments, returned as a copy.

Parsing imports nothing from redis-py, so checks work where it is missing.
:func:`get_client` builds (and caches, one per connection per process) the
client with djworkers' defaults: finite socket timeouts, so a stopped server
cannot hang a consumer for ever, and one quick retry on a dropped connection,
so a client whose pooled socket died with a server restart reconnects
transparently.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from .conf import new_name
from .exceptions import DjworkersImproperlyConfigured

DEFAULT_URL = "redis://127.0.0.1:6379/0"
URL_SCHEMES = ("redis", "rediss", "unix")
SETTING = new_name("QUEUE", "CONNECTION")

#: Socket timeouts (seconds) unless the URL or dict says otherwise. A command
#: to a SIGSTOPped or unreachable server fails after this long instead of
#: blocking the consumer; blocking reads are always shorter (see the backend).
DEFAULT_SOCKET_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 5.0

_HINT = (
    'expected a URL such as "redis://127.0.0.1:6379/0" (or rediss://, unix://), '
    'the old djutils form "host:port:db", a dict of redis.Redis arguments, or None'
)


def _invalid(value: Any, setting: str, why: str) -> DjworkersImproperlyConfigured:
    return DjworkersImproperlyConfigured(f"{setting} = {value!r} is not a Redis connection: {why}; {_HINT}.")


def _parse_url(value: str, setting: str) -> str:
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError as exc:
        raise _invalid(value, setting, str(exc)) from None
    if parts.scheme not in URL_SCHEMES:
        raise _invalid(value, setting, f"unknown scheme {parts.scheme!r}")
    if parts.scheme == "unix":
        if not parts.path:
            raise _invalid(value, setting, "a unix:// URL needs a socket path")
        return value
    if not parts.hostname:
        raise _invalid(value, setting, "the URL has no host")
    if port == 0:
        raise _invalid(value, setting, "port 0")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise _invalid(value, setting, f"the database number {db!r} is not an integer")
    return value


def _parse_legacy(value: str, setting: str) -> dict[str, Any]:
    parts = value.split(":")
    if len(parts) > 3:
        raise _invalid(value, setting, "too many ':' (for IPv6 use a redis://[::1]:6379/0 URL)")
    host = parts[0].strip()
    if not host or any(c.isspace() or c in "/@?#" for c in host):
        raise _invalid(value, setting, f"bad host {host!r}")
    result: dict[str, Any] = {"host": host, "port": 6379, "db": 0}
    for index, key in ((1, "port"), (2, "db")):
        if len(parts) > index:
            text = parts[index].strip()
            if not text.isdigit():
                raise _invalid(value, setting, f"the {key} {text!r} is not a non-negative integer")
            result[key] = int(text)
    if not 0 < result["port"] < 65536:
        raise _invalid(value, setting, f"port {result['port']} is out of range")
    return result


def parse_connection(value: Any, setting: str = SETTING) -> dict[str, Any] | str:
    """Validate a Redis connection setting; a URL string or a dict of client arguments.

    Raises :class:`DjworkersImproperlyConfigured` naming ``setting`` on anything
    that cannot be a connection (it never contacts the server).
    """
    if value is None:
        return DEFAULT_URL
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise _invalid(value, setting, "it is empty")
        if "://" in text:
            return _parse_url(text, setting)
        return _parse_legacy(text, setting)
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise _invalid(value, setting, f"dict keys must be strings, got {bad!r}")
        return dict(value)
    raise _invalid(value, setting, f"a {type(value).__name__} is not accepted")


def describe(value: Any) -> str:
    """Where the connection setting ``value`` points, for messages: a password is never shown.

    ``redis://user:secret@host:6379/0`` becomes ``redis://user:***@host:6379/0``;
    a dict or the old ``host:port:db`` form becomes ``redis://host:port/db``.
    """
    if hasattr(value, "connection_pool"):
        value = value.connection_pool.connection_kwargs
    try:
        parsed = parse_connection(value)
    except DjworkersImproperlyConfigured:
        return "<invalid connection setting>"
    if isinstance(parsed, str):
        parts = urlsplit(parsed)
        if parts.password is not None:
            user = parts.username or ""
            host = parts.netloc.rsplit("@", 1)[1]
            parts = parts._replace(netloc=f"{user}:***@{host}")
        if "password" in parse_qs(parts.query):
            parts = parts._replace(query="password=***")
        if parts.scheme == "unix":  # urlunsplit would drop the "//" of an empty host
            return f"unix://{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return urlunsplit(parts)
    if parsed.get("unix_socket_path"):
        return f"unix://{parsed['unix_socket_path']}"
    return f"redis://{parsed.get('host', '127.0.0.1')}:{parsed.get('port', 6379)}/{parsed.get('db', 0)}"


def explicit_max_connections(value: Any) -> int | None:
    """``max_connections`` as the user set it (URL query or dict), or None when left to redis-py."""
    if hasattr(value, "connection_pool"):
        return value.connection_pool.max_connections
    try:
        parsed = parse_connection(value)
    except DjworkersImproperlyConfigured:
        return None
    if isinstance(parsed, str):
        found = parse_qs(urlsplit(parsed).query).get("max_connections")
        return int(found[0]) if found and found[0].isdigit() else None
    found = parsed.get("max_connections")
    return int(found) if found is not None else None


# -- clients ------------------------------------------------------------------
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _build_client(parsed: dict[str, Any] | str) -> Any:
    try:
        import redis
        from redis.backoff import ExponentialWithJitterBackoff
        from redis.retry import Retry
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DjworkersImproperlyConfigured(
            f"{SETTING}: the Redis queue backend needs redis-py: pip install 'djworkers[redis]' ({exc})."
        ) from exc

    defaults: dict[str, Any] = {
        "socket_timeout": DEFAULT_SOCKET_TIMEOUT,
        "socket_connect_timeout": DEFAULT_CONNECT_TIMEOUT,
        "socket_keepalive": True,
        # One reconnect-and-retry on a dropped socket (server restarted, idle
        # connection closed). Timeouts are not retried: a stalled server
        # surfaces at once, and the worker backs off.
        "retry": Retry(
            ExponentialWithJitterBackoff(cap=0.5, base=0.05),
            1,
            supported_errors=(redis.ConnectionError,),
        ),
        "client_name": "djworkers",
    }
    if isinstance(parsed, str):
        # URL query options (?socket_timeout=...) override the defaults.
        return redis.Redis(connection_pool=redis.ConnectionPool.from_url(parsed, **defaults))
    return redis.Redis(**{**defaults, **parsed})


def get_client(value: Any, setting: str = SETTING) -> Any:
    """A shared :class:`redis.Redis` for the connection setting ``value``.

    One client (so one connection pool) per distinct setting per process:
    enqueueing from a web request reuses pooled sockets instead of connecting
    each time. redis-py's pool notices a fork and opens new sockets in the
    child. An existing ``redis.Redis`` instance is returned unchanged.
    """
    if hasattr(value, "execute_command") and hasattr(value, "connection_pool"):
        return value
    parsed = parse_connection(value, setting)
    key = repr(sorted(parsed.items())) if isinstance(parsed, dict) else parsed
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _build_client(parsed)
        return client


#: Per thread: ``{id(shared client): (shared client, client holding one connection)}``.
_held = threading.local()
#: What the threads of a parent process held, kept referenced in a forked child: dropping them
#: there would close (garbage-collect) clients whose sockets the parent still uses.
_inherited: list[threading.local] = []


def _forget_held_after_fork() -> None:
    global _held
    _inherited.append(_held)
    _held = threading.local()


os.register_at_fork(after_in_child=_forget_held_after_fork)


def thread_client(client: Any) -> Any:
    """``client`` through one connection of its pool that the calling thread keeps.

    Why: for every command redis-py checks a connection out of the pool and
    back in (a lock, a poll of the socket for unread data, usage counters); with
    redis-py 8 that costs about 40 µs here, as much as the round trip to a local
    server. An enqueue is one command, so the enqueuing thread keeps a
    connection instead (redis-py's ``Redis.client()``, which :func:`execute`
    writes to directly). When the thread ends, the client is garbage and its
    connection goes back to the pool; a forked child takes one of its own. A pool
    already at its ``max_connections`` is shared as before.
    """
    try:
        held = _held.clients
    except AttributeError:
        held = _held.clients = {}
    entry = held.get(id(client))
    if entry is not None and entry[0] is client:
        return entry[1]
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        own = client.client()
    except RedisConnectionError:  # MaxConnectionsError: the pool is full; share it
        own = client
    held[id(client)] = (client, own)
    return own


_pack_command: Callable[..., bytes] | None
try:
    from hiredis import pack_command as _pack_command
except ImportError:  # pragma: no cover - the redis extra installs hiredis
    _pack_command = None


def execute(client: Any, *command: Any) -> Any:
    """Run one command, straight on the connection a :func:`thread_client` holds (else through
    redis-py), and return the reply as the server sent it: :class:`LuaScript` calls, whose
    replies redis-py leaves as they are too.

    Why: redis-py's ``execute_command`` spends ~20 µs of Python per command
    (retry wrapper, option filtering, metrics) around a ~35 µs round trip. The
    direct write keeps redis-py's connection handling (connect on first use,
    ``client_name``, a disconnect on any socket error). A dropped connection
    (server restarted) is retried once through ``execute_command`` with its
    retry policy, as before; a timeout is raised, not retried (the server may
    have run the command).
    """
    connection = getattr(client, "connection", None)
    if connection is None:
        return client.execute_command(*command)
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        if _pack_command is None:
            connection.send_command(*command)
        else:  # what send_command does, without its per-argument type checks
            connection.send_packed_command((_pack_command(command),))
        return connection.read_response()
    except RedisConnectionError:  # the connection is disconnected: reconnect and retry as redis-py does
        return client.execute_command(*command)


def execute_many(client: Any, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """Run ``commands`` in one write and one round trip, as a pipeline without MULTI does, and
    return their replies; an error reply (NOSCRIPT, say) comes back as its exception, in its
    place, for the caller to judge.

    Why: on the connection a :func:`thread_client` holds this skips redis-py's pipeline
    object, its pool checkout and its per-command bookkeeping (~60 µs of Python for two
    commands here). Elsewhere it is redis-py's pipeline; a dropped connection is retried once
    through it, with its retry policy, as :func:`execute` does.
    """
    connection = getattr(client, "connection", None)
    if connection is not None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import ResponseError

        try:
            if _pack_command is None:
                connection.send_packed_command(connection.pack_commands(commands))
            else:
                # one buffer: redis-py writes each item of a list with a sendall of its own
                connection.send_packed_command([b"".join([_pack_command(tuple(command)) for command in commands])])
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(connection.read_response())
                except ResponseError as error:  # the whole reply was read: the next one follows
                    replies.append(error)
            return replies
        except RedisConnectionError:
            pass  # the connection is disconnected: reconnect and retry as redis-py does
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return pipe.execute(raise_on_error=False)


class LuaScript:
    """A script run with EVALSHA, loaded on the first NOSCRIPT (e.g. after a server restart).

    Leaner than redis-py's ``register_script`` on the hot path: one
    ``execute_command`` and no per-call object juggling.
    """

    def __init__(self, name: str, source: str):
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(self.source.encode("utf-8")).hexdigest()

    def command(self, keys: Sequence[Any], args: Sequence[Any]) -> tuple[Any, ...]:
        """The EVALSHA command of one call, to send with others (:func:`execute_many`)."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    def __call__(self, client: Any, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        try:
            return execute(client, *self.command(keys, args))
        except _no_script_error():
            execute(client, "SCRIPT", "LOAD", self.source)
            return execute(client, *self.command(keys, args))

    def __repr__(self) -> str:
        return f"<LuaScript {self.name} {self.sha[:8]}>"


def _no_script_error() -> type[Exception]:
    """redis-py's NOSCRIPT exception, imported only when a script call fails."""
    from redis.exceptions import NoScriptError

    return NoScriptError


__all__ = [
    "DEFAULT_URL",
    "LuaScript",
    "describe",
    "execute",
    "execute_many",
    "explicit_max_connections",
    "get_client",
    "parse_connection",
    "thread_client",
]
