"""Signed frames (X2, D7): nothing unverified is ever deserialized; keys rotate.

Why: pickle runs code on load. The old libraries unpickled whatever arrived on
a socket or in a queue (tornado-slacker's endpoint was remote code execution).
Every test that feeds a bad frame carries a payload whose unpickling would
create a directory, and asserts the directory does not exist.
"""

from __future__ import annotations

import os
import pickle
import threading

import pytest
from django.test import override_settings

from djworkers.exceptions import BadSignature, DjworkersImproperlyConfigured, SerializationError
from djworkers.messages import Message, decode, encode
from djworkers.results.record import ResultRecord
from djworkers.serializers import LegacySerializer, get_serializer, signing
from tests.testapp import legacy_serializer


class DirectoryBomb:
    """Unpickling this calls ``os.mkdir(path)``: evidence that pickle ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


@pytest.fixture
def evidence(tmp_path):
    return tmp_path / "pickle-ran"


@pytest.fixture
def bomb_message(evidence):
    return Message("core.touch", args=(DirectoryBomb(evidence),))


@pytest.fixture
def pickle_spy(monkeypatch):
    """Second line of proof: record every pickle.loads/Unpickler use."""
    calls = []
    real_loads, real_unpickler = pickle.loads, pickle.Unpickler

    def loads(*args, **kwargs):
        calls.append("loads")
        return real_loads(*args, **kwargs)

    class Unpickler(real_unpickler):
        def __init__(self, *args, **kwargs):
            calls.append("Unpickler")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pickle, "loads", loads)
    monkeypatch.setattr(pickle, "Unpickler", Unpickler)
    return calls


def test_control_a_valid_frame_does_unpickle_the_bomb(bomb_message, evidence, pickle_spy):
    """Without this control the tests below could pass with a dud payload."""
    decode(encode(bomb_message))
    assert evidence.is_dir()
    assert pickle_spy == ["loads"]


def _flip(frame: bytes, index: int) -> bytes:
    data = bytearray(frame)
    data[index] ^= 0x01
    return bytes(data)


TAMPERINGS = {
    "bit-in-magic": lambda f: _flip(f, 0),
    "bit-in-mac": lambda f: _flip(f, len(signing.MAGIC) + 7),
    "bit-in-serializer-name": lambda f: _flip(f, signing.HEADER_SIZE),
    "bit-in-payload": lambda f: _flip(f, signing.HEADER_SIZE + 20),
    "bit-in-last-byte": lambda f: _flip(f, len(f) - 1),
    "truncated-by-one": lambda f: f[:-1],
    "truncated-to-header": lambda f: f[: signing.HEADER_SIZE],
    "truncated-inside-mac": lambda f: f[: signing.HEADER_SIZE - 5],
    "truncated-to-magic": lambda f: f[: len(signing.MAGIC)],
    "empty": lambda f: b"",
    "junk-appended": lambda f: f + b".",
    "zero-mac": lambda f: signing.MAGIC + bytes(signing.MAC_SIZE) + f[signing.HEADER_SIZE :],
    "plain-body-without-header": lambda f: f[signing.HEADER_SIZE :],
}


@pytest.mark.parametrize("tamper", list(TAMPERINGS))
def test_tampered_frame_is_rejected_before_deserialization(tamper, bomb_message, evidence, pickle_spy):
    frame = encode(bomb_message)
    bad = TAMPERINGS[tamper](frame)
    with pytest.raises(BadSignature) as info:
        decode(bad)
    assert info.value.raw == bad  # kept for quarantine
    assert info.value.reason == "bad-signature"
    assert not evidence.exists()
    assert pickle_spy == []


def test_frame_signed_with_another_key_is_rejected(bomb_message, evidence, pickle_spy):
    with override_settings(SECRET_KEY="an-attackers-guess"):
        forged = encode(bomb_message)
    with pytest.raises(BadSignature, match="does not match any signing key"):
        decode(forged)
    assert not evidence.exists()
    assert pickle_spy == []


def test_mac_of_another_frame_is_rejected(bomb_message, evidence, pickle_spy):
    """A valid MAC copied onto a different body (splicing) does not verify."""
    harmless = encode(Message("core.touch", args=("x",)))
    dangerous = encode(bomb_message)
    spliced = harmless[: signing.HEADER_SIZE] + dangerous[signing.HEADER_SIZE :]
    with pytest.raises(BadSignature):
        decode(spliced)
    assert not evidence.exists()
    assert pickle_spy == []


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_plain_pickle_bytes_are_rejected(protocol, evidence, pickle_spy):
    """What an old djutils/ztask producer (or an attacker) would push: bare pickle."""
    raw = pickle.dumps({"name": "core.touch", "args": [DirectoryBomb(evidence)]}, protocol=protocol)
    with pytest.raises(BadSignature, match="missing header"):
        decode(raw)
    with pytest.raises(BadSignature):
        decode(signing.MAGIC + raw)  # a magic prefix does not help either
    assert not evidence.exists()
    assert pickle_spy == []


def test_key_rotation_with_secret_key_fallbacks():
    message = Message("core.touch", args=("rotated",))
    with override_settings(SECRET_KEY="old-key", SECRET_KEY_FALLBACKS=[]):
        old_frame = encode(message)
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["old-key"]):
        assert decode(old_frame) == message  # queued before the rotation, still runs
        new_frame = encode(message)
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=[]):
        assert decode(new_frame) == message  # new frames are signed with the new key
        with pytest.raises(BadSignature):
            decode(old_frame)  # fallback removed: old frames no longer verify
    with override_settings(SECRET_KEY="old-key", SECRET_KEY_FALLBACKS=[]):
        with pytest.raises(BadSignature):
            decode(new_frame)


def test_signing_key_setting_overrides_secret_key():
    message = Message("core.touch", args=("dedicated",))
    with override_settings(SECRET_KEY="web-key-1", DJWORKERS={"SIGNING_KEY": "shared-worker-key"}):
        frame = encode(message)
    # Web and worker hosts may differ in SECRET_KEY as long as SIGNING_KEY matches.
    with override_settings(SECRET_KEY="web-key-2", DJWORKERS={"SIGNING_KEY": "shared-worker-key"}):
        assert decode(frame) == message
    with override_settings(SECRET_KEY="web-key-1", DJWORKERS={}):
        with pytest.raises(BadSignature):
            decode(frame)
    # With a dedicated key set, frames signed with SECRET_KEY are not accepted.
    with override_settings(SECRET_KEY="web-key-1", DJWORKERS={}):
        by_secret_key = encode(message)
    with override_settings(SECRET_KEY="web-key-1", DJWORKERS={"SIGNING_KEY": "shared-worker-key"}):
        with pytest.raises(BadSignature):
            decode(by_secret_key)


@override_settings(SECRET_KEY="", DJWORKERS={})
def test_no_key_at_all_is_a_configuration_error():
    with pytest.raises(DjworkersImproperlyConfigured, match="SIGNING_KEY.*SECRET_KEY"):
        encode(Message("core.touch"))


def _local_instance():
    class Local:
        pass

    return Local()


@pytest.mark.parametrize(
    ("args", "kwargs", "culprit"),
    [
        ((lambda: 1,), {}, "positional argument 0 of type function"),
        ((1, threading.Lock()), {}, "positional argument 1 of type lock"),
        ((), {"items": (x for x in "ab")}, "keyword argument 'items' of type generator"),
        ((_local_instance(),), {}, "positional argument 0 of type _local_instance.<locals>.Local"),
    ],
    ids=["lambda", "lock", "generator", "local-class"],
)
def test_unpicklable_argument_fails_at_encode_time(args, kwargs, culprit):
    with pytest.raises(SerializationError) as info:
        encode(Message("reports.build", args=args, kwargs=kwargs))
    text = str(info.value)
    assert "'reports.build'" in text
    assert culprit in text
    assert "'pickle' serializer" in text
    assert isinstance(info.value, TypeError)


@override_settings(DJWORKERS={"SERIALIZER": "json"})
def test_json_refuses_non_json_types_at_encode_time():
    with pytest.raises(SerializationError, match=r"'mail\.send'.*keyword argument 'to' of type set.*'json'"):
        encode(Message("mail.send", kwargs={"to": {"a@example.com"}}))


@override_settings(DJWORKERS={"SERIALIZER": "json"})
def test_json_round_trip():
    import datetime
    import json

    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    message = Message(
        "mail.send",
        args=(1, "two", [3], {"four": 4.5}, None, True),
        kwargs={"when": when},
        queue="mail",
        attempt=2,
        eta=1_800_000_000.25,
        options={"priority": 3},
    )
    frame = encode(message)
    body = signing.unsign(frame)
    assert body.startswith(b"json\n")
    assert json.loads(body[len(b"json\n") :])["name"] == "mail.send"  # portable, readable
    decoded = decode(frame)
    assert decoded == message.replace(kwargs={"when": "2026-01-02T03:04:05Z"})
    assert isinstance(decoded.args, tuple)


def test_frame_names_its_serializer_so_changing_the_setting_strands_nothing():
    with override_settings(DJWORKERS={"SERIALIZER": "json"}):
        json_frame = encode(Message("a.b", args=(1,)))
    with override_settings(DJWORKERS={"SERIALIZER": "pickle"}):
        assert decode(json_frame).args == (1,)


@pytest.mark.parametrize("protocol", [2, 4, pickle.HIGHEST_PROTOCOL])
def test_pickle_protocol_setting_is_used(protocol):
    with override_settings(DJWORKERS={"PICKLE_PROTOCOL": protocol}):
        frame = encode(Message("a.b", args=(b"bytes",)))
        body = signing.unsign(frame)
        assert body.startswith(b"pickle\n" + bytes([0x80, protocol]))
        assert decode(frame).args == (b"bytes",)
        # result records too: the configured serializer is built with the protocol (Q12)
        record = signing.unsign(ResultRecord("j1", "succeeded", value=b"v").seal())
        assert record.startswith(b"pickle\n" + bytes([0x80, protocol]))


def test_old_dumbwaiter_serializer_module_contract():
    """D7: a dotted path to a module exposing ``serializer`` with serialize/deserialize."""
    path = "tests.testapp.legacy_serializer"
    serializer = get_serializer(path)
    assert isinstance(serializer, LegacySerializer)
    assert serializer.name == path
    before = legacy_serializer.serializer.calls
    with override_settings(DJWORKERS={"SERIALIZER": path}):
        message = Message("a.b", args=[1, "x"], kwargs={"k": [1, 2]})
        frame = encode(message)
        assert signing.unsign(frame).startswith(path.encode() + b"\nlegacy:")
        assert decode(frame) == message.replace(args=(1, "x"))
    assert legacy_serializer.serializer.calls > before
    # Frames written by a custom serializer need it configured to be read.
    from djworkers.exceptions import MalformedMessage

    with pytest.raises(MalformedMessage, match="not configured"):
        decode(frame)


def test_builtin_modules_follow_the_old_contract_too():
    """``djworkers.serializers.pickle`` can be named where a dumbwaiter module path was."""
    for path in ("djworkers.serializers.pickle", "djworkers.serializers.json"):
        serializer = get_serializer(path)
        assert serializer.loads(serializer.dumps({"a": [1]})) == {"a": [1]}


@pytest.mark.parametrize(
    "path", ["djworkers.serializers.json.JSONSerializer", "djworkers.serializers.pickle.PickleSerializer"]
)
def test_serializer_class_by_dotted_path(path):
    """A class is instantiated first (it used to be wrapped unbound and fail on first use)."""
    serializer = get_serializer(path)
    assert serializer.loads(serializer.dumps({"a": [1]})) == {"a": [1]}
    with override_settings(DJWORKERS={"SERIALIZER": path}):
        assert decode(encode(Message("a.b", args=(1,)))).args == (1,)


def test_bad_serializer_path_names_the_setting():
    with pytest.raises(DjworkersImproperlyConfigured, match=r"DUMBWAITER_SERIALIZER = 'no\.such\.module'"):
        get_serializer("no.such.module", setting="DUMBWAITER_SERIALIZER")
    with pytest.raises(DjworkersImproperlyConfigured, match="is not a serializer"):
        get_serializer("os.path")


@pytest.mark.parametrize("key", ["short", "k" * 100, b"\xff" * 70])
@pytest.mark.parametrize("body", [b"", b"payload", b"x" * 5000])
def test_fast_mac_is_exactly_djangos_salted_hmac(key, body):
    """The precomputed-pad HMAC (hot path) must equal salted_hmac(SALT, body, key, sha256) (X2)."""
    from django.utils.crypto import salted_hmac

    from djworkers.serializers import signing

    expected = salted_hmac(signing.SALT, body, secret=key, algorithm="sha256").digest()
    assert signing._mac(body, key) == expected


def test_the_configured_serializer_is_built_once_and_follows_a_settings_change():
    """encode, decode and every result record ask for the SERIALIZER setting's serializer: it is
    kept per configuration (building it per call cost ~0.4 µs each), and a changed DJWORKERS
    (``override_settings``) gives the new one, also to frames sealed after the change."""
    first = get_serializer()
    assert get_serializer() is first and first.name == "pickle"
    with override_settings(DJWORKERS={"SERIALIZER": "json"}):
        assert get_serializer().name == "json"
        assert encode(Message("x"))[signing.HEADER_SIZE :].startswith(b"json\n")
    assert get_serializer().name == "pickle"
    assert get_serializer("json").name == "json"  # a name asked for by the caller is not the setting's
