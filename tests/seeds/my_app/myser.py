"""``DUMBWAITER_SERIALIZER = "my_app.myser"``: the django-dumbwaiter contract (D7).

A *module* exposing ``serializer`` with ``serialize``/``deserialize``. Nothing
imports this module before djworkers does: the setting alone must be enough.
"""

from __future__ import annotations

import json
from typing import Any

MARKER = "myser:"


class _Serializer:
    def serialize(self, obj: Any) -> str:
        return MARKER + json.dumps(obj)

    def deserialize(self, data: bytes) -> Any:
        text = bytes(data).decode("utf-8")
        if not text.startswith(MARKER):
            raise ValueError("not written by my_app.myser")
        return json.loads(text[len(MARKER) :])


serializer = _Serializer()
