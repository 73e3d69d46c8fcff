"""System checks for the dumbwaiter (ids ``djworkers.E1xx``).

E101 FUNCTIONS not a list · E102 entry not a dict · E103 unknown key in an entry
· E104 missing/empty name · E105 duplicate name · E106 missing function · E107
function does not import / is not callable · E108 bad frequency · E109 bad
args/kwargs · E110 bad THREADED/DEFAULT_FREQUENCY/DEFAULT_SAVED · E111 bad
max_saved · E112 CACHE_ALIAS not in CACHES · E113 bad LOCK/CONNECTION · E114
bad SERIALIZER. Every message names the entry (index and name) at fault.
"""

from __future__ import annotations

from django.core import checks

from .config import problems


def check() -> list[checks.CheckMessage]:
    return [checks.Error(p.msg, hint=p.hint, id=p.id) for p in problems(import_functions=True)]
