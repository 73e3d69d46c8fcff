"""The one place the ``gearman`` package (pygearman) is imported.

pygearman and the older gearman/gearman3 distributions all ship a top-level
``gearman`` package; installing two of them makes one overwrite the other, so
the ``gearman`` extra pins pygearman alone and the system check E503 reports a
conflicting distribution.
"""

from __future__ import annotations

from importlib import metadata
from types import ModuleType

from ..exceptions import DjworkersImproperlyConfigured

DISTRIBUTION = "pygearman"
CONFLICTING = ("gearman", "gearman3")


def gearman() -> ModuleType:
    """The ``gearman`` package, or a clear error saying which extra to install."""
    try:
        import gearman as module
    except ImportError as exc:
        raise DjworkersImproperlyConfigured(
            "The Gearman door needs pygearman: pip install 'djworkers[gearman]'."
        ) from exc
    return module


def installed_distributions() -> list[str]:
    """Which of pygearman, gearman and gearman3 are installed (they share the ``gearman`` import)."""
    found = []
    for name in (DISTRIBUTION, *CONFLICTING):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def server_list(value: object, setting: str = 'DJWORKERS["GEARMAN"]["SERVERS"]') -> list[tuple[str, int]]:
    """``["127.0.0.1", "host:4731", ("host", 4732)]`` -> ``[(host, port), ...]`` (default port 4730)."""
    if isinstance(value, (str, tuple)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise DjworkersImproperlyConfigured(
            f"{setting} must be a non-empty list of 'host[:port]' strings, got {value!r}."
        )
    servers = []
    for item in value:
        if isinstance(item, tuple) and len(item) == 2:
            host, port = item
        elif isinstance(item, str) and item:
            host, _, port_text = item.rpartition(":") if ":" in item else (item, "", "4730")
            try:
                port = int(port_text)
            except ValueError:
                raise DjworkersImproperlyConfigured(f"{setting}: {item!r} has a port that is not a number.") from None
        else:
            raise DjworkersImproperlyConfigured(f"{setting}: {item!r} is not a 'host[:port]' string.")
        if not isinstance(port, int) or not 0 < port < 65536 or not host:
            raise DjworkersImproperlyConfigured(f"{setting}: {item!r} is not a valid host and port.")
        servers.append((str(host), port))
    return servers


def configured_servers() -> list[tuple[str, int]]:
    from .. import conf

    return server_list(conf.section("GEARMAN")["SERVERS"])
