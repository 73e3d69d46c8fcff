"""The home page's "enqueue" buttons, collected from every example app.

Each front door's example app declares its buttons in an ``example_buttons.py``
module (the queue door's are in ``demo/example_buttons.py``); the home page
shows them grouped by door, and the ``enqueue`` view runs the chosen one. A
new door adds its app and that module; nothing here changes.

A button's function gets a fresh :class:`~demo.models.JobRun` and enqueues a
job that reports on it (``run_id=run.pk``); it returns whatever handle its
front door gives back (with an ``id`` if it has one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import autodiscover_modules


@dataclasses.dataclass(frozen=True)
class Button:
    kind: str
    label: str
    door: str
    enqueue: Callable[[Any], Any]


BUTTONS: dict[str, Button] = {}

#: Labels of runs that no button starts (periodic jobs record themselves).
OTHER_LABELS = {"periodic": "Periodic job (every minute)"}


def button(kind: str, label: str, door: str) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register ``func(run)`` as the button ``kind`` of ``door``."""

    def register(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if kind in BUTTONS and BUTTONS[kind].enqueue is not func:
            raise ValueError(f"example button {kind!r} is declared twice")
        BUTTONS[kind] = Button(kind, label, door, func)
        return func

    return register


def discover() -> None:
    autodiscover_modules("example_buttons")


def label_for(kind: str) -> str:
    found = BUTTONS.get(kind)
    return found.label if found else OTHER_LABELS.get(kind, kind)


def by_door() -> list[tuple[str, list[Button]]]:
    doors: dict[str, list[Button]] = {}
    for item in BUTTONS.values():
        doors.setdefault(item.door, []).append(item)
    return list(doors.items())
