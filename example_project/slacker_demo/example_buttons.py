"""The slacker door's button on the home page: ask the Tornado example app, which awaits postponed queries.

Registered only when the Tornado app runs (``DJWORKERS_EXAMPLE_TORNADO_PORT``).
The button's request calls the Tornado app; its handler awaits queries through
the HTTP worker (back into this Django server's ``/slacker/`` endpoint) and the
thread worker, and the answer becomes the run's result.
"""

from __future__ import annotations

import json
import urllib.request

from django.conf import settings

from demo.buttons import button
from demo.models import JobRun


class Answer:
    """What a button returns: the handle the home page records (no job id: nothing was queued)."""

    id = ""


if settings.EXAMPLE_TORNADO_URL:

    @button("tornado", "Ask the Tornado app (awaits postponed queries)", door="Offload (slacker)")
    def ask_tornado(run: JobRun) -> Answer:
        try:
            with urllib.request.urlopen(settings.EXAMPLE_TORNADO_URL + "/uploads.json", timeout=20) as response:
                data = json.load(response)
        except Exception as exc:
            JobRun.objects.filter(pk=run.pk).update(status=JobRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
            return Answer()
        names = ", ".join(u["name"] for u in data["http"]["newest"]) or "no uploads yet"
        result = (
            f"http worker: newest {names}; thread worker: {data['thread']['count']} uploads; "
            f"{data['elapsed_ms']} ms in Tornado"
        )
        JobRun.objects.filter(pk=run.pk).update(status=JobRun.Status.DONE, result=result, attempts=1)
        return Answer()
