"""The answer a worker sends back for a foreground job: a signed frame, like the job itself.

The client deserializes what comes back from gearmand (pickle by default), so
the answer is signed with the same keys as job messages and verified before
anything is loaded: a forged WORK_COMPLETE cannot run code in the caller.
"""

from __future__ import annotations

import traceback
from typing import Any

from ..exceptions import InvalidMessage, MalformedMessage
from ..serializers import BUILTIN, get_serializer
from ..serializers.signing import sign, unsign
from .errors import GearmanJobError


def _dump(body: dict[str, Any]) -> bytes:
    serializer = get_serializer()
    return sign(serializer.name.encode("utf-8") + b"\n" + serializer.dumps(body))


def success(value: Any) -> bytes:
    """The frame for a job that returned ``value`` (an error frame if ``value`` cannot be serialized)."""
    try:
        return _dump({"ok": True, "value": value})
    except Exception as exc:
        return failure(
            TypeError(f"the job's return value of type {type(value).__qualname__} cannot be serialized ({exc})"), ""
        )


def failure(exc: BaseException, text: str | None = None) -> bytes:
    """The frame for a job that raised ``exc``."""
    return _dump(
        {
            "ok": False,
            "type": type(exc).__qualname__,
            "message": str(exc),
            "traceback": traceback.format_exc() if text is None else text,
        }
    )


def read(name: str, raw: bytes) -> Any:
    """The job's value, or :class:`GearmanJobError` raised for a failure frame."""
    try:
        body = unsign(raw)
        serializer_name, sep, payload = body.partition(b"\n")
        if not sep:
            raise MalformedMessage("result frame has no serializer name", raw=raw)
        serializer_key = serializer_name.decode("utf-8", "replace")
        serializer = BUILTIN[serializer_key]() if serializer_key in BUILTIN else get_serializer()
        data = serializer.loads(payload)
    except InvalidMessage as exc:
        raise GearmanJobError(
            name, type(exc).__name__, f"the worker's answer is not a valid signed frame: {exc}"
        ) from exc
    if not isinstance(data, dict) or "ok" not in data:
        raise GearmanJobError(name, "MalformedMessage", "the worker's answer is not a result frame")
    if data["ok"]:
        return data.get("value")
    raise GearmanJobError(name, str(data.get("type")), str(data.get("message")), str(data.get("traceback", "")))
