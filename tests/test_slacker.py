"""Postponed chains (S1), their wire format and the endpoint's refusals (S4, S5), and the local worker.

The first tests are tornado-slacker's own (``slacker/tests.py``), modernised:
``await`` instead of ``_proceed()``, ``postpone`` instead of ``Postponed``/``Slacker``.
"""

from __future__ import annotations

import asyncio
import logging.handlers
import pickle
import string
import time

import pytest

from djworkers.exceptions import BadSignature, MalformedMessage
from djworkers.slacker import Chain, RemoteError, chain_of, postpone, run
from djworkers.slacker.exceptions import ChainExpired
from djworkers.slacker.wire import (
    decode_chain,
    decode_result,
    encode_chain,
    encode_result,
    portable_exception,
    run_chain,
)
from tests.testapp import slacker_targets
from tests.testapp.slacker_targets import Foo, record


def restored(proxy):
    """Send the chain over the wire and back, then run it: what the http worker does."""
    chain = decode_chain(encode_chain(chain_of(proxy)), max_age=60)
    status, value = decode_result(encode_result(run_chain(chain)))
    if status == "error":
        raise value
    return value


def awaited(proxy, **options):
    return asyncio.run(run(proxy, worker="local", **options))


FOO = postpone(Foo)("foo")


class TestOriginalTests:
    """S1: tornado-slacker's PostponeTest and ModulesTest, modernised."""

    def test_method_basic(self):
        assert awaited(FOO.get_name()) == "foo"
        assert restored(FOO.get_name()) == "foo"

    def test_method_args(self):
        assert awaited(FOO.xy(1, 2)) == "1-2"

    def test_method_kwargs(self):
        assert restored(FOO.xy(y=2, x=1)) == "1-2"

    def test_attributes(self):
        assert awaited(FOO.name) == "foo"

    def test_slicing_and_index(self):
        assert awaited(FOO.name[0]) == "f"
        assert restored(FOO.name[1:]) == "oo"
        assert awaited(postpone({"k": [1, 2, 3]})["k"][::2]) == [1, 3]

    def test_chaining(self):
        chain = FOO.create_bar().bar.create_bar().bar.name[1:-1]
        assert restored(chain) == "oo bar ba"
        assert awaited(chain) == "oo bar ba"

    def test_no_execution_until_awaited(self):
        real_foo = Foo("foo")
        foo = postpone(real_foo)
        created = foo.create_bar()
        assert not hasattr(real_foo, "bar")
        name = foo.name
        assert not real_foo.name_accessed
        pending = postpone(record)("ran")
        assert "ran" not in slacker_targets.calls
        assert awaited(name) == "foo" and real_foo.name_accessed
        awaited(created)
        assert real_foo.bar.get_name() == "foo bar"
        assert awaited(pending) == "ran" and slacker_targets.calls.count("ran") == 1

    def test_top_level_callables(self):
        assert awaited(postpone(Foo)("bar")).get_name() == "bar"
        assert restored(postpone(slacker_targets.sleep_then)(0, "value")) == "value"
        assert awaited(postpone(len)("four")) == 4

    def test_modules(self):
        assert awaited(postpone(string).ascii_letters) == string.ascii_letters

    def test_module_pickling_simple_dotted_and_renamed(self):
        from logging import handlers as hh

        assert restored(postpone(string).ascii_letters) == string.ascii_letters
        assert restored(postpone(logging.handlers).SocketHandler) is logging.handlers.SocketHandler
        assert restored(postpone(hh).DatagramHandler) is hh.DatagramHandler

    def test_partial_chains_are_immutable_and_reusable(self):
        base = postpone(Foo)("base")
        first = base.xy(1, 2)
        second = base.get_name()
        assert chain_of(base).steps == chain_of(postpone(Foo)("base")).steps
        assert awaited(first) == "1-2"
        assert awaited(second) == "base"
        assert awaited(base.name) == "base"
        with pytest.raises(AttributeError):
            base.anything = 1

    def test_proxy_never_shadows_attribute_names(self):
        """Names a proxy might own (run, chain, worker, proceed, _obj) are recorded like any other."""

        class Target:
            run = "run attr"
            chain = "chain attr"
            proceed = "proceed attr"
            _obj = "private attr"
            _djworkers_chain = "even this one"

        for name in ("run", "chain", "proceed", "_obj", "_djworkers_chain"):
            proxy = getattr(postpone(Target), name)
            assert chain_of(proxy).steps[-1].name == name
            assert awaited(proxy) == getattr(Target, name)

    def test_postponed_instances_and_repr(self):
        proxy = postpone(Foo("x")).xy(1, y="b")[0]
        assert repr(proxy) == "<postponed <Foo>.xy(1, y='b')[0]>"
        assert awaited(proxy) == "1"

    def test_gather_runs_several(self):
        async def main():
            return await asyncio.gather(postpone(len)("ab"), postpone(str.upper)("x"), postpone(Foo)("g").get_name())

        from django.test import override_settings

        with override_settings(DJWORKERS={"SLACKER": {"WORKER": "local"}}):
            assert asyncio.run(main()) == [2, "X", "g"]

    def test_a_proxy_has_no_truth_value_and_does_not_pickle(self):
        with pytest.raises(TypeError, match="await it first"):
            bool(postpone(Foo)("x").name)
        with pytest.raises(TypeError, match="chain_of"):
            pickle.dumps(postpone(Foo)("x"))
        assert isinstance(pickle.loads(pickle.dumps(chain_of(postpone(Foo)("x")))), Chain)


class TestExceptions:
    """S4: the chain's exception in the awaiting coroutine, with its type when it pickles."""

    def test_local_worker_raises_the_chain_exception(self):
        with pytest.raises(ValueError, match="boom"):
            awaited(postpone(slacker_targets.raise_value_error)("boom"))

    def test_picklable_exception_keeps_its_type_and_the_remote_traceback(self):
        with pytest.raises(ValueError, match="boom") as info:
            restored(postpone(slacker_targets.raise_value_error)("boom"))
        (note,) = info.value.__notes__
        assert "Remote traceback" in note and "raise_value_error" in note

    def test_unpicklable_exception_becomes_remote_error(self):
        with pytest.raises(RemoteError) as info:
            restored(postpone(slacker_targets.raise_unpicklable)())
        error = info.value
        assert error.type_name == "tests.testapp.slacker_targets.Unpicklable"
        assert error.message == "cannot and travel"
        assert "raise_unpicklable" in error.traceback
        assert str(error) == "tests.testapp.slacker_targets.Unpicklable: cannot and travel"
        assert pickle.loads(pickle.dumps(error)).traceback == error.traceback

    def test_unpicklable_root_is_refused_when_sent(self):
        from djworkers.exceptions import SerializationError

        with pytest.raises(SerializationError, match="does not pickle"):
            encode_chain(chain_of(postpone(lambda: 1)()))

    def test_result_that_does_not_pickle(self):
        status, value = decode_result(encode_result(("ok", (lambda: 1))))
        assert status == "error" and isinstance(value, RemoteError) and "cannot be pickled" in value.message

    def test_portable_exception_of_a_model_does_not_exist(self):
        from django.contrib.auth.models import User

        copy = portable_exception(User.DoesNotExist("no such user"))
        assert type(copy) is User.DoesNotExist


class MakesAFile:
    """Unpickling this creates a file: the payload of the old remote-code-execution bug."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class TestWireRefusals:
    """S5: nothing is unpickled before the signature and the age are checked."""

    def test_unsigned_pickle_is_refused_and_not_unpickled(self, tmp_path):
        target = tmp_path / "pwned"
        with pytest.raises(BadSignature):
            decode_chain(pickle.dumps(MakesAFile(target)), max_age=60)
        assert not target.exists()

    def test_expired_chain_is_refused_before_unpickling(self, tmp_path):
        from djworkers.serializers.signing import sign
        from djworkers.slacker.wire import CHAIN_KIND

        target = tmp_path / "pwned"
        old = repr(time.time() - 120).encode()
        frame = sign(CHAIN_KIND + b"\n" + old + b"\n" + pickle.dumps(MakesAFile(target)))
        with pytest.raises(ChainExpired, match="MAX_AGE"):
            decode_chain(frame, max_age=60)
        assert not target.exists()
        assert decode_chain(encode_chain(chain_of(postpone(len)("x")), now=time.time() - 30), 60)

    def test_other_signed_frames_are_not_chains(self):
        from djworkers.messages import Message, encode

        with pytest.raises(MalformedMessage):
            decode_chain(encode(Message("job", args=(1,))), max_age=60)
        with pytest.raises(BadSignature):
            decode_result(encode_chain(chain_of(postpone(len)("x"))))

    def test_another_key_is_refused(self, settings):
        frame = encode_chain(chain_of(postpone(len)("x")))
        settings.SECRET_KEY = "another-key"
        with pytest.raises(BadSignature):
            decode_chain(frame, max_age=60)


class TestSettingsChecksStatus:
    """X1 for the slacker: its settings section, old name, system checks and status section."""

    def ids(self):
        from djworkers.slacker.checks import check

        return [m.id for m in check()]

    def test_defaults_are_clean(self, settings):
        settings.DJWORKERS = {}
        assert self.ids() == []

    @pytest.mark.parametrize(
        ("options", "expected"),
        [
            ({"WORKER": "celery"}, "djworkers.E601"),
            ({"SERVER": "ftp://x/"}, "djworkers.E602"),
            ({"WORKER": "http", "SERVER": None}, "djworkers.E602"),
            ({"MAX_AGE": 0}, "djworkers.E603"),
            ({"TIMEOUT": "30"}, "djworkers.E603"),
            ({"THREADS": 0}, "djworkers.E604"),
            ({"HTTP_MAX_CLIENTS": 2.5}, "djworkers.E604"),
            ({"TORNADO_COMMAND": "run_tornado_example"}, "djworkers.E606"),
            ({"QUEUE": ""}, "djworkers.E607"),
        ],
        ids=repr,
    )
    def test_each_bad_value_has_its_id(self, settings, options, expected):
        settings.DJWORKERS = {"SLACKER": options}
        assert self.ids() == [expected]

    def test_an_unknown_worker_is_refused_when_run(self, settings):
        from djworkers.exceptions import DjworkersImproperlyConfigured

        with pytest.raises(DjworkersImproperlyConfigured, match="worker=...\\) is 'celery'"):
            asyncio.run(run(postpone(len)("x"), worker="celery"))
        settings.DJWORKERS = {"SLACKER": {"WORKER": "celery"}}
        with pytest.raises(DjworkersImproperlyConfigured, match='DJWORKERS\\["SLACKER"\\]\\["WORKER"\\]'):
            asyncio.run(run(postpone(len)("x")))

    def test_old_slacker_server_is_read_and_completed_with_the_endpoint_path(self, settings):
        from djworkers import conf
        from djworkers.slacker.workers import endpoint_url

        settings.DJWORKERS = {}
        settings.SLACKER_SERVER = "http://10.0.0.5:8000"
        assert conf.section("SLACKER")["SERVER"] == "http://10.0.0.5:8000"
        assert endpoint_url() == "http://10.0.0.5:8000/slacker/"
        assert endpoint_url("10.0.0.5:8000/api/slacker/") == "http://10.0.0.5:8000/api/slacker/"
        assert ("SLACKER_SERVER", 'DJWORKERS["SLACKER"]["SERVER"]', False) in conf.legacy_settings_in_use()

    def test_tornado_command_is_a_worker_of_djworkers_run(self, settings):
        from djworkers.slacker.door import door

        settings.DJWORKERS = {}
        assert tuple(door.workers()) == ()
        settings.DJWORKERS = {"SLACKER": {"TORNADO_COMMAND": ["run_tornado_example", "--port", "8001"]}}
        (command,) = door.workers()
        assert command.name == "tornado" and command.argv == ("run_tornado_example", "--port", "8001")

    @pytest.mark.django_db
    def test_status_section_counts_chains_and_errors(self, settings):
        from djworkers.monitoring.stats import counter
        from djworkers.monitoring.status import collect
        from djworkers.slacker.runner import tracker

        settings.DJWORKERS = {"STATS": {"ENABLED": True}}
        tracker.reset()
        awaited(postpone(len)("abc"))
        with pytest.raises(ValueError):
            awaited(postpone(slacker_targets.raise_value_error)("bad"))
        counter.flush()
        (section,) = [s for s in collect()["sections"] if s["door"] == "slacker"]
        (row,) = section["rows"]
        assert row["worker"] == "local" and row["in_flight"] == 0
        assert (row["done"], row["errors"]) == (1, 1)
        assert (row["done_last_hour"], row["errors_last_hour"]) == (1, 1)
        assert row["last_error"] == "ValueError: bad" and row["last_error_at"]
        assert section["healthy"]
