"""A serializer module in the django-dumbwaiter contract (D7), for the signing tests.

The old setting ``DUMBWAITER_SERIALIZER`` named a *module* exposing ``serializer``
with ``serialize(obj)`` and ``deserialize(data)``; ``serialize`` may return text.
This one is JSON with a marker so a test can tell it was really used.
"""

from __future__ import annotations

import json
from typing import Any


class _Serializer:
    calls = 0

    def serialize(self, obj: Any) -> str:
        type(self).calls += 1
        return "legacy:" + json.dumps(obj)

    def deserialize(self, data: bytes) -> Any:
        text = bytes(data).decode("utf-8")
        if not text.startswith("legacy:"):
            raise ValueError("not written by the legacy test serializer")
        return json.loads(text[len("legacy:") :])


serializer = _Serializer()
