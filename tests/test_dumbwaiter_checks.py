"""System checks for the dumbwaiter settings (D1): every id is triggered, every message names the entry."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError

from djworkers.dumbwaiter.checks import check

F = "tests.testapp.dumbwaiter_functions"
GOOD = {"function": f"{F}.echo", "name": "ok", "args": [1]}


def ids_for(settings, functions=None, **options):
    settings.DJWORKERS = {
        **settings.DJWORKERS,
        "DUMBWAITER": {"FUNCTIONS": [GOOD] if functions is None else functions, **options},
    }
    return check()


def only(messages, check_id):
    found = [m for m in messages if m.id == check_id]
    assert found, f"{check_id} not in {[(m.id, m.msg) for m in messages]}"
    return found[0].msg


def test_valid_configuration_has_no_errors(settings):
    assert (
        ids_for(
            settings,
            [
                GOOD,
                {"function": len, "name": "callable", "args": [[1]], "frequency": 0.5, "kwargs": {}, "max_saved": 1},
            ],
        )
        == []
    )


@pytest.mark.parametrize(
    "functions, options, check_id, needle",
    [
        ({"not": "a list"}, {}, "djworkers.E101", "must be a list"),
        (["time.time"], {}, "djworkers.E102", 'FUNCTIONS"][0] must be a dict'),
        ([{**GOOD, "frequncy": 5}], {}, "djworkers.E103", "'frequncy'"),
        ([{"function": f"{F}.echo"}], {}, "djworkers.E104", "needs a 'name'"),
        ([GOOD, {**GOOD}], {}, "djworkers.E105", "the name 'ok' is already used by"),
        ([{"name": "nofunc"}], {}, "djworkers.E106", "('nofunc') needs a 'function'"),
        ([{"function": f"{F}.missing", "name": "typo"}], {}, "djworkers.E107", "('typo') 'function'"),
        ([{"function": f"{F}.not_callable", "name": "nc"}], {}, "djworkers.E107", "is not callable"),
        ([{**GOOD, "frequency": 0}], {}, "djworkers.E108", "'frequency' must be a positive number"),
        ([{**GOOD, "args": "abc"}], {}, "djworkers.E109", "'args' must be a list"),
        ([{**GOOD, "kwargs": [1]}], {}, "djworkers.E109", "'kwargs' must be a dict"),
        (None, {"THREADED": "yes"}, "djworkers.E110", "THREADED"),
        (None, {"DEFAULT_FREQUENCY": -1}, "djworkers.E110", "DEFAULT_FREQUENCY"),
        (None, {"DEFAULT_SAVED": 0}, "djworkers.E110", "DEFAULT_SAVED"),
        ([{**GOOD, "max_saved": 0}], {}, "djworkers.E111", "('ok'): 'max_saved'"),
        (None, {"CACHE_ALIAS": "nope"}, "djworkers.E112", "'nope' is not a cache"),
        (None, {"LOCK": "zookeeper"}, "djworkers.E113", "LOCK"),
        (None, {"LOCK": "redis"}, "djworkers.E113", "CONNECTION"),
        (None, {"SERIALIZER": "tests.testapp.nothing_here"}, "djworkers.E114", "SERIALIZER"),
    ],
)
def test_each_error_id(settings, functions, options, check_id, needle):
    msg = only(ids_for(settings, functions, **options), check_id)
    assert needle in msg


def test_errors_reach_manage_py_check_and_block_the_runner(settings):
    """Bad entries are reported by `manage.py check` and run_dumbwaiter refuses to start."""
    ids_for(settings, [{"function": f"{F}.echo", "name": "x", "frequency": "often"}])
    assert "djworkers.E108" in [m.id for m in checks.run_checks()]
    with pytest.raises(CommandError, match="'frequency' must be a positive number"):
        call_command("run_dumbwaiter")


def test_legacy_function_list_is_checked_too(settings):
    """X1: the old DUMBWAITER_FUNCTION_LIST is validated like the new key (and warned about by the core)."""
    settings.DUMBWAITER_FUNCTION_LIST = [{"function": f"{F}.echo", "name": "a"}, {"function": "x.y", "name": "a"}]
    messages = checks.run_checks()
    assert "djworkers.E105" in [m.id for m in messages]
    assert any(m.id == "djworkers.W001" and "DUMBWAITER_FUNCTION_LIST" in m.msg for m in messages)
