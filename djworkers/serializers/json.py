"""JSON: portable and safe to load, for values made of JSON types.

Encodes with Django's encoder (datetimes, decimals and UUIDs become strings).
Tuples come back as lists.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


class JSONSerializer:
    name = "json"

    def dumps(self, obj: Any) -> bytes:
        return json.dumps(obj, cls=DjangoJSONEncoder, separators=(",", ":")).encode("utf-8")

    def loads(self, data: bytes) -> Any:
        return json.loads(data)

    serialize = dumps
    deserialize = loads


serializer = JSONSerializer()
