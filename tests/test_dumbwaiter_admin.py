"""Admin for cached values (D8, X5): list with age/size/last error, history and tracebacks, "Refresh now"."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import caches
from django.urls import reverse

from djworkers import dumbwaiter
from djworkers.dumbwaiter.models import CachedError, CachedFunction, CachedValue
from tests.utils import wait_until

F = "tests.testapp.dumbwaiter_functions"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def functions(settings):
    caches["default"].clear()
    settings.DJWORKERS = {
        **settings.DJWORKERS,
        "DUMBWAITER": {
            "FUNCTIONS": [
                {"function": f"{F}.add", "name": "total", "args": [40, 2], "frequency": 30},
                {"function": f"{F}.explode", "name": "broken", "args": ["<disk> full"]},
            ]
        },
    }
    yield
    caches["default"].clear()


def test_changelist_lists_every_configured_function(admin_client):
    """D8: functions appear even before the runner ran them, with "never computed"."""
    dumbwaiter.refresh("total")
    response = admin_client.get(reverse("admin:djworkers_cachedfunction_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "total" in html and "broken" in html and "never computed" in html and "every 30s" in html
    assert set(CachedFunction.objects.values_list("name", flat=True)) == {"total", "broken"}


@pytest.mark.django_db(transaction=True)
def test_refresh_now_action_requests_and_the_runner_computes(admin_client):
    """D8: the action only records the request (the web request computes nothing); the
    runner's next tick computes it under the run lease, stores the value and the failures."""
    from djworkers.dumbwaiter.runner import Runner

    url = reverse("admin:djworkers_cachedfunction_changelist")
    admin_client.get(url)
    response = admin_client.post(
        url,
        {
            "action": "refresh_now",
            "_selected_action": list(CachedFunction.objects.values_list("pk", flat=True)),
        },
        follow=True,
    )
    html = response.content.decode()
    assert "Refresh requested for broken, total" in html
    assert CachedValue.objects.count() == 0 and CachedError.objects.count() == 0  # not computed here
    assert CachedFunction.objects.filter(refresh_requested_at__isnull=False).count() == 2
    runner = Runner(threaded=False)
    assert sorted(runner.take_refresh_requests()) == ["broken", "total"]
    wait_until(lambda: not runner.running)
    assert runner.stop(timeout=10) == 0
    assert dumbwaiter.get_value("total") == 42
    assert CachedError.objects.filter(function_id="broken").count() == 1
    assert not CachedFunction.objects.filter(refresh_requested_at__isnull=False).exists()
    assert runner.take_refresh_requests() == []  # taken once
    html = admin_client.get(url).content.decode()
    assert "Boom: &lt;disk&gt; full" in html  # last error shown, escaped


@pytest.mark.django_db(transaction=True)
def test_refresh_request_waits_for_a_run_in_progress(admin_client):
    """D8: while another runner holds the run lease, the request is kept, not run beside it."""
    from djworkers.dumbwaiter.runner import Runner

    dumbwaiter.refresh("total")
    row = CachedFunction.objects.get(name="total")
    row.running_until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    row.running_on = "web-7:1234"
    row.save()
    response = admin_client.post(
        reverse("admin:djworkers_cachedfunction_changelist"),
        {"action": "refresh_now", "_selected_action": [row.pk]},
        follow=True,
    )
    assert "Refresh requested for total" in response.content.decode()
    runner = Runner(threaded=False)
    assert runner.take_refresh_requests() == []
    assert CachedFunction.objects.get(name="total").refresh_requested_at is not None  # kept
    CachedFunction.objects.filter(name="total").update(running_until=None, running_on="")
    assert runner.take_refresh_requests() == ["total"]
    wait_until(lambda: not runner.running)
    runner.stop(timeout=10)
    assert CachedValue.objects.filter(function_id="total").count() == 2


def test_change_page_shows_values_and_error_tracebacks(admin_client):
    """D4/D8: stored values (preview) and errors with the full traceback are visible."""
    dumbwaiter.refresh("total")
    dumbwaiter.refresh("broken")
    page = admin_client.get(
        reverse("admin:djworkers_cachedfunction_change", args=[CachedFunction.objects.get(name="total").pk])
    )
    assert page.status_code == 200 and ">42<" in page.content.decode()
    page = admin_client.get(
        reverse("admin:djworkers_cachedfunction_change", args=[CachedFunction.objects.get(name="broken").pk])
    )
    html = page.content.decode()
    assert "Traceback (most recent call last)" in html and "in explode" in html
