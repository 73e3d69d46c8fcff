"""The one settings namespace (X1): defaults, legacy flat names, lazy reading.

Why: every door reads its configuration through ``djworkers.conf``; a wrong
default or a legacy name that silently stops working breaks projects moving
from the five old libraries, and eager caching would break ``override_settings``.
"""

from __future__ import annotations

import pickle

import pytest
from django.conf import settings
from django.test import override_settings

from djworkers import conf, doors
from djworkers.exceptions import DjworkersImproperlyConfigured

#: The core's defaults, written out by hand so that a changed default is a
#: deliberate, reviewed change. Each door's own defaults are checked by
#: ``test_every_door_default`` from its descriptor (djworkers/<door>/door.py),
#: and the docs test checks the settings reference against both.
EXPECTED_DEFAULTS = {
    (None, "SERIALIZER"): "pickle",
    (None, "PICKLE_PROTOCOL"): pickle.HIGHEST_PROTOCOL,
    (None, "SIGNING_KEY"): None,
    (None, "DOORS"): [],
    ("WORKER", "SHUTDOWN_TIMEOUT"): 30.0,
    ("WORKER", "HEARTBEAT_INTERVAL"): 10.0,
    ("WORKER", "OUTAGE_MAX_DELAY"): 30.0,
    ("WORKER", "BURST_OUTAGE_TIMEOUT"): 30.0,
    ("STATS", "ENABLED"): True,
    ("STATS", "FLUSH_INTERVAL"): 5.0,
    ("STATS", "RETENTION_HOURS"): 48,
}

#: The old flat names the original READMEs show; each must still be honoured.
README_LEGACY_NAMES = {
    "DUMBWAITER_FUNCTION_LIST": ("DUMBWAITER", "FUNCTIONS"),
    "DUMBWAITER_SERIALIZER": ("DUMBWAITER", "SERIALIZER"),
    "QUEUE_CLASS": ("QUEUE", "BACKEND"),
    "QUEUE_BACKEND": ("QUEUE", "BACKEND"),
    "QUEUE_CONNECTION": ("QUEUE", "CONNECTION"),
    "QUEUE_NAME": ("QUEUE", "NAME"),
    "QUEUE_ALWAYS_EAGER": ("QUEUE", "ALWAYS_EAGER"),
}

DOOR_DEFAULTS = sorted(
    ((door.settings_section, key), value)
    for door in doors.all_doors()
    if door.settings_section
    for key, value in door.defaults.items()
)
LEGACY = sorted(conf.legacy_settings().items())


def _read(section: str | None, key: str):
    return conf.section(section)[key] if section else conf.get(key)


def _leaves(tree: dict, prefix: str | None = None):
    for key, value in tree.items():
        if prefix is None and isinstance(value, dict):
            yield from _leaves(value, key)
        else:
            yield (prefix, key)


def test_core_defaults_are_exactly_the_reviewed_ones():
    """A core key added or changed without a reviewed default fails."""
    assert set(_leaves(conf.CORE_DEFAULTS)) == set(EXPECTED_DEFAULTS)


def test_door_sections_do_not_collide_with_the_core():
    sections = [door.settings_section for door in doors.all_doors() if door.settings_section]
    assert len(sections) == len(set(sections))
    assert not set(sections) & set(conf.CORE_DEFAULTS)


@pytest.mark.parametrize(("place", "expected"), DOOR_DEFAULTS, ids=str)
@override_settings(DJWORKERS={})
def test_every_door_default(place, expected):
    assert _read(*place) == expected


@pytest.mark.parametrize(("place", "expected"), sorted(EXPECTED_DEFAULTS.items(), key=str), ids=str)
@override_settings(DJWORKERS={})
def test_every_default(place, expected):
    assert _read(*place) == expected


@override_settings(DJWORKERS=None)
def test_no_djworkers_setting_at_all_means_defaults():
    assert conf.section("QUEUE")["BACKEND"] == "database"
    assert conf.get("SERIALIZER") == "pickle"


def test_readme_legacy_names_are_all_mapped():
    table = conf.legacy_settings()
    for old, new in README_LEGACY_NAMES.items():
        assert table.get(old) == new, old


@pytest.mark.parametrize(("old", "place"), LEGACY)
def test_legacy_name_maps_to_new_key(old, place):
    """X1: an old flat setting is honoured at its new place when the new key is absent."""
    sentinel = f"legacy-value-of-{old}"
    with override_settings(DJWORKERS={}, **{old: sentinel}):
        assert _read(*place) == sentinel
        found = {name: (new, shadowed) for name, new, shadowed in conf.legacy_settings_in_use()}
        assert found[old] == (conf.new_name(*place), False)
    # Gone again once the override ends: the cache was reset by setting_changed.
    assert _read(*place) != sentinel


@pytest.mark.parametrize(("old", "place"), LEGACY)
def test_new_key_wins_over_legacy_name(old, place):
    section, key = place
    new_value = f"new-value-of-{key}"
    user = {section: {key: new_value}} if section else {key: new_value}
    with override_settings(DJWORKERS=user, **{old: "old value"}):
        assert _read(*place) == new_value
        found = {name: shadowed for name, _new, shadowed in conf.legacy_settings_in_use()}
        assert found[old] is True


def test_falsy_legacy_values_are_honoured():
    """``DUMBWAITER_THREADED = False`` or ``DUMBWAITER_FUNCTION_LIST = ()`` must not be mistaken for "unset"."""
    with override_settings(DJWORKERS={"QUEUE": {}}, DUMBWAITER_FUNCTION_LIST=(), DUMBWAITER_THREADED=False):
        assert conf.section("DUMBWAITER")["FUNCTIONS"] == ()
        assert conf.section("DUMBWAITER")["THREADED"] is False


def test_section_override_keeps_other_defaults():
    with override_settings(DJWORKERS={"QUEUE": {"NAME": "emails"}}):
        queue = conf.section("QUEUE")
        assert queue["NAME"] == "emails"
        assert queue["BACKEND"] == "database"
        assert queue["RETRY_BACKOFF"] == 2.0


def test_override_settings_is_respected_lazily():
    """Values are read on use and recomputed after every settings change."""
    baseline = conf.section("QUEUE")["NAME"]
    with override_settings(DJWORKERS={"QUEUE": {"NAME": "first"}}):
        assert conf.section("QUEUE")["NAME"] == "first"
        with override_settings(DJWORKERS={"QUEUE": {"NAME": "second"}}):
            assert conf.section("QUEUE")["NAME"] == "second"
        assert conf.section("QUEUE")["NAME"] == "first"
    assert conf.section("QUEUE")["NAME"] == baseline


def test_cache_is_reset_on_setting_changed():
    conf.get("SERIALIZER")
    assert conf._cache is not None
    with override_settings(SECRET_KEY="another"):
        assert conf._cache is None  # reset by the setting_changed receiver
    conf.get("SERIALIZER")
    before = conf._cache
    with override_settings(UNRELATED_SETTING=1):
        assert conf._cache is before  # other settings do not throw the cache away


def test_test_settings_are_merged_with_defaults():
    """tests/settings.py sets only WORKER; everything else is a default."""
    assert settings.DJWORKERS["WORKER"]["SHUTDOWN_TIMEOUT"] == 10
    assert conf.section("WORKER")["SHUTDOWN_TIMEOUT"] == 10
    assert conf.section("WORKER")["HEARTBEAT_INTERVAL"] == 1
    assert conf.section("QUEUE")["BACKEND"] == "database"


def test_defaults_are_not_mutated_by_settings():
    with override_settings(DJWORKERS={"QUEUE": {"NAME": "x"}}):
        conf.section("DUMBWAITER")["FUNCTIONS"].append("mutated")
    assert conf.defaults()["DUMBWAITER"]["FUNCTIONS"] == []
    assert conf.section("DUMBWAITER")["FUNCTIONS"] == []


def test_a_door_in_djworkers_doors_brings_its_section_and_old_names(file_door):
    """A door outside djworkers (tests/testapp/door.py) plugs its settings in with no core edit."""
    assert conf.section("FILEDOOR")["DIR"] == str(file_door.root)
    assert conf.legacy_settings()["FILEDOOR_DIR"] == ("FILEDOOR", "DIR")
    assert 'DJWORKERS["FILEDOOR"]' not in conf.unknown_keys()


def test_old_names_of_doors_not_built_are_not_promised():
    """An old setting of a door djworkers does not have is reported as unread, not "moved"."""
    for old, door in conf.UNBUILT_DOOR_SETTINGS.items():
        assert old not in conf.legacy_settings()
        assert doors.get_door(door) is None


@override_settings(DJWORKERS=["not", "a", "dict"])
def test_djworkers_must_be_a_dict():
    with pytest.raises(DjworkersImproperlyConfigured, match="settings.DJWORKERS must be a dict, got list"):
        conf.get("SERIALIZER")


@override_settings(DJWORKERS={"QEUE": {}, "QUEUE": {"BAKEND": "redis"}})
def test_unknown_keys_are_listed():
    assert set(conf.unknown_keys()) == {'DJWORKERS["QEUE"]', 'DJWORKERS["QUEUE"]["BAKEND"]'}


def test_new_name_spelling():
    assert conf.new_name("QUEUE", "BACKEND") == 'DJWORKERS["QUEUE"]["BACKEND"]'
    assert conf.new_name(None, "SERIALIZER") == 'DJWORKERS["SERIALIZER"]'
