"""The original READMEs' settings blocks, pasted unchanged, keep working (X1, D1, D7, Q1, Q4).

tests/seeds/*_settings.py hold each block as the README prints it, on top of
tests.settings. ``manage.py check``, ``migrate`` and the documented usage run
in real subprocesses with those settings, as a user's project would; the test
process reads the results with the same settings applied.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.core.cache import caches
from django.test import override_settings

from djworkers import dumbwaiter
from djworkers.dumbwaiter.models import CachedValue
from djworkers.queue.api import reset_backends
from djworkers.queue.models import QueueJob
from tests.testapp import commands
from tests.testapp.models import Churnable
from tests.utils import run

SEEDS = Path(__file__).resolve().parent / "seeds"

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def pasted(name: str) -> dict:
    """The settings tests/seeds/<name>.py adds to tests.settings (the README's block).

    Imported with sys.path restored after, so the seed's ``my_app`` path does not
    leak into the rest of the session.
    """
    import importlib

    import tests.settings as base

    saved = list(sys.path)
    try:
        module = importlib.import_module(f"tests.seeds.{name}")
    finally:
        sys.path[:] = saved
    return {k: getattr(module, k) for k in dir(module) if k.isupper() and not hasattr(base, k)}


def check_passes(settings_module: str) -> str:
    result = run(["check", "--fail-level", "ERROR"], settings_module=settings_module)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output  # warnings (W001: legacy names) are expected, errors not
    return output


def test_dumbwaiter_readme_settings(monkeypatch):
    """X1/D1/D7: the dumbwaiter README's block, DUMBWAITER_SERIALIZER naming a module ("my_app.myser")
    that nothing imported first: check passes (no E114), run_dumbwaiter stores values with that
    serializer and get_value reads them (import_string did not import the submodule)."""
    module = "tests.seeds.dumbwaiter_settings"
    output = check_passes(module)
    assert "E114" not in output
    result = run(["run_dumbwaiter", "--once"], settings_module=module)
    assert result.returncode == 0, result.stdout + result.stderr

    stored = CachedValue.objects.get(function_id="count")
    assert stored.serializer == "my_app.myser"
    assert b"myser:{" in bytes(stored.value)  # really written by my_app.myser (inside the signed frame)
    assert CachedValue.objects.filter(function_id="time").exists()

    # The reading side: a process where my_app.myser was never imported either.
    monkeypatch.syspath_prepend(str(SEEDS))
    for name in [m for m in sys.modules if m == "my_app" or m.startswith("my_app.")]:
        monkeypatch.delitem(sys.modules, name)
    caches["default"].clear()
    with override_settings(**pasted("dumbwaiter_settings")):
        assert dumbwaiter.get_value("count") == {"count": 42}
        assert isinstance(dumbwaiter.get_value("time"), float)


def test_djutils_readme_database_settings():
    """X1/Q1/Q4: QUEUE_BACKEND = '...DatabaseQeueue' and QUEUE_CONNECTION = '' as the djutils README
    prints them: check passes without E204, migrate runs, and a @queue_command enqueued under those
    settings is run by queue_consumer ('' stopped even migrate)."""
    module = "tests.seeds.djutils_settings"
    output = check_passes(module)
    assert "E204" not in output
    result = run(["migrate", "--noinput"], settings_module=module)
    assert result.returncode == 0, result.stdout + result.stderr

    reset_backends()
    try:
        with override_settings(**pasted("djutils_settings")):
            obj = Churnable.objects.create(name="seed")
            commands.churn_data(obj, "payload", 2)
            assert QueueJob.objects.count() == 1
            result = run(
                ["queue_consumer", "--burst", "--no-periodic", "-d", "0.05", "-m", "0.2"],
                settings_module=module,
                timeout=120,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert Churnable.objects.get(pk=obj.pk).results == "PAYLOADx2"
            assert QueueJob.objects.count() == 0
    finally:
        reset_backends()
