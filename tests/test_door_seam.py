"""The door seam: a front door defined only in the tests plugs into every core table.

tests/testapp/door.py declares a "file" door (its settings section, old name,
check, status section, worker command, autodiscovered module and a replayable
transport over a directory). Named in ``DJWORKERS["DOORS"]``, it must show up
in checks, ``djworkers_status`` (text and JSON), the admin dashboard,
``djworkers_run``, replay and ``djworkers_settings``, with no core file edited.
The checks and autodiscovery halves are in tests/test_checks.py and
tests/test_registry.py.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from djworkers import doors
from djworkers.messages import Message, decode
from djworkers.models import FailedJob
from djworkers.runtime.executor import Executor
from tests.utils import run

pytestmark = pytest.mark.django_db


def test_builtin_doors_describe_themselves():
    names = [door.name for door in doors.all_doors()]
    assert names[:2] == ["dumbwaiter", "queue"]
    queue = doors.get_door("queue")
    assert queue.replayable and not doors.get_door("dumbwaiter").replayable
    assert [w.argv for w in queue.workers()] == [("queue_consumer",)]


def test_status_text_and_json_show_the_door(file_door):
    Executor("file").run(Message("core.not_registered_anywhere"))  # one failed job of the door
    file_door.put(b"frame")
    out = StringIO()
    call_command("djworkers_status", "--json", stdout=out)
    data = json.loads(out.getvalue())
    (section,) = [s for s in data["sections"] if s["door"] == "file"]
    assert section["rows"] == [{"waiting": 1, "leased": 0}]
    failed = [s for s in data["sections"] if s["door"] == "failed"][0]
    assert {"door": "file", "backend": "", "reason": "unknown-job", "count": 1} in failed["rows"]
    text = StringIO()
    call_command("djworkers_status", stdout=text)
    assert "Files" in text.getvalue() and "Waiting" in text.getvalue()


def test_admin_dashboard_shows_the_door(file_door, admin_client):
    response = admin_client.get("/admin/djworkers/dashboard/")
    assert response.status_code == 200
    assert "Files" in response.content.decode()
    data = admin_client.get("/admin/djworkers/dashboard/?format=json").json()
    assert any(s["door"] == "file" for s in data["sections"])


def test_djworkers_run_offers_and_starts_the_doors_worker(file_door, tmp_path):
    from djworkers.management.commands.djworkers_run import Command

    text = Command().create_parser("manage.py", "djworkers_run").format_help()
    assert "--files" in text and 'files (when DJWORKERS["FILEDOOR"]["DIR"] is set)' in " ".join(text.split())
    done = tmp_path / "done"
    from djworkers.messages import encode

    file_door.put(encode(Message("core.touch", args=(str(done),))))
    settings = {
        "DJWORKERS": {
            "WORKER": {"SHUTDOWN_TIMEOUT": 5, "HEARTBEAT_INTERVAL": 1},
            "STATS": {"ENABLED": False},
            "DOORS": ["tests.testapp.door.door"],
            "FILEDOOR": {"DIR": str(file_door.root)},
        }
    }
    result = run(["djworkers_run", "--files"], settings=settings, timeout=120)
    # The burst worker drains the directory and exits 0; the group then stops.
    assert done.exists(), result.stdout + result.stderr
    assert "files |" in result.stdout


def test_replay_hands_a_failed_job_back_to_the_door(file_door):
    message = Message("core.not_registered_anywhere", queue="files")
    Executor("file", "directory").run(message)
    failed = FailedJob.objects.get(job_id=message.id)
    assert (failed.door, failed.backend) == ("file", "directory")
    out = StringIO()
    call_command("djworkers_failed", "--replay", str(failed.pk), "-v", "2", stdout=out)
    assert "on file" in out.getvalue()
    (frame,) = file_door.waiting()
    assert decode(frame.read_bytes()).id == message.id


def test_settings_reference_lists_the_doors_keys(file_door):
    out = StringIO()
    call_command("djworkers_settings", "--json", stdout=out)
    rows = {row["setting"]: row for row in json.loads(out.getvalue())}
    row = rows['DJWORKERS["FILEDOOR"]["DIR"]']
    assert (row["owner"], row["default"], row["value"], row["old_names"]) == (
        "file",
        None,
        str(file_door.root),
        ["FILEDOOR_DIR"],
    )
    assert rows['DJWORKERS["QUEUE"]["BACKEND"]']["owner"] == "queue"
