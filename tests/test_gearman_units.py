"""The Gearman door without a server: naming, settings, argument packing, checks (G1-G4)."""

from __future__ import annotations

import os

import pytest

from djworkers import conf
from djworkers.gearman import gearman_job
from djworkers.gearman.client import _MISSING, RESERVED, pack_arguments
from djworkers.gearman.naming import default_name, server_name


def test_default_name_drops_the_gearman_jobs_module_part():
    """G2: ``myapp.gearman_jobs.reverse`` -> ``myapp.reverse``."""

    def reverse():
        pass

    reverse.__module__ = "myapp.gearman_jobs"
    assert default_name(reverse) == "myapp.reverse"
    reverse.__module__ = "myapp.sub.gearman_jobs"
    assert default_name(reverse) == "myapp.sub.reverse"
    reverse.__module__ = "myapp.jobs"
    assert default_name(reverse) == "myapp.jobs.reverse"


def test_names_do_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    """G3 old bug: django-gearman's default name included the cwd."""
    before = server_name("myapp.reverse")
    monkeypatch.chdir(tmp_path)
    assert server_name("myapp.reverse") == before == "myapp.reverse"


def prefix_namer(name):
    return f"fn.{name}"


@pytest.mark.parametrize(
    "hook, expected",
    [
        (None, "myapp.reverse"),
        ("staging.{name}", "staging.myapp.reverse"),
        (prefix_namer, "fn.myapp.reverse"),
        ("tests.test_gearman_units.prefix_namer", "fn.myapp.reverse"),
    ],
)
def test_job_name_setting_maps_public_to_server_names(settings, hook, expected):
    """G3: JOB_NAME as None, a format string, a callable or a dotted path."""
    settings.DJWORKERS = {**settings.DJWORKERS, "GEARMAN": {"JOB_NAME": hook}}
    assert server_name("myapp.reverse") == expected


def test_old_flat_settings_are_read(settings):
    settings.GEARMAN_SERVERS = ["10.0.0.1", "10.0.0.2:4731"]
    settings.GEARMAN_JOB_NAME = prefix_namer
    section = conf.section("GEARMAN")
    assert section["SERVERS"] == ["10.0.0.1", "10.0.0.2:4731"]
    assert server_name("x") == "fn.x"
    from djworkers.gearman.library import configured_servers

    assert configured_servers() == [("10.0.0.1", 4730), ("10.0.0.2", 4731)]
    assert ("GEARMAN_SERVERS", 'DJWORKERS["GEARMAN"]["SERVERS"]', False) in conf.legacy_settings_in_use()
    assert conf.unbuilt_door_settings_in_use() == []


def test_decorator_forms_register(clean_registry):
    """G1: bare and with arguments; the function is returned unchanged."""

    @gearman_job
    def plain(x):
        return x

    @gearman_job(name="custom-name", queue="q1", retries=2)
    def custom(x):
        return x

    assert plain(3) == 3
    assert clean_registry.get(f"{__name__}.plain").door == "gearman"
    job = clean_registry.get("custom-name")
    assert (job.queue, job.retries, job.door) == ("q1", 2, "gearman")
    assert clean_registry.get(f"{__name__}.plain").queue == "default"


def test_decorator_rejects_bad_options(clean_registry):
    with pytest.raises(TypeError, match="unknown option"):
        gearman_job(name="x", priority=3)(lambda: None)
    with pytest.raises(ValueError, match="non-empty str"):
        gearman_job(name="")


def test_argument_packing_follows_the_readme():
    """G4: data vs args, keywords, the kwargs= escape for reserved names."""
    assert pack_arguments("n", 0, None, None, {}) == ((0,), {})
    assert pack_arguments("n", None, None, None, {}) == ((None,), {})
    assert pack_arguments("n", _MISSING, [1, 2], {"background": False}, {"x": 1}) == (
        (1, 2),
        {"background": False, "x": 1},
    )
    with pytest.raises(TypeError, match="given both"):
        pack_arguments("n", _MISSING, None, {"x": 1}, {"x": 2})
    with pytest.raises(TypeError, match="args must be a list"):
        pack_arguments("n", _MISSING, "abc", None, {})
    assert RESERVED == (
        "data",
        "unique",
        "priority",
        "background",
        "wait_until_complete",
        "max_retries",
        "poll_timeout",
    )


def check_ids(settings_value, settings):
    from djworkers.gearman.checks import check

    settings.DJWORKERS = {**settings.DJWORKERS, "GEARMAN": settings_value}
    return [message.id for message in check()]


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"SERVERS": ["127.0.0.1:4730", "host"]}, []),
        ({"SERVERS": []}, ["djworkers.E501"]),
        ({"SERVERS": ["host:port"]}, ["djworkers.E501"]),
        ({"SERVERS": "host:99999"}, ["djworkers.E501"]),
        ({"JOB_NAME": 42}, ["djworkers.E502"]),
        ({"JOB_NAME": "no.such.module.namer"}, ["djworkers.E502"]),
        ({"JOB_NAME": len}, ["djworkers.E502"]),  # returns an int
    ],
)
def test_checks(settings, value, expected):
    assert check_ids(value, settings) == expected


def test_check_reports_a_conflicting_gearman_distribution(settings, monkeypatch):
    from djworkers.gearman import library

    monkeypatch.setattr(library, "installed_distributions", lambda: ["pygearman", "gearman3"])
    assert check_ids({}, settings) == ["djworkers.E503"]
    monkeypatch.setattr(library, "installed_distributions", lambda: [])
    assert check_ids({}, settings) == ["djworkers.E503"]


def test_the_gearman_extra_pins_pygearman_alone():
    """pygearman, not gearman3: both ship the ``gearman`` package."""
    import tomllib

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as handle:
        extras = tomllib.load(handle)["project"]["optional-dependencies"]
    assert extras["gearman"] == ["pygearman==0.2.6"]
    assert not any("gearman3" in item for items in extras.values() for item in items)
    from djworkers.gearman.library import installed_distributions

    assert installed_distributions() == ["pygearman"]


@pytest.mark.django_db
def test_status_section_absent_when_the_door_is_unused(settings, clean_registry):
    from djworkers.doors import get_door
    from djworkers.monitoring.status import StatusOptions

    for job in list(clean_registry.by_door("gearman")):
        clean_registry.unregister(job.name)
    assert get_door("gearman").status(StatusOptions()) is None
