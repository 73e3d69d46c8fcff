"""The one retry policy type: count, delay, exponential backoff, jitter."""

from __future__ import annotations

import dataclasses
import random

from .. import conf
from ..registry import Job


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first, waiting ``delay * backoff**n`` (capped).

    ``jitter`` spreads retries of many jobs that failed together (a fraction of
    the delay, added or removed at random) so they do not stampede a recovering
    service.
    """

    retries: int = 0
    delay: float = 10.0
    backoff: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.1

    def should_retry(self, attempt: int) -> bool:
        """``attempt`` is 0 for the first run."""
        return attempt < self.retries

    def delay_for(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``; never more than ``max_delay``."""
        try:
            base = min(self.max_delay, self.delay * (self.backoff**attempt))
        except OverflowError:  # backoff**attempt beyond float range: the cap applies
            base = self.max_delay
        if self.jitter and base:
            base += base * self.jitter * random.uniform(-1.0, 1.0)
        return max(0.0, min(self.max_delay, base))

    @classmethod
    def for_job(cls, job: Job, section: str = "QUEUE") -> RetryPolicy:
        """The job's own options, falling back to the ``DJWORKERS[section]`` defaults."""
        settings = conf.section(section)
        return cls(
            retries=job.retries if job.retries is not None else settings.get("RETRIES", 0),
            delay=job.retry_delay if job.retry_delay is not None else settings.get("RETRY_DELAY", 10.0),
            backoff=job.retry_backoff if job.retry_backoff is not None else settings.get("RETRY_BACKOFF", 2.0),
            max_delay=settings.get("RETRY_MAX_DELAY", 3600.0),
        )
