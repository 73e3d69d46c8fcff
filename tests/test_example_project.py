"""The example project on the servers a production site would use, chosen by environment
variables (DJWORKERS_EXAMPLE_QUEUE=redis, DATABASE_URL=postgres://...), and its settings
helper. The SQLite/database-queue default is exercised by tests/test_browser.py."""

from __future__ import annotations

import importlib.util
import json
import uuid

import pytest

from tests.example_server import EXAMPLE, example_env, manage
from tests.services import missing


def test_database_url_parsing():
    spec = importlib.util.spec_from_file_location("example_settings", EXAMPLE / "example_project" / "settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    database_from_url = module.database_from_url

    pg = database_from_url("postgres://app:s%40cret@db.example:6543/shop")
    assert pg == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "shop",
        "USER": "app",
        "PASSWORD": "s@cret",
        "HOST": "db.example",
        "PORT": "6543",
    }
    assert database_from_url("sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"
    with pytest.raises(ValueError, match="unsupported scheme 'mysql'"):
        database_from_url("mysql://root@localhost/x")


@pytest.fixture
def postgres_database():
    """A fresh database on the test PostgreSQL server, dropped afterwards."""
    try:
        import psycopg

        admin = psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True, connect_timeout=3
        )
    except Exception as exc:
        missing(f"PostgreSQL on 127.0.0.1:5432 ({exc})")
    name = f"djworkers_example_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.slow
def test_example_project_on_redis_and_postgresql(tmp_path, redis_server, redis, postgres_database):
    """A button's job, enqueued through the example's code, travels through Redis and is run
    by a real queue_consumer against PostgreSQL; status reports the Redis backend."""
    env = example_env(tmp_path)
    env.update(
        DJWORKERS_EXAMPLE_QUEUE="redis", DJWORKERS_EXAMPLE_REDIS_URL=redis_server.url, DATABASE_URL=postgres_database
    )
    for args in (["check"], ["migrate", "--noinput"]):
        result = manage(args, env)
        assert result.returncode == 0, result.stdout + result.stderr
    enqueue = (
        "from demo.buttons import BUTTONS; from demo.models import JobRun; "
        "run = JobRun.objects.create(kind='upload'); BUTTONS['upload'].enqueue(run); print(run.pk)"
    )
    result = manage(["shell", "-c", enqueue], env)
    assert result.returncode == 0, result.stderr
    run_id = int(result.stdout.split()[-1])  # Django 6 shell may print an imports note first
    assert redis.keys("*"), "nothing was written to Redis"

    status = manage(["djworkers_status", "--json"], env)
    data = json.loads(status.stdout)
    queue = next(s for s in data["sections"] if s["door"] == "queue")
    assert queue["title"] == "Queue (redis backend)"
    assert queue["rows"][0]["ready"] == 1

    result = manage(["queue_consumer", "--burst", "--no-periodic"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    check = manage(
        [
            "shell",
            "-c",
            f"from demo.models import JobRun; r = JobRun.objects.get(pk={run_id}); print(r.status, r.result)",
        ],
        env,
    )
    assert check.stdout.splitlines()[-1].startswith("done upload-"), check.stdout + check.stderr
    status = manage(["djworkers_status", "--json"], env)
    queue = next(s for s in json.loads(status.stdout)["sections"] if s["door"] == "queue")
    assert queue["rows"][0]["ready"] == 0


def test_example_project_checks_clean(tmp_path):
    """The example project passes `manage.py check` with its defaults (no W001 legacy-name noise)."""
    result = manage(["check", "--fail-level", "WARNING"], example_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_tornado_example_awaits_queries_through_http_and_thread_workers(tmp_path):
    """S2, S3: ``djworkers_run --all`` starts ``run_tornado_example`` when enabled; its handler awaits
    postponed queries on the demo's models through the http worker (this Django server's endpoint)
    and the thread worker, and the home page's slacker button shows the answer."""
    import http.cookiejar
    import urllib.error
    import urllib.request

    from tests.example_server import ExampleServer, wait_for_http
    from tests.services import free_port

    server = ExampleServer(tmp_path)
    tornado_port = free_port()
    tornado = f"http://127.0.0.1:{tornado_port}"
    server.env.update(DJWORKERS_EXAMPLE_TORNADO_PORT=str(tornado_port), DJWORKERS_EXAMPLE_DJANGO_URL=server.url)
    result = manage(["migrate", "--noinput"], server.env)
    assert result.returncode == 0, result.stdout + result.stderr
    create = "from demo.models import Upload; print(Upload.objects.create(name='poem.txt', text='a\\nb').pk)"
    result = manage(["shell", "-c", create], server.env)
    upload_pk = int(result.stdout.split()[-1])
    server.start()
    try:
        wait_for_http(tornado + "/", server.process, server.log)
        with urllib.request.urlopen(tornado + "/uploads.json", timeout=30) as response:
            data = json.load(response)
        assert data["http"]["newest"] == [{"id": upload_pk, "name": "poem.txt", "words": None}]
        assert data["thread"] == {"count": 1, "lookup": {"id": upload_pk, "name": "poem.txt", "lines": None}}
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{tornado}/uploads/{upload_pk + 100}.json", timeout=30)
        assert info.value.code == 404 and b"DoesNotExist" in info.value.read()

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        home = opener.open(server.url + "/", timeout=30).read().decode()
        assert 'id="enqueue-tornado"' in home and "Offload (slacker)" in home
        jar = next(h.cookiejar for h in opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor))
        token = next(c.value for c in jar if c.name == "csrftoken")
        request = urllib.request.Request(
            server.url + "/enqueue/tornado/", method="POST", headers={"X-CSRFToken": token}
        )
        run = json.load(opener.open(request, timeout=30))["run"]
        assert run["status"] == "done", run
        assert "http worker: newest poem.txt; thread worker: 1 uploads" in run["result"]
    finally:
        server.stop()


@pytest.mark.slow
def test_example_project_django_task_button(tmp_path):
    """T1: the demo's "Django task" button enqueues a django.tasks @task through djworkers' TASKS backend;
    a burst queue_consumer runs it and get_result (another process) says SUCCESSFUL."""
    from djworkers.tasks import compat

    if not compat.AVAILABLE:
        pytest.skip(compat.MISSING)
    env = example_env(tmp_path)
    result = manage(["migrate", "--noinput"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    enqueue = (
        "from demo.buttons import BUTTONS; from demo.models import JobRun; "
        "run = JobRun.objects.create(kind='django-task'); print(run.pk, BUTTONS['django-task'].enqueue(run).id)"
    )
    result = manage(["shell", "-c", enqueue], env)
    assert result.returncode == 0, result.stderr
    run_id, task_id = result.stdout.split()[-2:]
    result = manage(["queue_consumer", "--burst", "--no-periodic"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    check = manage(
        [
            "shell",
            "-c",
            f"from demo.tasks import count_letters as t; from demo.models import JobRun; "
            f"r = t.get_result({task_id!r}); print(r.status, r.return_value['task_result_id'], "
            f"JobRun.objects.get(pk={run_id}).status)",
        ],
        env,
    )
    assert check.stdout.split()[-3:] == ["SUCCESSFUL", task_id, "done"], check.stdout + check.stderr
