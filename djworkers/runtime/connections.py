"""Database connection hygiene around jobs.

Long-running workers must not reuse a connection the server has dropped (a
database restart, an idle timeout). Django does this per request; we do it per
job. A connection inside an atomic block is left alone: closing it would break
the caller's transaction (an eager job run inside a view's ``ATOMIC_REQUESTS``).
"""

from django.db import connections


def close_stale_connections() -> None:
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def close_all_connections() -> None:
    """Before fork: children must open their own connections."""
    connections.close_all()
