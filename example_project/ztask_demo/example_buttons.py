"""The ztask door's buttons on the home page (see ``demo/buttons.py``)."""

from __future__ import annotations

import time

from demo.buttons import button

from . import tasks


@button("ztask-email", "Send a thank-you email (.delay)", door="ztask")
def email(run):
    return tasks.send_thank_you.delay(run.pk, f"user{run.pk}@example.com")


@button("ztask-reminder", "Reminder in 5 s (.after)", door="ztask")
def reminder(run):
    return tasks.reminder.after(5, run.pk, time.time())


@button("ztask-flaky", "Flaky sync (fails twice, retried)", door="ztask")
def flaky(run):
    return tasks.flaky_sync.delay(run.pk)
