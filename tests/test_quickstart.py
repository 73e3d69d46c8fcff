"""docs/quickstart.rst, followed literally in a new directory (Q1, Q5, Q6, Q9, D1, D5, X4).

The steps come from the page itself (tests/test_docs.py's block parser), so the
doc and this test cannot drift. Everything after the two ``make`` commands is
done as a reader would do it, in order:

* console blocks, line by line, through ``bash`` (``$`` lines are commands and
  the lines after one are output it must print); ``cd``, ``.``/``source`` and
  ``export`` lines carry over to the following commands, as in a terminal, so
  ``python3 -m venv .venv`` and ``. .venv/bin/activate`` make a real virtual
  environment and ``pip install`` installs into it (from the checkout, which the
  page calls ``../djworkers``; its dependencies from the package index);
  ``runserver`` is started and left running, like the reader's first terminal;
* Python and HTML blocks are written to the file their ``:caption:`` names
  (``(append)`` appends); a server that is running is restarted after a
  Python file changes (what runserver's autoreloader does, made deterministic);
* a text block whose caption is ``<url> with <e-mail>`` is the browser step:
  GET the page, fill the form's e-mail field, submit it with its CSRF token and
  cookie, and compare the answer with the block (``...`` matches the job id).

Two substitutions only, so the test can run next to anything else: the web
server listens on a free port instead of 8000, and ``redis://127.0.0.1:6379/0``
is the private redis-server of the test session.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.services import free_port
from tests.test_docs import DOCS, ROOT, code_blocks, console_steps

QUICKSTART = DOCS / "quickstart.rst"
DOC_ADDRESS = "127.0.0.1:8000"
DOC_REDIS = "redis://127.0.0.1:6379/0"
STATEFUL = re.compile(r"^(cd|\.|source|export)\s")


class FormParser(HTMLParser):
    """The first form's method and its inputs' names and values."""

    def __init__(self) -> None:
        super().__init__()
        self.method: str | None = None
        self.inputs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and self.method is None:
            self.method = (values.get("method") or "get").lower()
        elif tag == "input" and values.get("name"):
            self.inputs[values["name"]] = values.get("value") or ""


class Reader:
    """A reader with two terminals (commands, and the web server) and a browser."""

    def __init__(self, home: Path, port: int, redis_url: str):
        self.home, self.port, self.redis_url = home, port, redis_url
        self.prelude: list[str] = []
        self.server: subprocess.Popen | None = None
        self.server_log = home.parent / "runserver.log"
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DJWORKERS_", "PYTHON", "VIRTUAL_ENV"))
        }
        # "python3" is this test's interpreter (a supported Python); the venv it makes is the doc's.
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.cookies = http.cookiejar.CookieJar()
        self.browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def local(self, text: str) -> str:
        return text.replace(DOC_ADDRESS, f"127.0.0.1:{self.port}").replace(DOC_REDIS, self.redis_url)

    def _bash(self, command: str) -> list[str]:
        return ["bash", "-c", "set -e\n" + "\n".join([*self.prelude, command])]

    # -- the command terminal ------------------------------------------------------------
    def run(self, command: str, expected: list[str]) -> None:
        command = self.local(command)
        if command.endswith("manage.py runserver"):
            self.start_server()
            return
        result = subprocess.run(
            self._bash(command), cwd=self.home, env=self.env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"$ {command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        for line in expected:
            line = self.local(line)
            assert line in result.stdout, f"$ {command}: expected {line!r} in\n{result.stdout[-3000:]}"
        if STATEFUL.match(command):
            self.prelude.append(command)

    # -- the server terminal -------------------------------------------------------------
    def start_server(self) -> None:
        command = f"exec python manage.py runserver 127.0.0.1:{self.port}"
        self.server = subprocess.Popen(
            self._bash(command),
            cwd=self.home,
            env=self.env,
            stdout=open(self.server_log, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/admin/login/", timeout=2).read()
                return
            except OSError:
                assert self.server.poll() is None, self.server_log.read_text()[-3000:]
                assert time.monotonic() < deadline, self.server_log.read_text()[-3000:]
                time.sleep(0.3)

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()
        self.server = None

    # -- files -------------------------------------------------------------------------------
    def write(self, caption: str, code: str) -> None:
        name, _, mode = caption.partition(" ")
        target = self.home / name
        if name.endswith(".py"):
            compile(code, name, "exec")
        target.parent.mkdir(parents=True, exist_ok=True)
        code = self.local(code)
        if mode == "(append)":
            target.write_text(target.read_text() + "\n\n" + code)
        else:
            target.write_text(code)
        if self.server is not None and name.endswith(".py"):
            self.stop_server()
            self.start_server()

    # -- the browser -----------------------------------------------------------------------------
    def submit_form(self, caption: str, expected: str) -> None:
        match = re.fullmatch(r"(http://\S+) with (\S+@\S+)", self.local(caption))
        assert match, f"a text block's caption should read '<url> with <e-mail>': {caption!r}"
        url, email = match.groups()
        page = self.browser.open(url, timeout=10).read().decode()
        form = FormParser()
        form.feed(page)
        assert form.method == "post" and "email" in form.inputs, page
        assert form.inputs.get("csrfmiddlewaretoken"), "the form carries no CSRF token:\n" + page
        data = urllib.parse.urlencode({**form.inputs, "email": email}).encode()
        answer = self.browser.open(urllib.request.Request(url, data=data), timeout=10).read().decode()
        pattern = re.escape(expected.strip()).replace(re.escape("..."), "[0-9a-f]{32}")
        assert re.fullmatch(pattern, answer.strip()), f"{url}: expected {expected.strip()!r}, got {answer!r}"


@pytest.mark.slow
def test_quickstart_followed_literally_gives_working_views(tmp_path, redis_server, redis):
    """A venv, the install, startproject, each file and command of the page as written;
    the form posts with its CSRF token, a consumer confirms the order, the views answer as shown;
    then the Redis variant does the same through the private redis-server."""
    redis.config_resetstat()  # so the command counts below are this test's
    (tmp_path / "djworkers").symlink_to(ROOT)
    home = tmp_path / "mysite"
    home.mkdir()
    reader = Reader(home, free_port(), redis_server.url)
    done = {"console": 0, "file": 0, "form": 0}
    try:
        for block in code_blocks(QUICKSTART)[2:]:  # the first two are `make demo` and `make test`
            language, caption = block["language"], block["caption"]
            if language == "console":
                for command, expected in console_steps(block["code"]):
                    reader.run(command, expected)
                    done["console"] += 1
            elif language in ("python", "html"):
                assert caption, f"a {language} block of the quickstart needs a :caption: naming its file"
                reader.write(caption, block["code"])
                done["file"] += 1
            elif language == "text":
                reader.submit_form(caption, block["code"])
                done["form"] += 1
            else:
                pytest.fail(f"quickstart block in {language!r} is not executed by this test")
    finally:
        reader.stop_server()
    assert done["console"] >= 15 and done["file"] >= 9 and done["form"] == 2, done
    # The Redis variant really went through this server: the queue's scripts ran here.
    assert redis.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0) > 0
