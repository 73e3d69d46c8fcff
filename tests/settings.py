"""Settings for the test suite.

``DJWORKERS_TEST_DB=postgres`` runs on the PostgreSQL server at 127.0.0.1:5432
(user postgres, trust auth) instead of SQLite. ``DJWORKERS_DB_NAME`` is set by
the test fixtures for worker subprocesses, so they use the test database the
test process created.
"""

import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "djworkers-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "djworkers",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_db_vendor = os.environ.get("DJWORKERS_TEST_DB", "sqlite")
_db_name_override = os.environ.get("DJWORKERS_DB_NAME")
if _db_vendor == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("DJWORKERS_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJWORKERS_PG_PORT", "5432"),
            "USER": os.environ.get("DJWORKERS_PG_USER", "postgres"),
            "NAME": _db_name_override or "djworkers",
            "TEST": {"NAME": f"test_djworkers_{os.getpid()}" if not _db_name_override else _db_name_override},
        }
    }
else:
    # A file, not :memory:, so worker subprocesses see the same test database.
    _sqlite_test = os.path.join(tempfile.gettempdir(), f"djworkers-test-{os.getpid()}.sqlite3")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _db_name_override or os.path.join(tempfile.gettempdir(), "djworkers-dev.sqlite3"),
            "TEST": {"NAME": _db_name_override or _sqlite_test},
            "OPTIONS": {"timeout": 30},
        }
    }

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

DJWORKERS = {
    "WORKER": {"SHUTDOWN_TIMEOUT": 10, "HEARTBEAT_INTERVAL": 1},
    # Per-minute job counters write from a background thread; tests that want
    # them (tests/test_status.py) turn them on, the rest stay hermetic.
    "STATS": {"ENABLED": False},
}

# Worker subprocesses import extra settings from a JSON file named here (see tests/utils.py).
_extra = os.environ.get("DJWORKERS_TEST_SETTINGS_JSON")
if _extra:
    import json

    for _key, _value in json.loads(Path(_extra).read_text()).items():
        globals()[_key] = _value

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"djworkers": {"handlers": [], "level": "INFO"}},
}
