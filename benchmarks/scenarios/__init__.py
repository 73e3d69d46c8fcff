"""The scenario registry: every module in this package that defines a ``Scenario`` subclass
decorated with :func:`register` is a scenario. Adding one = adding one small file.

Modules here are imported by the orchestrator (stdlib only) *and* by the child
in the peers' venv, so heavy imports (redis, django, peers) go inside
``measure`` and the helpers it calls.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..harness import Scenario

_REGISTRY: dict[str, Scenario] = {}
#: the order scenarios run and appear in the report (modules not listed come after, by name)
ORDER = [
    "enqueue",
    "drain",
    "latency",
    "database",
    "dumbwaiter",
    "scale-memory",
    "scale-processes",
    "backlog",
    "guarantees",
    "gearman",
]


def register(cls: type[Scenario]) -> type[Scenario]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY:
        raise ValueError(f"two scenarios are named {cls.name!r}")
    _REGISTRY[cls.name] = cls()
    return cls


def load_scenarios() -> dict[str, Scenario]:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    ranked = sorted(_REGISTRY, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return {name: _REGISTRY[name] for name in ranked}
