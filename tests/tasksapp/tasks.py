"""django.tasks tasks for tests/test_tasks*.py: plain module-level ``@task`` functions, registered nowhere
(this package is not an installed app: the consumer imports them by module path, T1)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from django.core.mail import send_mail

from djworkers.tasks import compat

if compat.AVAILABLE:
    task = compat.tasks_module.task
else:  # the tests skip; the module still imports

    def task(function=None, **options):
        return function if function is not None else (lambda f: f)


@task
def email_users(emails: list[str], subject: str, message: str) -> int:
    """The example of Django's Tasks documentation: returns how many mails went out."""
    return send_mail(subject=subject, message=message, from_email=None, recipient_list=emails)


@task(priority=10)
def calculate_meaning_of_life() -> int:
    return 42


@task
def record(path: str, text: str) -> str:
    """Append ``text`` to the file ``path`` (the order tasks ran in, seen from the test)."""
    with open(path, "a") as handle:
        handle.write(text + "\n")
    return text


@task
def fail(text: str) -> None:
    raise ValueError(f"task failed: {text}")


@task(takes_context=True)
def with_context(context, value: int) -> dict:
    return {
        "id": context.task_result.id,
        "attempt": context.attempt,
        "value": value,
        "status": str(context.task_result.status),
    }


@task
async def add_async(a: int, b: int) -> int:
    await asyncio.sleep(0.01)
    return a + b


@task
def stall_once(marker: str) -> str:
    """The first run writes ``marker`` and hangs (the test SIGKILLs its consumer); later runs return."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        time.sleep(600)
    return "second run"


@task
def stall(marker: str) -> None:
    """Hangs every time, after writing ``marker`` (a consumer killed at each delivery)."""
    Path(marker).write_text(str(os.getpid()))
    time.sleep(600)
