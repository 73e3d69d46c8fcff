"""``loading.load_object``: the one dotted-path loader (D7 serializer modules)."""

from __future__ import annotations

import sys

import pytest

from djworkers.exceptions import DjworkersImproperlyConfigured
from djworkers.loading import load_object


@pytest.fixture
def fresh_my_app(monkeypatch):
    """tests/seeds on sys.path with my_app not imported yet, as in a new process."""
    from tests.seeds import __file__ as seeds_init

    monkeypatch.syspath_prepend(seeds_init.rsplit("/", 1)[0])
    for name in [m for m in sys.modules if m == "my_app" or m.startswith("my_app.")]:
        monkeypatch.delitem(sys.modules, name)


def test_a_path_naming_a_module_imports_it(fresh_my_app):
    """D7: "my_app.myser" is a module nothing imported yet; import_string alone said
    'Module "my_app" does not define a "myser" attribute'."""
    module = load_object("my_app.myser", "DUMBWAITER_SERIALIZER")
    assert module is sys.modules["my_app.myser"]
    assert hasattr(module, "serializer")


def test_attributes_still_load(fresh_my_app):
    assert load_object("my_app.utils.function_name", "X")() == {"count": 42}
    import time

    assert load_object("time.time", "X") is time.time


def test_a_missing_attribute_reports_the_attribute(fresh_my_app):
    with pytest.raises(DjworkersImproperlyConfigured) as info:
        load_object("my_app.utils.nope", 'DJWORKERS["X"]')
    assert str(info.value).startswith("DJWORKERS[\"X\"] = 'my_app.utils.nope' cannot be imported")
    assert '"nope" attribute' in str(info.value)


def test_a_broken_module_reports_its_own_import_error(tmp_path, monkeypatch):
    """A module that exists but imports something missing names what is missing, not the path."""
    (tmp_path / "pkgx").mkdir()
    (tmp_path / "pkgx" / "__init__.py").write_text("")
    (tmp_path / "pkgx" / "sub.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DjworkersImproperlyConfigured, match="no_such_dependency_xyz"):
        load_object("pkgx.sub", "S")
    with pytest.raises(DjworkersImproperlyConfigured, match="No module named 'nothere'"):
        load_object("nothere.at.all", "S")


def test_objects_pass_through():
    marker = object()
    assert load_object(marker, "S") is marker
