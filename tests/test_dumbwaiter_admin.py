"""Admin for cached values (D8, X5): list with age/size/last error, history and tracebacks, "Refresh now"."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import caches
from django.urls import reverse

from djworkers import dumbwaiter
from djworkers.dumbwaiter.models import CachedError, CachedFunction, CachedValue

F = "tests.testapp.dumbwaiter_functions"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def functions(settings):
    caches["default"].clear()
    settings.DJWORKERS = {**settings.DJWORKERS, "DUMBWAITER": {"FUNCTIONS": [
        {"function": f"{F}.add", "name": "total", "args": [40, 2], "frequency": 30},
        {"function": f"{F}.explode", "name": "broken", "args": ["<disk> full"]},
    ]}}
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


def test_refresh_now_action_runs_through_the_runner(admin_client):
    """D8: the action computes the value (stored in DB and cache) and records failures with their traceback."""
    url = reverse("admin:djworkers_cachedfunction_changelist")
    admin_client.get(url)
    response = admin_client.post(url, {
        "action": "refresh_now", "_selected_action": list(CachedFunction.objects.values_list("pk", flat=True)),
    }, follow=True)
    html = response.content.decode()
    assert "Refreshed total." in html and "Could not refresh broken" in html
    assert dumbwaiter.get_value("total") == 42
    assert CachedValue.objects.filter(function_id="total").count() == 1
    assert CachedError.objects.filter(function_id="broken").count() == 1
    assert "Boom: &lt;disk&gt; full" in html  # last error shown, escaped


def test_refresh_now_refuses_a_running_function(admin_client):
    dumbwaiter.refresh("total")
    row = CachedFunction.objects.get(name="total")
    row.running_until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    row.running_on = "web-7:1234"
    row.save()
    response = admin_client.post(reverse("admin:djworkers_cachedfunction_changelist"), {
        "action": "refresh_now", "_selected_action": [row.pk]}, follow=True)
    assert "web-7:1234" in response.content.decode()
    assert CachedValue.objects.filter(function_id="total").count() == 1


def test_change_page_shows_values_and_error_tracebacks(admin_client):
    """D4/D8: stored values (preview) and errors with the full traceback are visible."""
    dumbwaiter.refresh("total")
    dumbwaiter.refresh("broken")
    page = admin_client.get(reverse("admin:djworkers_cachedfunction_change",
                                    args=[CachedFunction.objects.get(name="total").pk]))
    assert page.status_code == 200 and ">42<" in page.content.decode()
    page = admin_client.get(reverse("admin:djworkers_cachedfunction_change",
                                    args=[CachedFunction.objects.get(name="broken").pk]))
    html = page.content.decode()
    assert "Traceback (most recent call last)" in html and "in explode" in html
