"""The docs: they build with ``sphinx -W``; every code block of the quickstart runs;
the settings reference and the migration table match ``djworkers.conf``.

The quickstart is executed, not just parsed: tests/test_quickstart.py follows
its project steps literally in a temp directory (with this module's block
parser). ``make demo`` is started for real
on a free port and stopped with Ctrl-C; ``make test`` runs with a small
PYTEST_ARGS so the suite does not recurse into itself.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from djworkers import conf
from tests.example_server import example_env, wait_for_http
from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


# -- reading reStructuredText code blocks ------------------------------------------------
def code_blocks(path: Path) -> list[dict]:
    """``[{"language", "caption", "code"}]`` for every ``.. code-block::`` in ``path``, in order."""
    lines = path.read_text().splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        match = re.match(r"^(\s*)\.\. code-block:: (\S+)\s*$", lines[index])
        if not match:
            index += 1
            continue
        indent, language = len(match.group(1)), match.group(2)
        index += 1
        caption = None
        while index < len(lines) and re.match(r"^\s+:\w+:", lines[index]):
            option = re.match(r"^\s+:(\w+):\s*(.*)$", lines[index])
            if option.group(1) == "caption":
                caption = option.group(2).strip()
            index += 1
        body = []
        while index < len(lines) and (
            not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > indent
        ):
            body.append(lines[index])
            index += 1
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        width = min((len(line) - len(line.lstrip()) for line in body if line.strip()), default=0)
        blocks.append(
            {"language": language, "caption": caption, "code": "\n".join(line[width:] for line in body) + "\n"}
        )
    return blocks


def console_steps(code: str) -> list[tuple[str, list[str]]]:
    """``[(command, expected output lines)]`` of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:].strip(), []))
        elif line.strip() and steps:
            steps[-1][1].append(line.strip())
    return steps


# -- the Sphinx build ----------------------------------------------------------------------
@pytest.mark.slow
def test_sphinx_build_with_warnings_as_errors(tmp_path):
    """The docs build with -W (every toctree page exists, no broken refs)."""
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path / "html")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "html" / "quickstart.html").exists()


# -- the settings reference and the migration table ----------------------------------------
def flat_defaults() -> dict[str, object]:
    flat = {}
    for key, value in conf.defaults().items():
        if isinstance(value, dict):
            for sub, default in value.items():
                flat[conf.new_name(key, sub)] = default
        else:
            flat[conf.new_name(None, key)] = value
    return flat


def documented_settings() -> dict[str, dict]:
    """Each ``DJWORKERS[...]`` heading of settings.rst with its ``Default:`` and ``Old name`` lines."""
    text = (DOCS / "settings.rst").read_text()
    entries = {}
    pattern = re.compile(r"^``(DJWORKERS\[[^`]+\])``\n[~^-]+\n(.*?)(?=^``DJWORKERS\[|\Z)", re.M | re.S)
    for match in pattern.finditer(text):
        body = match.group(2)
        default = re.search(r"^Default: ``(.+?)``", body, re.M)
        old = re.search(r"^Old names?: (.+)$", body, re.M)
        entries[match.group(1)] = {
            "default": default.group(1) if default else None,
            "old": re.findall(r"``(\w+)``", old.group(1)) if old else [],
        }
    return entries


def test_settings_reference_matches_conf_defaults():
    """X1: settings.rst documents exactly the core's and every door's keys, each with its true default."""
    documented = documented_settings()
    expected = flat_defaults()
    assert sorted(set(expected) - set(documented)) == [], "undocumented settings"
    assert sorted(set(documented) - set(expected)) == [], "documented settings that do not exist"
    import pickle

    for name, default in expected.items():
        text = documented[name]["default"]
        assert text is not None, f"{name}: no 'Default: ``...``' line"
        value = eval(text, {"pickle": pickle})  # literals, plus pickle.HIGHEST_PROTOCOL
        if isinstance(default, tuple) and isinstance(value, (list, tuple)):
            value = tuple(value)
        assert value == default, f"{name}: documented default {text} != {default!r}"


def test_settings_reference_names_every_legacy_setting():
    documented = documented_settings()
    listed = {old: name for name, entry in documented.items() for old in entry["old"]}
    expected = {old: conf.new_name(*target) for old, target in conf.legacy_settings().items()}
    assert listed == expected


def migration_table() -> dict[str, str]:
    """Rows of the settings table in migration.rst: old flat name -> new key."""
    text = (DOCS / "migration.rst").read_text()
    section = text.split(".. _migration-settings-table:", 1)[1]
    table = section.split(".. list-table::", 1)[1].split("\n\n\n", 1)[0]
    rows = {}
    for old, new in re.findall(r"^\s+\* - ``(\w+)``\n\s+- ``(DJWORKERS\[[^`]+\])``", table, re.M):
        rows[old] = new
    return rows


def test_migration_table_maps_every_old_name():
    """X1: one table maps every old flat name to its new key, as the doors declare them."""
    expected = {old: conf.new_name(*target) for old, target in conf.legacy_settings().items()}
    assert migration_table() == expected


def test_guarantees_cite_tests_that_exist():
    """Every test named in guarantees.rst exists (so the page cannot cite a deleted proof)."""
    text = (DOCS / "guarantees.rst").read_text()
    cited = re.findall(r"``(tests/test_\w+\.py)::(\w+)(?:::(\w+))?``", text)
    assert cited, "guarantees.rst cites no tests"
    for path, first, second in cited:
        source = (ROOT / path).read_text()
        tree = ast.parse(source)
        names = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        for name in filter(None, (first, second)):
            assert name in names, f"guarantees.rst cites {path}::{name}, which does not exist"


# -- the quickstart, executed -----------------------------------------------------------------
def quickstart_blocks() -> list[dict]:
    return code_blocks(DOCS / "quickstart.rst")


def test_quickstart_opens_with_the_two_commands():
    blocks = quickstart_blocks()
    assert [console_steps(b["code"]) for b in blocks[:2]] == [[("make demo", [])], [("make test", [])]]
    readme = (ROOT / "README.rst").read_text()
    first_blocks = code_blocks(ROOT / "README.rst")[:1]
    assert first_blocks and console_steps(first_blocks[0]["code"]) == [("make demo", []), ("make test", [])]
    assert readme.index("make demo") < 600, "README.rst must open with the two commands"


# The project steps of the quickstart (everything after the two make commands) run in
# tests/test_quickstart.py.


@pytest.mark.slow
def test_quickstart_make_demo_starts_and_stops_on_ctrl_c(tmp_path):
    """`make demo` migrates, prints the demo user, serves the example project with a consumer,
    a runner and ztaskd, and Ctrl-C (SIGINT to the foreground group, as a terminal sends it) stops it all."""
    port = free_port()
    env = example_env(tmp_path)
    env["DEMO_ADDR"] = f"127.0.0.1:{port}"
    log = tmp_path / "make-demo.log"
    process = subprocess.Popen(
        ["make", "demo"], cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", process, log, timeout=120)
        wait_for_http(f"http://127.0.0.1:{port}/state.json", process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    output = log.read_text()
    # make itself dies of the SIGINT it got (as in a terminal); what matters is that the
    # group it started shut down cleanly and left no process behind.
    assert code in (0, -signal.SIGINT, 2, 130), output[-3000:]
    assert "user 'demo', password 'demo'" in output
    assert f"http://127.0.0.1:{port}/" in output
    for name in ("dumbwaiter", "queue", "ztaskd", "web"):
        assert re.search(rf"^ *{name} \| stopped$", output, re.M), output[-3000:]
    pids = [int(pid) for pid in re.findall(r"\| started \(pid (\d+)\)", output)]
    assert len(pids) == 4
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.slow
def test_quickstart_make_test_target_runs(tmp_path):
    """`make test` runs pytest through the venv (here on one small file, not the whole suite,
    which is what is running this test)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DJWORKERS_DB", "DJWORKERS_TEST"))}
    # Two database tests, so both the SQLite and the PostgreSQL pass have something to run.
    env["PYTEST_ARGS"] = "-q -p no:cacheprovider tests/test_status.py -k 'json_schema or healthy_exit'"
    result = subprocess.run(["make", "test"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)


@pytest.mark.slow
def test_make_test_runs_both_passes_when_the_first_fails(tmp_path):
    """A failing SQLite pass does not stop `make test` before the PostgreSQL pass; the last line
    reports lint and both passes, and the exit status is non-zero."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DJWORKERS_DB", "DJWORKERS_TEST"))}
    failing = tmp_path / "test_fails_everywhere.py"
    failing.write_text(
        "import pytest\n\npytestmark = pytest.mark.postgres\n\n\n"
        "def test_fails():\n    assert False, 'FAILS-ON-PURPOSE'\n"
    )
    env["PYTEST_ARGS"] = f"-q -p no:cacheprovider --rootdir {ROOT} {failing}"
    result = subprocess.run(["make", "test"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("make test: lint "), result.stdout[-3000:]
    assert "; SQLite pass FAILED; PostgreSQL pass " in summary, result.stdout[-3000:]
    postgres_up = (
        subprocess.run([sys.executable, str(ROOT / "tests" / "postgres_available.py")], capture_output=True).returncode
        == 0
    )
    if postgres_up:
        assert summary.endswith("PostgreSQL pass FAILED")
        assert result.stdout.count("1 failed") == 2, result.stdout[-3000:]  # both passes ran it
    else:
        assert summary.endswith("PostgreSQL pass skipped (no server on 127.0.0.1:5432)")


# -- the features page: every cited id resolves inside the repository -------------------------
FEATURE_ID = re.compile(r"(?<![\w.-])([DQGZSTX](?:1[0-9]|[1-9]))(?![\w-])")


def feature_page() -> tuple[set[str], list[str]]:
    """The ids listed on docs/features.rst and the tests it names."""
    text = (DOCS / "features.rst").read_text()
    ids = set(re.findall(r"^\.\. _feature-(\w+):$", text, re.M))
    tests = re.findall(r"``(tests/test_\w+\.py)::(\w+)``", text)
    return ids, tests


def test_every_cited_feature_id_is_on_the_features_page():
    """Code, tests and docs cite ids like Q8 or X2: each one must be explained in docs/features.rst."""
    listed, _ = feature_page()
    sources = [
        *ROOT.glob("djworkers/**/*.py"),
        *ROOT.glob("tests/**/*.py"),
        *ROOT.glob("benchmarks/**/*.py"),
        *(p for p in DOCS.glob("*.rst") if p.name != "features.rst"),
    ]
    cited: dict[str, str] = {}
    for path in sources:
        if any(part.startswith(".venv") for part in path.relative_to(ROOT).parts):
            continue  # the benchmark peers' own virtualenv
        for match in FEATURE_ID.finditer(path.read_text()):
            cited.setdefault(match.group(1), str(path.relative_to(ROOT)))
    missing = {i: where for i, where in cited.items() if i not in listed}
    assert not missing, f"ids cited but not on docs/features.rst: {missing}"


def test_features_page_names_tests_that_exist():
    _, tests = feature_page()
    assert tests, "docs/features.rst names no tests"
    for path, name in tests:
        source = (ROOT / path).read_text()
        names = {
            node.name
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        assert name in names, f"docs/features.rst cites {path}::{name}, which does not exist"
