"""Settings of the djworkers example project.

SQLite and the database queue backend by default: nothing to install. Environment
variables switch to the servers a production site would use:

``DJWORKERS_EXAMPLE_QUEUE=redis``
    Queue jobs through Redis (``DJWORKERS_EXAMPLE_REDIS_URL``, default
    ``redis://127.0.0.1:6379/0``); the cache moves to the same Redis.
``DJWORKERS_EXAMPLE_ZTASK_URL``
    Where ``ztaskd`` listens (default ``tcp://127.0.0.1:5555``).
``DATABASE_URL=postgres://user@host:port/name`` (or ``sqlite:///path``)
    The database for the models, the failed-job store and the database queue.
``DJWORKERS_EXAMPLE_TORNADO_PORT=8001`` (with ``DJWORKERS_EXAMPLE_DJANGO_URL``, default ``http://127.0.0.1:8000``)
    Serve the slacker example's Tornado app on that port (``manage.py run_tornado_example``,
    started by ``djworkers_run --all``); its handlers await queries through this Django server.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJWORKERS_EXAMPLE_SECRET_KEY", "example-project-only-not-a-secret")
DEBUG = os.environ.get("DJWORKERS_EXAMPLE_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "djworkers",
    "demo",  # one app per front door; later doors add theirs next to it
    "ztask_demo",
    "slacker_demo",
]

# The Gearman door's example (django-gearman's gearman_example app) needs a gearmand:
# DJWORKERS_EXAMPLE_GEARMAN=127.0.0.1:4730 installs it (unset, the demo needs no gearmand).
EXAMPLE_GEARMAN = os.environ.get("DJWORKERS_EXAMPLE_GEARMAN", "")
if EXAMPLE_GEARMAN:
    INSTALLED_APPS.append("gearman_example")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
STATIC_URL = "static/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_url(url: str) -> dict:
    """``postgres://user:password@host:port/name`` or ``sqlite:///path`` -> a DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(parts.path[1:] if parts.path.startswith("//") else parts.path) or ":memory:",
            "OPTIONS": {"timeout": 30},
        }
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r} (use postgres:// or sqlite:///)")


DATABASES = {
    "default": database_from_url(os.environ["DATABASE_URL"])
    if os.environ.get("DATABASE_URL")
    else {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        # Web server, queue consumer and dumbwaiter runner share the file: wait for locks.
        "OPTIONS": {"timeout": 30},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

EXAMPLE_QUEUE = os.environ.get("DJWORKERS_EXAMPLE_QUEUE", "database")
# The slacker example: a Tornado app on this port, started by djworkers_run --all (off when unset).
EXAMPLE_TORNADO_PORT = os.environ.get("DJWORKERS_EXAMPLE_TORNADO_PORT", "")
EXAMPLE_TORNADO_URL = f"http://127.0.0.1:{EXAMPLE_TORNADO_PORT}" if EXAMPLE_TORNADO_PORT else ""
# Where the Django server listens, for the Tornado app's http worker.
EXAMPLE_DJANGO_URL = os.environ.get("DJWORKERS_EXAMPLE_DJANGO_URL", "http://127.0.0.1:8000")
EXAMPLE_REDIS_URL = os.environ.get("DJWORKERS_EXAMPLE_REDIS_URL", "redis://127.0.0.1:6379/0")

# The cache must be shared by processes: run_dumbwaiter writes values, the web server reads them.
if EXAMPLE_QUEUE == "redis":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": EXAMPLE_REDIS_URL,
            "KEY_PREFIX": "djworkers-example",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.environ.get(
                "DJWORKERS_EXAMPLE_CACHE_DIR", os.path.join(tempfile.gettempdir(), "djworkers-example-cache")
            ),
        }
    }

DJWORKERS = {
    "DUMBWAITER": {
        "FUNCTIONS": [
            {"function": "demo.cached.server_time", "name": "server-time", "frequency": 5},
            {"function": "demo.cached.upload_stats", "name": "upload-stats", "frequency": 15, "max_saved": 20},
        ],
    },
    "QUEUE": {
        "BACKEND": EXAMPLE_QUEUE,
        "CONNECTION": EXAMPLE_REDIS_URL if EXAMPLE_QUEUE == "redis" else None,
    },
    "ZTASK": {
        "URL": os.environ.get("DJWORKERS_EXAMPLE_ZTASK_URL", "tcp://127.0.0.1:5555"),
        "RETRY_COUNT": 3,
        "RETRY_AFTER": 1,
    },
    "STATS": {"FLUSH_INTERVAL": 2},
    "SLACKER": {
        # The Tornado example's http worker calls this Django server's /slacker/ endpoint.
        "SERVER": EXAMPLE_DJANGO_URL + "/slacker/",
        "TORNADO_COMMAND": ["run_tornado_example", "--port", EXAMPLE_TORNADO_PORT] if EXAMPLE_TORNADO_PORT else None,
    },
}
if EXAMPLE_GEARMAN:
    DJWORKERS["GEARMAN"] = {"SERVERS": [EXAMPLE_GEARMAN]}

# django.tasks through djworkers (T1): the same queue_consumer runs @task functions (demo/tasks.py).
TASKS = {"default": {"BACKEND": "djworkers.tasks.TaskBackend"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"demo": {"handlers": ["console"], "level": "INFO"}},
}
