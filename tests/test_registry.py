"""One registry of named jobs (Q2, Q3, G1): no silent overwrite, strict options, loud autodiscovery.

Why: a name taken by two functions used to mean "the last import wins" and jobs
ran the wrong code; an ImportError in ``commands.py`` was swallowed by the old
djutils autodiscovery, so a typo silently registered nothing.
"""

from __future__ import annotations

import sys
import threading

import pytest
from django.apps import apps
from django.test import override_settings

from djworkers.exceptions import DuplicateJob, JobNotRegistered
from djworkers.registry import AutodiscoverError, Job, Registry, autodiscover, autodiscover_modules

BASE_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "djworkers"]


def send_mail(to: str) -> str:
    return f"sent to {to}"


def send_sms(to: str) -> str:
    return f"texted {to}"


def test_register_and_get():
    registry = Registry()
    job = registry.register(Job.declare("mail.send", send_mail, door="queue", queue="mail", retries=2))
    assert registry.get("mail.send") is job
    assert job("a@b") == "sent to a@b"
    assert job.path == "tests.test_registry.send_mail"
    assert (job.queue, job.retries, job.retry_delay, job.door) == ("mail", 2, None, "queue")
    assert "mail.send" in registry and len(registry) == 1
    assert registry.names() == ["mail.send"] and list(registry) == [job]


def test_different_callable_under_a_taken_name_is_an_error():
    registry = Registry()
    registry.register(Job.declare("notify", send_mail, door="queue"))
    with pytest.raises(DuplicateJob) as info:
        registry.register(Job.declare("notify", send_sms, door="ztask"))
    text = str(info.value)
    assert "'notify'" in text
    assert "tests.test_registry.send_mail" in text and "tests.test_registry.send_sms" in text
    assert registry.get("notify").func is send_mail  # not overwritten


def test_same_callable_twice_is_fine():
    """Re-importing a module (autoreload, double import paths) must not break."""
    registry = Registry()
    registry.register(Job.declare("notify", send_mail, door="queue"))
    again = registry.register(Job.declare("notify", send_mail, door="queue", retries=3))
    assert len(registry) == 1
    assert registry.get("notify") is again


def test_unknown_job_names_the_job_and_the_known_ones():
    registry = Registry()
    registry.register(Job.declare("mail.send", send_mail, door="queue"))
    with pytest.raises(JobNotRegistered) as info:
        registry.get("mail.sned")
    assert info.value.name == "mail.sned"
    assert "'mail.sned'" in str(info.value) and "Known jobs: mail.send" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_unknown_options_are_rejected_at_declaration():
    with pytest.raises(TypeError) as info:
        Job.declare("mail.send", send_mail, door="queue", retires=3, priorty=1)
    text = str(info.value)
    assert "'mail.send'" in text and "priorty, retires" in text
    assert "expected some of queue, retries, retry_delay, retry_backoff" in text


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("retries", -1),
        ("retries", "3"),
        ("retries", 1.5),
        ("retries", True),
        ("retry_delay", -0.5),
        ("retry_delay", "10"),
        ("retry_backoff", False),
        ("retry_backoff", 0.5),
    ],
    ids=repr,
)
def test_bad_option_values_are_rejected(option, value):
    with pytest.raises(ValueError, match=rf"'mail.send': {option} must be"):
        Job.declare("mail.send", send_mail, door="queue", **{option: value})


def test_by_door_and_unregister():
    registry = Registry()
    registry.register(Job.declare("a", send_mail, door="queue"))
    registry.register(Job.declare("b", send_sms, door="gearman"))
    assert [job.name for job in registry.by_door("gearman")] == ["b"]
    registry.unregister("b")
    registry.unregister("never-registered")  # no error
    assert registry.names() == ["a"]


def test_concurrent_registration_loses_nothing():
    registry = Registry()
    funcs = []
    for i in range(50):

        def job(i=i):
            return i

        job.__qualname__ = f"job_{i}"
        funcs.append(job)
    threads = [
        threading.Thread(target=lambda f=f: registry.register(Job.declare(f.__qualname__, f, door="q"))) for f in funcs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(registry) == 50


DISCOVER_MODULES = ("commands", "file_jobs")


@pytest.fixture
def fresh_discoverapp(clean_registry):
    for name in DISCOVER_MODULES:
        sys.modules.pop(f"tests.discoverapp.{name}", None)
    yield clean_registry
    for name in DISCOVER_MODULES:
        sys.modules.pop(f"tests.discoverapp.{name}", None)


def test_autodiscover_imports_what_each_door_asks_for(fresh_discoverapp):
    """Q3: AppConfig.ready() imports the queue door's commands.py of every installed app."""
    assert "commands" in autodiscover_modules()
    with override_settings(INSTALLED_APPS=[*BASE_APPS, "tests.discoverapp"]):
        # ready() already ran autodiscovery when the app registry was rebuilt.
        assert "discoverapp.commands" in fresh_discoverapp.names()
        assert "discoverapp.file_jobs" not in fresh_discoverapp.names()  # no door asks for it
        # And it can be called on demand; modules already imported are simply listed.
        imported = autodiscover()
    assert "tests.discoverapp.commands" in imported


def test_a_door_outside_djworkers_brings_its_module_name(fresh_discoverapp, file_door):
    """The test-only "file" door declares ``file_jobs``: autodiscovery imports it, no core edit."""
    assert "file_jobs" in autodiscover_modules()
    with override_settings(INSTALLED_APPS=[*BASE_APPS, "tests.discoverapp"]):
        imported = autodiscover()
    assert "tests.discoverapp.file_jobs" in imported
    assert fresh_discoverapp.get("discoverapp.file_jobs")() == "file_jobs"


def test_autodiscover_only_the_requested_module_names(fresh_discoverapp):
    with override_settings(INSTALLED_APPS=[*BASE_APPS, "tests.discoverapp"]):
        for name in DISCOVER_MODULES:
            sys.modules.pop(f"tests.discoverapp.{name}", None)
        fresh_discoverapp.unregister("discoverapp.commands")
        imported = autodiscover(module_names=("commands",))
    assert imported == ["tests.discoverapp.commands"]


def test_import_error_in_a_jobs_module_propagates_with_its_name():
    """Q3: the ImportError inside tests/brokenapp/commands.py is raised from AppConfig.ready()."""
    with pytest.raises(AutodiscoverError) as info:
        with override_settings(INSTALLED_APPS=[*BASE_APPS, "tests.brokenapp"]):
            pass  # pragma: no cover - entering the block must fail
    text = str(info.value)
    assert "tests.brokenapp.commands" in text
    assert "No module named 'djworkers_no_such_dependency'" in text
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert isinstance(info.value, ImportError)
    # The app registry is restored afterwards.
    assert apps.is_installed("tests.testapp") and not apps.is_installed("tests.brokenapp")


def test_import_error_also_raised_when_called_on_demand(monkeypatch):
    """``autodiscover()`` called by hand (e.g. from a worker command) fails the same way."""
    from django.apps import AppConfig

    from djworkers import registry as registry_module

    fake = AppConfig.create("tests.brokenapp")
    monkeypatch.setattr(registry_module.apps, "get_app_configs", lambda: [fake])
    with pytest.raises(AutodiscoverError, match=r"importing tests\.brokenapp\.commands failed"):
        autodiscover()
    # Modules that failed are not left half-imported, so the next attempt fails the same way.
    assert "tests.brokenapp.commands" not in sys.modules
