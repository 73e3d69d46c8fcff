"""Serializers turn Python values into bytes and back; signing sits above them.

A serializer is any object with ``name``, ``dumps(obj) -> bytes`` and
``loads(data) -> obj``. ``"pickle"`` and ``"json"`` are built in. A dotted path
may name such an object, or (the django-dumbwaiter contract) a module exposing
``serializer`` with ``serialize``/``deserialize``.
"""

from __future__ import annotations

from typing import Any, Protocol

from .. import conf
from ..exceptions import DjworkersImproperlyConfigured
from ..loading import load_object
from .json import JSONSerializer
from .pickle import PickleSerializer


class Serializer(Protocol):
    name: str

    def dumps(self, obj: Any) -> bytes:
        """Encode ``obj``; raise ``TypeError``/``ValueError`` when it cannot be encoded."""

    def loads(self, data: bytes) -> Any:
        """Decode bytes produced by :meth:`dumps`. Only ever called on verified frames."""


class LegacySerializer:
    """Adapts the old ``serializer.serialize/deserialize`` contract to dumps/loads."""

    def __init__(self, name: str, target: Any):
        self.name = name
        self.target = target

    def dumps(self, obj: Any) -> bytes:
        data = self.target.serialize(obj)
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def loads(self, data: bytes) -> Any:
        return self.target.deserialize(data)


BUILTIN = {"pickle": PickleSerializer, "json": JSONSerializer}


def get_serializer(name: str | None = None, setting: str = 'DJWORKERS["SERIALIZER"]') -> Serializer:
    """The serializer called ``name`` (default: the ``SERIALIZER`` setting)."""
    if name is None:
        return configured()
    return _named(name, setting)


def _named(name: Any, setting: str) -> Serializer:
    if not isinstance(name, str):
        return _adapt(getattr(name, "__name__", repr(name)), name, setting)
    if name in BUILTIN:
        return BUILTIN[name]()
    target = load_object(name, setting)
    return _adapt(name, target, setting)


def _adapt(name: str, target: Any, setting: str) -> Serializer:
    if isinstance(target, type):
        # A class: its methods must be bound before either contract can use them.
        target = target()
    inner = getattr(target, "serializer", None)
    if inner is not None and hasattr(inner, "serialize"):
        return LegacySerializer(name, inner)
    if hasattr(target, "serialize") and hasattr(target, "deserialize"):
        return LegacySerializer(name, target)
    if hasattr(target, "dumps") and hasattr(target, "loads"):
        if not getattr(target, "name", None):
            target.name = name
        return target
    raise DjworkersImproperlyConfigured(
        f"{setting} = {name!r} is not a serializer: it needs dumps/loads, "
        "serialize/deserialize, or a module attribute 'serializer' providing them."
    )


def _setting_serializer() -> Serializer:
    serializer = _named(conf.get("SERIALIZER"), 'DJWORKERS["SERIALIZER"]')
    if type(serializer) is PickleSerializer and serializer.protocol is None:
        # the protocol read with the rest of the configuration, not by every dumps()
        serializer = PickleSerializer(conf.get("PICKLE_PROTOCOL"))
    return serializer


#: The serializer ``DJWORKERS["SERIALIZER"]`` names, built once per configuration: building it cost
#: ~0.4 µs of every encode, decode and result record.
configured = conf.per_configuration(_setting_serializer)
