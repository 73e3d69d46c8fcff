"""HMAC-SHA256 frames around serialized payloads.

Frame layout::

    b"DJW1" | 32-byte HMAC-SHA256 | body

The HMAC covers the whole body and is keyed from ``DJWORKERS["SIGNING_KEY"]``
(default ``SECRET_KEY``); ``SECRET_KEY_FALLBACKS`` also verify, so keys can be
rotated without losing queued jobs. :func:`unsign` checks the MAC before anything
looks at the body, so a forged frame is never deserialized.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac

from .. import conf
from ..exceptions import BadSignature, DjworkersImproperlyConfigured

MAGIC = b"DJW1"
MAC_SIZE = 32
HEADER_SIZE = len(MAGIC) + MAC_SIZE
SALT = "djworkers.signing"


def signing_keys() -> list[str | bytes]:
    """The key that signs, followed by the keys that still verify."""
    key = conf.get("SIGNING_KEY")
    if key:
        return [key]
    try:
        secret = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to return an empty SECRET_KEY
        secret = ""
    if not secret:
        raise DjworkersImproperlyConfigured(
            "djworkers signs every message, but neither DJWORKERS['SIGNING_KEY'] nor "
            "SECRET_KEY is set."
        )
    return [secret, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _mac(body: bytes, key: str | bytes) -> bytes:
    return salted_hmac(SALT, body, secret=key, algorithm="sha256").digest()


def sign(body: bytes) -> bytes:
    """Wrap ``body`` in a signed frame."""
    return MAGIC + _mac(body, signing_keys()[0]) + body


def unsign(frame: bytes) -> bytes:
    """Return the body of a frame whose MAC verifies, else raise :class:`BadSignature`."""
    frame = bytes(frame)
    if len(frame) < HEADER_SIZE or not frame.startswith(MAGIC):
        raise BadSignature("not a djworkers frame (missing header)", raw=frame)
    mac, body = frame[len(MAGIC) : HEADER_SIZE], frame[HEADER_SIZE:]
    for key in signing_keys():
        if hmac.compare_digest(mac, _mac(body, key)):
            return body
    raise BadSignature("signature does not match any signing key", raw=frame)
