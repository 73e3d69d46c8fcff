"""Database connection hygiene around jobs.

Long-running workers must not reuse a connection the server has dropped (a
database restart, an idle timeout). Django does this per request; we do it per
job. A connection inside an atomic block is left alone: closing it would break
the caller's transaction (an eager job run inside a view's ``ATOMIC_REQUESTS``).
"""

from django.db import connections


def close_stale_connections(ping: bool = False) -> None:
    """Close this thread's connections that errored or outlived ``CONN_MAX_AGE``.

    ``ping`` (used before a job): a connection kept open on purpose (persistent
    ``CONN_MAX_AGE``) is also asked whether it still answers, and closed if the
    server went away meanwhile (restart, idle timeout, ``pg_terminate_backend``),
    so the job gets a fresh connection instead of an OperationalError. With
    ``CONN_HEALTH_CHECKS`` on, Django does that check itself on first use.
    """
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            continue
        conn.close_if_unusable_or_obsolete()
        if (
            ping
            and conn.connection is not None
            and not conn.health_check_enabled  # type: ignore[attr-defined]  # set in BaseDatabaseWrapper.__init__; django-stubs lacks it
            and not conn.is_usable()
        ):
            conn.close()


def close_all_connections() -> None:
    """Before fork: children must open their own connections."""
    connections.close_all()
