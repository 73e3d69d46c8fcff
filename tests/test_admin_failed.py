"""FailedJob admin (X5): list, search, filter, detail, replay and delete actions.

Why: the failed-job store is where an operator looks first; it must render
real rows (made by the executor and by quarantine) and its actions must do
what they say, through the Django test client as a superuser would.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from djworkers.exceptions import BadSignature
from djworkers.messages import Message, decode
from djworkers.models import FailedJob
from djworkers.runtime.executor import Executor
from djworkers.runtime.failures import quarantine
from tests.testapp import core_jobs  # noqa: F401  (registers core.fail_if_exists)

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:djworkers_failedjob_changelist"


@pytest.fixture
def admin_client_(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", None)  # no hashing: force_login
    client.force_login(user)
    return client


@pytest.fixture
def rows(tmp_path):
    flag = tmp_path / "broken"
    flag.write_text("x")
    made = {}
    for name, queue in [("reports", "reports"), ("mail", "mail")]:
        message = Message("core.fail_if_exists", args=(str(flag), str(tmp_path / name)), queue=queue)
        Executor("file").run(message)
        made[name] = FailedJob.objects.get(job_id=message.id)
    Executor("file").run(Message("core.not_registered_anywhere", queue="mail"))
    made["unknown"] = FailedJob.objects.get(name="core.not_registered_anywhere")
    made["quarantined"] = quarantine(BadSignature("forged", raw=b"\x80\x04evil"), door="file", queue="mail")
    flag.unlink()
    return made


def test_changelist_lists_searches_and_filters(admin_client_, rows):
    url = reverse(CHANGELIST)
    page = admin_client_.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert text.count("core.fail_if_exists") >= 2 and "core.not_registered_anywhere" in text
    assert "4 failed jobs" in text

    found = admin_client_.get(url, {"q": "not_registered"}).content.decode()
    assert "core.not_registered_anywhere" in found and "1 failed job" in found

    by_reason = admin_client_.get(url, {"reason__exact": "unknown-job"}).content.decode()
    assert "1 failed job" in by_reason
    by_queue = admin_client_.get(url, {"queue__exact": "mail"}).content.decode()
    assert "3 failed jobs" in by_queue
    by_name = admin_client_.get(url, {"name__exact": "core.fail_if_exists"}).content.decode()
    assert "2 failed jobs" in by_name


def test_detail_shows_traceback_and_frame_size(admin_client_, rows):
    failed = rows["reports"]
    page = admin_client_.get(reverse("admin:djworkers_failedjob_change", args=[failed.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Traceback (most recent call last)" in text and "RuntimeError" in text
    size = len(bytes(failed.raw))
    assert re.search(rf"Frame size \(bytes\):</label>\s*<div class=\"readonly\">{size}</div>", text), text


def test_no_add_page(admin_client_):
    assert admin_client_.get(reverse("admin:djworkers_failedjob_add")).status_code == 403


def test_anonymous_users_are_sent_to_login(client, rows):
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302 and "/login/" in response["Location"]


def _action(client, action: str, pks: list[int], **extra):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [str(pk) for pk in pks], **extra},
        follow=True,
    )


def test_replay_action_hands_jobs_back_to_their_transport(admin_client_, rows, file_door):
    chosen = [rows["reports"], rows["mail"]]
    response = _action(admin_client_, "replay_selected", [f.pk for f in chosen])
    assert response.status_code == 200
    assert "Replayed 2 job(s)." in response.content.decode()
    assert not FailedJob.objects.filter(pk__in=[f.pk for f in chosen]).exists()
    replayed = sorted(decode(p.read_bytes()).id for p in file_door.waiting())
    assert replayed == sorted(f.job_id for f in chosen)


def test_replay_action_refuses_quarantined_frames(admin_client_, rows, file_door):
    bad = rows["quarantined"]
    response = _action(admin_client_, "replay_selected", [bad.pk, rows["mail"].pk])
    text = response.content.decode()
    assert "Replayed 1 job(s)." in text
    assert f"Failed job {bad.pk} is a quarantined frame (bad-signature)" in text
    assert FailedJob.objects.filter(pk=bad.pk).exists()
    assert len(file_door.waiting()) == 1


def test_delete_action(admin_client_, rows):
    pks = [rows["reports"].pk, rows["quarantined"].pk]
    confirm = _action(admin_client_, "delete_selected", pks)
    assert "Are you sure" in confirm.content.decode()
    assert FailedJob.objects.count() == 4  # nothing deleted before confirming
    done = _action(admin_client_, "delete_selected", pks, post="yes")
    assert "Successfully deleted 2 failed jobs" in done.content.decode()
    assert set(FailedJob.objects.values_list("pk", flat=True)) == {rows["mail"].pk, rows["unknown"].pk}


def test_replay_action_reports_a_transport_that_is_down(admin_client_, rows, file_door, monkeypatch):
    """X5: an unreachable transport is a message on the page, not a 500; the row is kept."""
    from tests.testapp.door import FileDoor

    monkeypatch.setattr(FileDoor, "enqueue", transport_down)
    response = _action(admin_client_, "replay_selected", [rows["mail"].pk])
    assert response.status_code == 200
    assert "could not be replayed: ConnectionError: backend down" in response.content.decode()
    assert FailedJob.objects.filter(pk=rows["mail"].pk).exists()


def transport_down(door, message):
    raise ConnectionError("backend down")


def test_change_page_is_read_only_with_a_replay_button_and_an_indented_traceback(admin_client_, rows):
    """X5: no Save buttons on the read-only page; a Replay button; the traceback in a <pre>."""
    failed = rows["reports"]
    text = admin_client_.get(reverse("admin:djworkers_failedjob_change", args=[failed.pk])).content.decode()
    for name in ("_save", "_continue", "_addanother"):
        assert f'name="{name}"' not in text
    replay_url = reverse("admin:djworkers_failedjob_replay", args=[failed.pk])
    assert f'action="{replay_url}"' in text and 'name="replay"' in text
    traceback = re.search(r'<pre class="djw-traceback">(.*?)</pre>', text, re.S).group(1)
    assert traceback.startswith("Traceback (most recent call last):")
    assert re.search(r"^  File &quot;", traceback, re.M), traceback


def test_no_replay_button_for_a_quarantined_frame(admin_client_, rows):
    bad = rows["quarantined"]
    text = admin_client_.get(reverse("admin:djworkers_failedjob_change", args=[bad.pk])).content.decode()
    assert 'name="replay"' not in text


def test_replay_button_replays_that_job(admin_client_, rows, file_door):
    """X5: the change page's button replays one job and returns to the list with a message."""
    failed = rows["mail"]
    url = reverse("admin:djworkers_failedjob_replay", args=[failed.pk])
    assert admin_client_.get(url).status_code == 405  # only the form's POST replays
    response = admin_client_.post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse(CHANGELIST)
    assert "Replayed 1 job(s)." in response.content.decode()
    assert not FailedJob.objects.filter(pk=failed.pk).exists()
    assert [decode(p.read_bytes()).id for p in file_door.waiting()] == [failed.job_id]


def test_replay_button_refusal_stays_on_the_page(admin_client_, rows):
    bad = rows["quarantined"]
    response = admin_client_.post(reverse("admin:djworkers_failedjob_replay", args=[bad.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:djworkers_failedjob_change", args=[bad.pk])
    assert "quarantined frame" in response.content.decode()
    assert FailedJob.objects.filter(pk=bad.pk).exists()


def test_replay_button_needs_change_permission(client, django_user_model, rows):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password=None, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_failedjob"))
    client.force_login(viewer)
    failed = rows["mail"]
    page = client.get(reverse("admin:djworkers_failedjob_change", args=[failed.pk]))
    assert page.status_code == 200 and 'name="replay"' not in page.content.decode()
    assert client.post(reverse("admin:djworkers_failedjob_replay", args=[failed.pk])).status_code == 403
    assert FailedJob.objects.filter(pk=failed.pk).exists()
