"""Core system checks (X1): each id triggered on purpose, and shown by ``manage.py check``.

Why: a misconfiguration must surface at deploy time with a stable id that names
the setting, not as a worker crash at 3 a.m.
"""

from __future__ import annotations

import pickle

import pytest
from django.core import checks as django_checks
from django.test import override_settings

from djworkers import checks
from tests.utils import run

CLEAN = {"WORKER": {"SHUTDOWN_TIMEOUT": 10, "HEARTBEAT_INTERVAL": 1}}


def core_ids() -> list[str]:
    return [message.id for message in checks.core_checks()]


def messages_with(check_id: str) -> list[django_checks.CheckMessage]:
    return [m for m in checks.core_checks() if m.id == check_id]


@override_settings(DJWORKERS=CLEAN)
def test_clean_configuration_has_no_core_messages():
    assert core_ids() == []


@pytest.mark.parametrize(
    "value",
    ["pickle", ["QUEUE"], 42],
    ids=["string", "list", "int"],
)
def test_e001_djworkers_not_a_dict(value):
    with override_settings(DJWORKERS=value):
        found = messages_with("djworkers.E001")
    assert len(found) == 1
    assert "settings.DJWORKERS must be a dict" in found[0].msg
    assert found[0].level == django_checks.ERROR


@override_settings(DJWORKERS={"QUEUE": "redis"})
def test_e001_section_not_a_dict():
    (message,) = messages_with("djworkers.E001")
    assert 'DJWORKERS["QUEUE"] must be a dict, got str' in message.msg


@override_settings(DJWORKERS={"QUEUE": ["redis"]})
def test_e001_stops_door_checks():
    """Door checks would crash on a non-dict section, so the registered check stops at E001."""
    ids = [m.id for m in checks.djworkers_checks()]
    assert ids == ["djworkers.E001"]


@pytest.mark.parametrize(
    "serializer",
    ["no.such.module", "yaml_please", "os.path"],
    ids=["unimportable", "unknown-name", "not-a-serializer"],
)
def test_e002_unknown_serializer(serializer):
    with override_settings(DJWORKERS={**CLEAN, "SERIALIZER": serializer}):
        (message,) = messages_with("djworkers.E002")
    assert 'DJWORKERS["SERIALIZER"]' in message.msg
    assert repr(serializer) in message.msg


@override_settings(SECRET_KEY="", DJWORKERS=CLEAN)
def test_e003_no_signing_key_with_pickle():
    """Django refuses to hand out an empty SECRET_KEY; the check must report, not crash."""
    (message,) = messages_with("djworkers.E003")
    assert "pickle serializer would run code from any forged message" in message.msg


@override_settings(SECRET_KEY="", DJWORKERS={**CLEAN, "SERIALIZER": "json"})
def test_e003_no_signing_key_with_json():
    (message,) = messages_with("djworkers.E003")
    assert "pickle" not in message.msg


@override_settings(SECRET_KEY="", DJWORKERS={**CLEAN, "SIGNING_KEY": "a-dedicated-key"})
def test_e003_signing_key_replaces_secret_key():
    assert "djworkers.E003" not in core_ids()


def test_e004_check_dotted_path():
    setting = 'DJWORKERS["DUMBWAITER"]["STORAGE"]'
    (message,) = checks.check_dotted_path("djworkers.no_such_module.Thing", setting)
    assert message.id == "djworkers.E004"
    assert setting in message.msg and "djworkers.no_such_module.Thing" in message.msg
    (missing_attr,) = checks.check_dotted_path("djworkers.conf.NO_SUCH_NAME", setting)
    assert missing_attr.id == "djworkers.E004"
    # A door may use its own id for the same helper.
    (door,) = checks.check_dotted_path("nope.nope", setting, check_id="djworkers.E104")
    assert door.id == "djworkers.E104"


def test_e004_valid_paths_and_objects_pass():
    assert list(checks.check_dotted_path("djworkers.conf.get", "X")) == []
    assert list(checks.check_dotted_path(len, "X")) == []  # objects are not paths
    assert list(checks.check_dotted_path(None, "X")) == []


@pytest.mark.parametrize("protocol", [99, -1, "5", True, None], ids=repr)
def test_e005_bad_pickle_protocol(protocol):
    with override_settings(DJWORKERS={**CLEAN, "PICKLE_PROTOCOL": protocol}):
        (message,) = messages_with("djworkers.E005")
    assert f"got {protocol!r}" in message.msg


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_e005_every_valid_protocol_passes(protocol):
    with override_settings(DJWORKERS={**CLEAN, "PICKLE_PROTOCOL": protocol}):
        assert "djworkers.E005" not in core_ids()


@pytest.mark.parametrize(
    ("key", "value"),
    [("SHUTDOWN_TIMEOUT", 0), ("SHUTDOWN_TIMEOUT", "30"), ("HEARTBEAT_INTERVAL", -1), ("HEARTBEAT_INTERVAL", True)],
    ids=repr,
)
def test_e006_worker_timeouts_must_be_positive_numbers(key, value):
    worker = {**CLEAN["WORKER"], key: value}
    with override_settings(DJWORKERS={"WORKER": worker}):
        (message,) = messages_with("djworkers.E006")
    assert f'DJWORKERS["WORKER"]["{key}"]' in message.msg


@override_settings(DJWORKERS=CLEAN, QUEUE_NAME="legacy", DUMBWAITER_THREADED=False)
def test_w001_legacy_name_names_the_new_key():
    found = {m.msg: m.hint for m in messages_with("djworkers.W001")}
    assert found == {
        "settings.QUEUE_NAME is a legacy setting name.": 'It still works; move it to DJWORKERS["QUEUE"]["NAME"].',
        "settings.DUMBWAITER_THREADED is a legacy setting name.": 'It still works; move it to DJWORKERS["DUMBWAITER"]["THREADED"].',
    }


def test_w004_old_name_of_a_door_not_built_says_nothing_reads_it(settings, monkeypatch):
    """No promise for a door that is not there: the old name is reported as unread, not "moved".

    Every door of the original libraries is built now, so the table is empty; a door still to come
    (here an invented one) would list its old names there."""
    from djworkers import conf

    monkeypatch.setitem(conf.UNBUILT_DOOR_SETTINGS, "FUTURE_DOOR_SERVER", "future")
    settings.DJWORKERS = CLEAN
    settings.FUTURE_DOOR_SERVER = "127.0.0.1:9000"
    (message,) = messages_with("djworkers.W004")
    assert "settings.FUTURE_DOOR_SERVER belongs to the future door" in message.msg
    assert "nothing reads it" in message.msg
    assert not messages_with("djworkers.W001")


def test_e007_a_door_that_does_not_import(settings):
    settings.DJWORKERS = {**CLEAN, "DOORS": ["no_such_package.door"]}
    (message,) = messages_with("djworkers.E007")
    assert 'DJWORKERS["DOORS"] names the door' in message.msg


def test_a_door_outside_djworkers_brings_its_checks(file_door, settings):
    """The test-only "file" door's check() runs with the rest, no core file edited."""
    settings.DJWORKERS = {**settings.DJWORKERS, "FILEDOOR": {"DIR": 42}}
    (message,) = [m for m in checks.djworkers_checks() if m.id == "tests.E901"]
    assert "must be a path" in message.msg


@override_settings(DJWORKERS={**CLEAN, "QUEUE": {"NAME": "new"}}, QUEUE_NAME="old")
def test_w002_legacy_name_shadowed_by_new_key():
    (message,) = messages_with("djworkers.W002")
    assert message.msg == 'settings.QUEUE_NAME is ignored because DJWORKERS["QUEUE"]["NAME"] is also set.'
    assert "djworkers.W001" not in core_ids()


@override_settings(DJWORKERS={**CLEAN, "SERIALISER": "json", "QUEUE": {"BAKEND": "redis"}})
def test_w003_unknown_keys():
    found = sorted(m.msg for m in messages_with("djworkers.W003"))
    assert found == [
        'DJWORKERS["QUEUE"]["BAKEND"] is not a djworkers setting (typo?).',
        'DJWORKERS["SERIALISER"] is not a djworkers setting (typo?).',
    ]


@override_settings(DJWORKERS={**CLEAN, "PICKLE_PROTOCOL": 99}, QUEUE_NAME="legacy")
def test_registered_with_django():
    """The check runs with ``manage.py check`` (tag ``djworkers``)."""
    ids = {m.id for m in django_checks.run_checks(tags=["djworkers"])}
    assert {"djworkers.E005", "djworkers.W001"} <= ids


@pytest.mark.slow
def test_manage_py_check_shows_core_messages():
    """One real ``manage.py check`` in a subprocess: errors fail it, warnings are listed."""
    result = run(
        ["check"],
        settings={
            "DJWORKERS": {**CLEAN, "PICKLE_PROTOCOL": 99, "QUEUE": {"BAKEND": "redis"}},
            "QUEUE_NAME": "legacy",
        },
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "djworkers.E005" in output
    assert "djworkers.W001" in output and 'DJWORKERS["QUEUE"]["NAME"]' in output
    assert "djworkers.W003" in output and 'DJWORKERS["QUEUE"]["BAKEND"]' in output
