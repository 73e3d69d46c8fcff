"""tests.settings plus the django-dumbwaiter README's settings, pasted unchanged (D1, D7).

The function list is the README's block as written; the "Additional settings"
are given the values the README describes (``my_app.myser`` is a module
exposing ``serializer``: the serializer contract).
"""

import sys
from pathlib import Path

from tests.settings import *  # noqa: F403

# my_app sits next to this file, as a project's apps sit next to manage.py.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# --- pasted from the django-dumbwaiter README ---------------------------------------------
DUMBWAITER_FUNCTION_LIST = [
    {
        "function": "time.time",
        "name": "time",
        "frequency": 5,
    },
    {
        "function": "my_app.utils.function_name",
        "name": "count",
        "frequency": 15,
    },
]
# --- "Additional settings" of the same README ---------------------------------------------
DUMBWAITER_SERIALIZER = "my_app.myser"
DUMBWAITER_THREADED = True
DUMBWAITER_DEFAULT_SAVED = 10
DUMBWAITER_DEFAULT_FREQUENCY = 300
PICKLE_PROTOCOL = 2
