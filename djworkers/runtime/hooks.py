"""Hooks around the executor (the middleware idea from Dramatiq).

A hook is an object with any of these methods; the base class does nothing, so
a hook overrides only what it needs. Hooks must not raise: an exception in a
hook is logged and ignored, so an observer can never lose a job.
"""

from __future__ import annotations

import logging
from typing import Any

from ..messages import Message

logger = logging.getLogger("djworkers.runtime")


class Hook:
    def before_job(self, message: Message) -> None:
        """Called in the worker thread just before the job function runs."""

    def after_job(self, message: Message, result: Any, duration: float) -> None:
        """Called after the job function returned ``result``."""

    def on_retry(self, message: Message, exc: BaseException, eta: float) -> None:
        """Called when the job raised and will run again at ``eta``."""

    def on_failure(self, message: Message | None, exc: BaseException | None, traceback: str) -> None:
        """Called when the job failed for good (or its frame could not be decoded)."""


def call_hooks(hooks: list[Hook], method: str, *args: Any) -> None:
    for hook in hooks:
        try:
            getattr(hook, method)(*args)
        except Exception:
            logger.exception("djworkers hook %r.%s raised; ignored", hook, method)
