"""tests.settings plus the djutils queue README's database backend settings, pasted unchanged (X1, Q1, Q4).

Typo (``DatabaseQeueue``) and the empty connection string included.
"""

from tests.settings import *  # noqa: F403

# --- pasted from the djutils queue README --------------------------------------------------
QUEUE_BACKEND = "djutils.queue.backends.database.DatabaseQeueue"
QUEUE_CONNECTION = ""  # <-- no connection needed as it uses django's ORM
