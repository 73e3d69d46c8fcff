"""Pickle: any picklable value, protocol from ``DJWORKERS["PICKLE_PROTOCOL"]``.

Pickle runs code on load, so djworkers only ever unpickles frames whose HMAC
verified (see :mod:`djworkers.serializers.signing`).
"""

from __future__ import annotations

import pickle
from typing import Any

from .. import conf


class PickleSerializer:
    name = "pickle"

    def __init__(self, protocol: int | None = None):
        self.protocol = protocol

    def dumps(self, obj: Any) -> bytes:
        protocol = self.protocol if self.protocol is not None else conf.get("PICKLE_PROTOCOL")
        try:
            return pickle.dumps(obj, protocol=protocol)
        except (pickle.PicklingError, AttributeError) as exc:
            raise TypeError(str(exc)) from exc

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)

    # The django-dumbwaiter contract, so this object can be named by DUMBWAITER_SERIALIZER.
    serialize = dumps
    deserialize = loads


serializer = PickleSerializer()
