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

from djworkers import conf
from djworkers.exceptions import DjworkersImproperlyConfigured

#: What the design (DESIGN.md, issue 2) promises as defaults, written out by hand
#: so that a changed default is a deliberate, reviewed change.
EXPECTED_DEFAULTS = {
    (None, "SERIALIZER"): "pickle",
    (None, "PICKLE_PROTOCOL"): pickle.HIGHEST_PROTOCOL,
    (None, "SIGNING_KEY"): None,
    ("WORKER", "SHUTDOWN_TIMEOUT"): 30.0,
    ("WORKER", "HEARTBEAT_INTERVAL"): 10.0,
    ("WORKER", "OUTAGE_MAX_DELAY"): 30.0,
    ("WORKER", "BURST_OUTAGE_TIMEOUT"): 30.0,
    ("DUMBWAITER", "FUNCTIONS"): [],
    ("DUMBWAITER", "THREADED"): True,
    ("DUMBWAITER", "DEFAULT_FREQUENCY"): 300,
    ("DUMBWAITER", "DEFAULT_SAVED"): 10,
    ("DUMBWAITER", "SERIALIZER"): None,
    ("DUMBWAITER", "CACHE_ALIAS"): "default",
    ("DUMBWAITER", "LOCK"): "database",
    ("DUMBWAITER", "CONNECTION"): None,
    ("QUEUE", "BACKEND"): "database",
    ("QUEUE", "NAME"): "default",
    ("QUEUE", "CONNECTION"): None,
    ("QUEUE", "ALWAYS_EAGER"): False,
    ("QUEUE", "LEASE_SECONDS"): 300,
    ("QUEUE", "RETRIES"): 0,
    ("QUEUE", "RETRY_DELAY"): 10.0,
    ("QUEUE", "RETRY_BACKOFF"): 2.0,
    ("QUEUE", "RETRY_MAX_DELAY"): 3600.0,
    ("QUEUE", "PERIODIC"): True,
    ("GEARMAN", "SERVERS"): ["127.0.0.1:4730"],
    ("GEARMAN", "JOB_NAME"): None,
    ("ZTASK", "URL"): "tcp://127.0.0.1:5555",
    ("ZTASK", "ALWAYS_EAGER"): False,
    ("ZTASK", "DISABLED"): False,
    ("ZTASK", "RETRY_COUNT"): 5,
    ("ZTASK", "RETRY_AFTER"): 5,
    ("ZTASK", "ON_LOAD"): (),
    ("ZTASK", "WORKER_URLS"): [],
    ("SLACKER", "SERVER"): "http://127.0.0.1:8000",
}

#: The old flat names the issue lists by name; each must be in LEGACY_SETTINGS.
ISSUE_LEGACY_NAMES = {
    "DUMBWAITER_FUNCTION_LIST": ("DUMBWAITER", "FUNCTIONS"),
    "DUMBWAITER_SERIALIZER": ("DUMBWAITER", "SERIALIZER"),
    "QUEUE_CLASS": ("QUEUE", "BACKEND"),
    "QUEUE_BACKEND": ("QUEUE", "BACKEND"),
    "QUEUE_CONNECTION": ("QUEUE", "CONNECTION"),
    "QUEUE_NAME": ("QUEUE", "NAME"),
    "QUEUE_ALWAYS_EAGER": ("QUEUE", "ALWAYS_EAGER"),
    "GEARMAN_SERVERS": ("GEARMAN", "SERVERS"),
    "GEARMAN_JOB_NAME": ("GEARMAN", "JOB_NAME"),
    "ZTASKD_URL": ("ZTASK", "URL"),
    "ZTASKD_ALWAYS_EAGER": ("ZTASK", "ALWAYS_EAGER"),
    "ZTASKD_DISABLED": ("ZTASK", "DISABLED"),
    "ZTASKD_RETRY_COUNT": ("ZTASK", "RETRY_COUNT"),
    "ZTASKD_RETRY_AFTER": ("ZTASK", "RETRY_AFTER"),
    "ZTASKD_ON_LOAD": ("ZTASK", "ON_LOAD"),
    "SLACKER_SERVER": ("SLACKER", "SERVER"),
}


def _read(section: str | None, key: str):
    return conf.section(section)[key] if section else conf.get(key)


def _leaves(tree: dict, prefix: str | None = None):
    for key, value in tree.items():
        if prefix is None and isinstance(value, dict):
            yield from _leaves(value, key)
        else:
            yield (prefix, key)


#: Sections the core owns completely; doors test the defaults of their own sections.
CORE_PLACES = {None, "WORKER"}


def test_expected_defaults_exist_and_core_keys_are_all_covered():
    """Every default promised here exists; a core key added without a reviewed default fails."""
    leaves = set(_leaves(conf.DEFAULTS))
    assert set(EXPECTED_DEFAULTS) <= leaves
    core = {place for place in leaves if place[0] in CORE_PLACES}
    assert core <= set(EXPECTED_DEFAULTS)


@pytest.mark.parametrize(("place", "expected"), sorted(EXPECTED_DEFAULTS.items(), key=str), ids=str)
@override_settings(DJWORKERS={})
def test_every_default(place, expected):
    assert _read(*place) == expected


@override_settings(DJWORKERS=None)
def test_no_djworkers_setting_at_all_means_defaults():
    assert conf.section("QUEUE")["BACKEND"] == "database"
    assert conf.get("SERIALIZER") == "pickle"


def test_issue_legacy_names_are_all_mapped():
    for old, new in ISSUE_LEGACY_NAMES.items():
        assert conf.LEGACY_SETTINGS.get(old) == new, old


@pytest.mark.parametrize(("old", "place"), sorted(conf.LEGACY_SETTINGS.items()))
def test_legacy_name_maps_to_new_key(old, place):
    """X1: an old flat setting is honoured at its new place when the new key is absent."""
    sentinel = f"legacy-value-of-{old}"
    with override_settings(DJWORKERS={}, **{old: sentinel}):
        assert _read(*place) == sentinel
        found = {name: (new, shadowed) for name, new, shadowed in conf.legacy_settings_in_use()}
        assert found[old] == (conf.new_name(*place), False)
    # Gone again once the override ends: the cache was reset by setting_changed.
    assert _read(*place) != sentinel


@pytest.mark.parametrize(("old", "place"), sorted(conf.LEGACY_SETTINGS.items()))
def test_new_key_wins_over_legacy_name(old, place):
    section, key = place
    new_value = f"new-value-of-{key}"
    user = {section: {key: new_value}} if section else {key: new_value}
    with override_settings(DJWORKERS=user, **{old: "old value"}):
        assert _read(*place) == new_value
        found = {name: shadowed for name, _new, shadowed in conf.legacy_settings_in_use()}
        assert found[old] is True


def test_falsy_legacy_values_are_honoured():
    """``QUEUE_ALWAYS_EAGER = False`` or ``ZTASKD_ON_LOAD = ()`` must not be mistaken for "unset"."""
    with override_settings(DJWORKERS={"ZTASK": {}}, ZTASKD_RETRY_COUNT=0, DUMBWAITER_THREADED=False):
        assert conf.section("ZTASK")["RETRY_COUNT"] == 0
        assert conf.section("DUMBWAITER")["THREADED"] is False


def test_section_override_keeps_other_defaults():
    with override_settings(DJWORKERS={"QUEUE": {"NAME": "emails"}}):
        queue = conf.section("QUEUE")
        assert queue["NAME"] == "emails"
        assert queue["BACKEND"] == "database"
        assert queue["RETRY_BACKOFF"] == 2.0


def test_override_settings_is_respected_lazily():
    """Values are read on use and recomputed after every settings change (STYLE 1)."""
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
    with override_settings(DJWORKERS={"GEARMAN": {"SERVERS": ["10.0.0.1:4730"]}}):
        conf.section("GEARMAN")["SERVERS"].append("mutated")
    assert conf.DEFAULTS["GEARMAN"]["SERVERS"] == ["127.0.0.1:4730"]
    assert conf.section("GEARMAN")["SERVERS"] == ["127.0.0.1:4730"]


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
