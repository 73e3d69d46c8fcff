"""Dumbwaiter storage and read API (D4, D5, D7): get_value, history, errors, status.

Runs are made through :class:`Runner.run_one` / ``refresh`` (the runner path)
in-process; the schedule and the processes are tested in
test_dumbwaiter_runner.py and test_dumbwaiter_processes.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import time

import pytest
from django.core.cache import caches

from djworkers import dumbwaiter
from djworkers.dumbwaiter import AlreadyRunning, NotComputedYet, UnknownFunction
from djworkers.dumbwaiter.config import current
from djworkers.dumbwaiter.models import CachedError, CachedFunction, CachedValue
from djworkers.dumbwaiter.runner import Runner
from djworkers.runtime.executor import Outcome

F = "tests.testapp.dumbwaiter_functions"


def configure(settings, functions, **options):
    settings.DJWORKERS = {**settings.DJWORKERS, "DUMBWAITER": {"FUNCTIONS": functions, **options}}


def run(name: str) -> Outcome:
    runner = Runner(current(), names=[name])
    return runner.run_one(runner.specs[0])


@pytest.fixture(autouse=True)
def clear_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


pytestmark = pytest.mark.django_db


def test_unknown_name_lists_configured_names(settings):
    """D5: a typo is a LookupError naming the configured functions (old bug: unrelated crash)."""
    configure(
        settings,
        [
            {"function": f"{F}.echo", "name": "alpha", "args": [1]},
            {"function": f"{F}.echo", "name": "beta", "args": [2]},
        ],
    )
    with pytest.raises(UnknownFunction) as info:
        dumbwaiter.get_value("alhpa")
    assert isinstance(info.value, LookupError)
    assert "'alhpa'" in str(info.value) and "'alpha', 'beta'" in str(info.value)
    with pytest.raises(UnknownFunction):
        dumbwaiter.get_value("alhpa", default=0)  # a default does not hide a typo
    with pytest.raises(UnknownFunction):
        dumbwaiter.get_history("nope")


def test_not_computed_yet_default_and_error(settings, django_assert_num_queries):
    """D5: configured but never computed: the default, or a clear LookupError; never computed in the request."""
    configure(settings, [{"function": f"{F}.explode", "name": "later"}])
    assert dumbwaiter.get_value("later", default="fallback") == "fallback"
    assert dumbwaiter.get_value("later", default=None) is None
    with pytest.raises(NotComputedYet) as info:
        dumbwaiter.get_value("later")
    assert isinstance(info.value, LookupError) and "run_dumbwaiter" in str(info.value)
    assert dumbwaiter.get_age("later") is None
    # The function (which would raise) was never called by the reads above.
    assert not CachedError.objects.exists()


def test_value_stored_in_db_and_cache_and_args_kwargs_passed(settings):
    """D1/D4: args and kwargs reach the function; the result lands in the history and the cache."""
    configure(settings, [{"function": f"{F}.add", "name": "sum", "args": [2, 3], "kwargs": {"scale": 10}}])
    assert run("sum") is Outcome.SUCCEEDED
    assert dumbwaiter.get_value("sum") == 50
    row = CachedValue.objects.get()
    assert row.function_id == "sum" and row.size > 0 and bytes(row.value).startswith(b"DJW1")
    assert caches["default"].get(current().get("sum").cache_key)[0] == 50
    age = dumbwaiter.get_age("sum")
    assert age is not None and 0 <= age < 5


def test_cache_hit_does_no_query_and_cold_cache_one_query(settings, django_assert_num_queries):
    """D5: warm cache = zero queries; cleared cache = one query, then the cache is primed again."""
    configure(settings, [{"function": f"{F}.echo", "name": "v", "args": [{"k": [1, 2]}]}])
    run("v")
    dumbwaiter.get_value("v")
    with django_assert_num_queries(0):
        assert dumbwaiter.get_value("v") == {"k": [1, 2]}
    caches["default"].clear()
    with django_assert_num_queries(1):
        assert dumbwaiter.get_value("v") == {"k": [1, 2]}
    with django_assert_num_queries(0):
        assert dumbwaiter.get_value("v") == {"k": [1, 2]}
        assert dumbwaiter.get_age("v") is not None


def test_pickle_round_trip_is_identical(settings):
    """D7: with pickle (default) rich types survive the cache and the database unchanged."""
    from tests.testapp.dumbwaiter_functions import rich_value

    configure(settings, [{"function": f"{F}.rich_value", "name": "rich"}])
    run("rich")
    cached = dumbwaiter.get_value("rich")
    caches["default"].clear()
    from_db = dumbwaiter.get_value("rich")
    assert cached == from_db == rich_value()
    assert isinstance(from_db["amount"], decimal.Decimal) and from_db["pair"] == (1, 2)
    assert isinstance(from_db["when"], dt.datetime)


def test_json_round_trip_is_identical_from_cache_and_db(settings):
    """D7: JSON: JSON values come back equal, and the cache serves what the database would (no tuple/list split)."""
    from tests.testapp.dumbwaiter_functions import json_value

    configure(
        settings,
        [{"function": f"{F}.json_value", "name": "j"}, {"function": f"{F}.echo", "name": "t", "args": [(1, 2)]}],
        SERIALIZER="json",
    )
    run("j")
    run("t")
    assert CachedValue.objects.get(function_id="j").serializer == "json"
    cached = dumbwaiter.get_value("j"), dumbwaiter.get_value("t")
    caches["default"].clear()
    from_db = dumbwaiter.get_value("j"), dumbwaiter.get_value("t")
    assert cached == from_db == (json_value(), [1, 2])


def test_legacy_serializer_module_contract(settings):
    """D7: DUMBWAITER_SERIALIZER naming a module with `serializer.serialize/deserialize` (old contract) works."""
    settings.DUMBWAITER_FUNCTION_LIST = [{"function": f"{F}.echo", "name": "e", "args": [[1, "x"]]}]
    settings.DUMBWAITER_SERIALIZER = "djworkers.serializers.json"
    run("e")
    assert CachedValue.objects.get().serializer == "djworkers.serializers.json"
    caches["default"].clear()
    assert dumbwaiter.get_value("e") == [1, "x"]
    # The old default path keeps working too.
    settings.DUMBWAITER_SERIALIZER = "dumbwaiter.serializers.pickler"
    assert current().serializer().name == "pickle"


def test_history_trimmed_to_max_saved(settings):
    """D4: the value history is capped at max_saved; get_history returns it newest first."""
    configure(settings, [{"function": f"{F}.echo", "name": "h", "max_saved": 3, "args": [0]}])
    spec_runner = Runner(current(), names=["h"])
    for i in range(6):
        # Same function and name, a different argument per run, so the values tell the runs apart.
        spec = dataclasses.replace(spec_runner.specs[0], args=(i,))
        assert spec_runner.run_one(spec) is Outcome.SUCCEEDED
    assert CachedValue.objects.filter(function_id="h").count() == 3
    history = dumbwaiter.get_history("h")
    assert [e.value for e in history] == [5, 4, 3]
    assert history[0].computed_at >= history[1].computed_at >= history[2].computed_at
    assert dumbwaiter.get_value("h") == 5


def test_errors_recorded_with_traceback_and_trimmed(settings):
    """D4: a raising function is recorded with its full traceback (old bug: none kept), capped at max_saved."""
    configure(settings, [{"function": f"{F}.explode", "name": "bad", "max_saved": 2, "args": ["disk full"]}])
    for _ in range(4):
        assert run("bad") is Outcome.FAILED
    errors = dumbwaiter.get_errors("bad")
    assert len(errors) == 2 == CachedError.objects.count()
    assert errors[0].exception == "Boom" and errors[0].message == "disk full"
    assert "Traceback (most recent call last)" in errors[0].traceback
    assert "dumbwaiter_functions.py" in errors[0].traceback and "in explode" in errors[0].traceback
    row = CachedFunction.objects.get(name="bad")
    assert row.last_error == "Boom: disk full" and row.last_error_at is not None
    assert dumbwaiter.get_value("bad", default="none yet") == "none yet"


def test_error_with_a_nul_character_is_recorded(settings):
    """Review fix: PostgreSQL refused the error record of a message holding NUL; the
    failure then only reached the log."""
    configure(settings, [{"function": f"{F}.explode", "name": "nul", "args": ["bad\x00byte"]}])
    assert run("nul") is Outcome.FAILED
    assert dumbwaiter.get_errors("nul")[0].message == "bad\\x00byte"
    assert CachedFunction.objects.get(name="nul").last_error == "Boom: bad\\x00byte"


def test_unserializable_value_is_recorded_as_error(settings):
    """D4/D7: a value the serializer refuses is an error of the function, not a crash of the runner."""
    configure(settings, [{"function": f"{F}.unpicklable", "name": "lam"}])
    assert run("lam") is Outcome.FAILED
    error = CachedError.objects.get()
    assert error.exception in ("TypeError", "PicklingError", "AttributeError"), error.exception
    assert "lambda" in error.message and "Traceback" in error.traceback
    assert dumbwaiter.get_value("lam", default="none") == "none"


def test_tampered_db_row_is_never_deserialized(settings):
    """D5: database rows are signed; a planted pickle is ignored, not loaded."""
    import pickle

    configure(settings, [{"function": f"{F}.echo", "name": "x", "args": [1]}])
    run("x")
    evil = pickle.dumps({"planted": True})
    CachedValue.objects.update(value=b"DJW1" + b"\0" * 32 + evil)
    caches["default"].clear()
    assert dumbwaiter.get_value("x", default="safe") == "safe"
    assert dumbwaiter.get_history("x") == []


def test_status_reports_age_staleness_and_errors(settings):
    """X4/D8: status() for the status command and dashboard."""
    configure(
        settings,
        [
            {"function": f"{F}.echo", "name": "fresh", "args": [1], "frequency": 60},
            {"function": f"{F}.explode", "name": "broken", "frequency": 60},
            {"function": f"{F}.echo", "name": "never", "args": [1]},
        ],
    )
    run("fresh")
    run("broken")
    by_name = {s["name"]: s for s in dumbwaiter.status()}
    assert list(by_name) == ["fresh", "broken", "never"]
    assert by_name["fresh"]["age"] < 5 and by_name["fresh"]["stale"] is False
    assert by_name["broken"]["age"] is None and by_name["broken"]["stale"] is True
    assert by_name["broken"]["last_error"] == "Boom: kaboom" and by_name["broken"]["last_error_at"]
    assert by_name["never"] == {
        "name": "never",
        "frequency": 300.0,
        "age": None,
        "stale": True,
        "last_error": "",
        "last_error_at": None,
        "running_on": "",
    }
    CachedFunction.objects.filter(name="fresh").update(
        last_success_at=CachedFunction.objects.get(name="fresh").last_success_at - dt.timedelta(seconds=121)
    )
    assert {s["name"]: s for s in dumbwaiter.status()}["fresh"]["stale"] is True


def test_refresh_uses_the_lease(settings):
    """D8: "refresh now" runs through the runner path and refuses while another runner holds the lease."""
    configure(settings, [{"function": f"{F}.echo", "name": "r", "args": ["hi"]}])
    assert dumbwaiter.refresh("r") is True
    assert dumbwaiter.get_value("r") == "hi"
    CachedFunction.objects.filter(name="r").update(
        running_until=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), running_on="otherhost:1"
    )
    with pytest.raises(AlreadyRunning, match="otherhost:1"):
        dumbwaiter.refresh("r")


def test_old_style_settings_work_unchanged(settings):
    """X1/D1: DUMBWAITER_FUNCTION_LIST and the other flat names of django-dumbwaiter still work."""
    settings.DUMBWAITER_FUNCTION_LIST = [{"function": f"{F}.add", "name": "old", "args": [1, 2]}]
    settings.DUMBWAITER_DEFAULT_FREQUENCY = 7
    settings.DUMBWAITER_DEFAULT_SAVED = 2
    settings.DUMBWAITER_THREADED = False
    settings.PICKLE_PROTOCOL = 2
    config = current()
    spec = config.get("old")
    assert (spec.frequency, spec.max_saved, config.threaded) == (7.0, 2, False)
    for _ in range(3):
        run("old")
    assert dumbwaiter.get_value("old") == 3
    assert CachedValue.objects.count() == 2
    assert bytes(CachedValue.objects.first().value)[36:38] == b"\x80\x02"  # pickle protocol 2


def test_cache_server_down_falls_back_to_database(settings, redis_server):
    """D5: get_value keeps answering from the database when the cache server is unreachable."""
    configure(settings, [{"function": f"{F}.echo", "name": "v", "args": ["kept"]}])
    run("v")
    redis_server.stop()
    try:
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_server.url}
        }
        assert dumbwaiter.get_value("v") == "kept"
        age = dumbwaiter.get_age("v")  # the age too (it used to raise with the cache down)
        assert age is not None and 0 <= age < 60
    finally:
        redis_server.start()


def test_aget_value_for_async_views(settings):
    """D5: the async twin reads the same value, with the same errors."""
    import asyncio

    configure(
        settings,
        [{"function": f"{F}.echo", "name": "a", "args": [[1, 2]]}, {"function": f"{F}.echo", "name": "b", "args": [1]}],
    )
    run("a")

    async def read():
        from asgiref.sync import sync_to_async
        from django.db import connections

        try:
            return (await dumbwaiter.aget_value("a"), await dumbwaiter.aget_value("b", default="d"))
        finally:
            # The database fallback ran in asgiref's thread; close its connection as a request would.
            await sync_to_async(connections.close_all)()

    assert asyncio.run(read()) == ([1, 2], "d")
    with pytest.raises(UnknownFunction):
        asyncio.run(dumbwaiter.aget_value("zzz"))


def test_reader_cache_lifetime_follows_the_schedule(settings):
    """D5: a value a web process read from the database is kept only until the next run is due,
    so with a per-process cache (LocMem) readers see new values about one period late at most."""
    from djworkers.dumbwaiter.storage import reader_timeout

    configure(settings, [{"function": f"{F}.echo", "name": "p", "frequency": 60}])
    spec = current().get("p")
    assert reader_timeout(spec, computed_at=1000.0, now=1010.0) == pytest.approx(50.0)
    # Overdue (runner slow or stopped): check again soon, but not on every request.
    assert reader_timeout(spec, computed_at=1000.0, now=1100.0) == 15.0
    fast = dataclasses.replace(spec, frequency=2)
    assert reader_timeout(fast, computed_at=1000.0, now=1003.0) == 1.0


def test_reader_sees_a_value_written_by_another_process(settings):
    """D5: with LocMem (per process) a reader's primed entry expires and the newer database value is served."""
    configure(settings, [{"function": f"{F}.echo", "name": "p", "args": ["old"], "frequency": 3}])
    run("p")
    caches["default"].clear()  # another process: its cache never saw the runner's write
    assert dumbwaiter.get_value("p") == "old"
    # The runner lives in another process: its LocMem cache is not ours.
    settings.CACHES = {
        **settings.CACHES,
        "runner-process": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "runner-process"},
    }
    runner = Runner(dataclasses.replace(current(), cache_alias="runner-process"), names=["p"])
    runner.run_one(dataclasses.replace(runner.specs[0], args=("new",)))
    assert dumbwaiter.get_value("p") == "old"  # still within the primed lifetime (until the next run is due)
    time.sleep(3.1)
    assert dumbwaiter.get_value("p") == "new"


def test_function_given_as_a_callable(settings):
    """D1: `function` may be the callable itself, not only a dotted path."""
    from tests.testapp.dumbwaiter_functions import add

    configure(settings, [{"function": add, "name": "direct", "args": [1, 1]}])
    run("direct")
    assert dumbwaiter.get_value("direct") == 2


def test_top_level_serializer_is_the_default(settings):
    """D7: DUMBWAITER SERIALIZER None follows DJWORKERS["SERIALIZER"]."""
    settings.DJWORKERS = {
        **settings.DJWORKERS,
        "SERIALIZER": "json",
        "DUMBWAITER": {"FUNCTIONS": [{"function": f"{F}.echo", "name": "t", "args": [(1, 2)]}]},
    }
    run("t")
    assert CachedValue.objects.get().serializer == "json"
    assert dumbwaiter.get_value("t") == [1, 2]


@pytest.mark.parametrize("serializer", ["pickle", "json"])
def test_redis_cache_backend_round_trip(settings, redis, redis_server, serializer, django_assert_num_queries):
    """D5/D7: with Django's Redis cache (shared by processes) the warm path is one GET and no query."""
    from tests.testapp.dumbwaiter_functions import json_value

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_server.url}
    }
    configure(settings, [{"function": f"{F}.json_value", "name": "j"}], SERIALIZER=serializer)
    run("j")
    with django_assert_num_queries(0):
        assert dumbwaiter.get_value("j") == json_value()
    assert redis.dbsize() == 1
    caches["default"].clear()
    with django_assert_num_queries(1):
        assert dumbwaiter.get_value("j") == json_value()
