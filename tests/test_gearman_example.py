"""The example project's Gearman app (G9): django-gearman's ``gearman_example`` with its client
command, run as its README says (a worker in one shell, the client in another)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.example_server import EXAMPLE, example_env, manage
from tests.utils import stop, wait_until

pytestmark = pytest.mark.slow


def test_example_worker_and_client(tmp_path, gearmand_server):
    env = example_env(tmp_path)
    env["DJWORKERS_EXAMPLE_GEARMAN"] = gearmand_server.address
    result = manage(["migrate", "--noinput"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "gearman_worker", "-w", "2"],
        cwd=EXAMPLE,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: log.read_text().count("connected to gearmand") >= 2, timeout=60)
        result = manage(["gearman_example_client"], env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Result: .god yzal eht revo spmuj xof nworb kciuq ehT" in result.stdout
        assert "Background job submitted: H:" in result.stdout
        wait_until(lambda: "Counting: 4" in log.read_text(), timeout=30)

        press = (
            "from demo.buttons import BUTTONS; from demo.models import JobRun; "
            "run = JobRun.objects.create(kind='gearman-reverse'); BUTTONS['gearman-reverse'].enqueue(run); "
            "run.refresh_from_db(); print(run.status, run.result)"
        )
        result = manage(["shell", "-c", press], env)
        assert result.stdout.splitlines()[-1].startswith("done neve ro ddo reven"), result.stdout + result.stderr

        page = (
            "from django.test import RequestFactory; from demo import views; import json; "
            "request = RequestFactory().get('/'); "
            "html = views.home(request).content.decode(); "
            "state = json.loads(views.state(RequestFactory().get('/state.json')).content); "
            "print('button' if 'enqueue-gearman-counting' in html else 'no button', "
            "json.dumps(state['gearman']['rows']))"
        )
        result = manage(["shell", "-c", page], env)
        last = result.stdout.splitlines()[-1]
        assert last.startswith("button "), result.stdout + result.stderr  # the card's button...
        card = {row["function"]: row for row in json.loads(last[len("button ") :])}
        assert card["gearman_example.background_counting"]["workers"] == 2  # ...and the card's rows

        status = json.loads(manage(["djworkers_status", "--json"], env).stdout)
        section = next(s for s in status["sections"] if s["door"] == "gearman")
        rows = {row["function"]: row for row in section["rows"]}
        assert rows["gearman_example.reverse"]["workers"] == 2
    finally:
        assert stop(worker) == 0, log.read_text()
