"""Exit 0 when the test PostgreSQL server answers (used by ``make test-postgres``)."""

import os
import sys

try:
    import psycopg

    psycopg.connect(
        host=os.environ.get("DJWORKERS_PG_HOST", "127.0.0.1"),
        port=os.environ.get("DJWORKERS_PG_PORT", "5432"),
        user=os.environ.get("DJWORKERS_PG_USER", "postgres"),
        dbname="postgres",
        connect_timeout=3,
    ).close()
except Exception as exc:  # any failure means "not available"
    print(f"PostgreSQL not available: {exc}", file=sys.stderr)
    sys.exit(1)
