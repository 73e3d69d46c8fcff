"""A periodic-cache function for tests/test_status.py (imported by dotted path)."""

import time


def clock() -> float:
    return time.time()
