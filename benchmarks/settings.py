"""Django settings for benchmark children and workers, chosen through environment variables.

``BENCH_REDIS_URL``: the private redis-server of this run. ``BENCH_DB``: ``sqlite``
(file ``BENCH_SQLITE_PATH``) or ``postgres`` (the per-run database named by
``BENCH_PG_*``). ``BENCH_QUEUE_BACKEND``: ``redis`` or ``database``.
``BENCH_DUMBWAITER_CACHE``: the cache alias dumbwaiter writes to.
``BENCH_TASKS=djworkers``: ``TASKS["default"]`` is djworkers' backend, not django-tasks-db's.
"""

import importlib.util
import os
import tempfile

SECRET_KEY = "djworkers-benchmarks-not-secret"
DEBUG = False  # DEBUG=True would record every SQL query and skew database numbers
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS: list[str] = []
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "djworkers",
    "benchmarks.bench_app",
]
if os.environ.get("BENCH_GEARMAN"):  # the gearman scenario's private gearmand (benchmarks/scenarios/gearman.py)
    INSTALLED_APPS.append("benchmarks.bench_gearman")
if importlib.util.find_spec("django_tasks_db") is not None:
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
if os.environ.get("BENCH_TASKS") == "djworkers":  # the django.tasks scenario's djworkers rows (T1)
    TASKS = {"default": {"BACKEND": "djworkers.tasks.TaskBackend"}}

if os.environ.get("BENCH_DB", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BENCH_PG_PORT", "5432"),
            "USER": os.environ.get("BENCH_PG_USER", "postgres"),
            "NAME": os.environ.get("BENCH_PG_NAME", "djworkers_bench"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("BENCH_SQLITE_PATH", os.path.join(tempfile.gettempdir(), "djworkers-bench.sqlite3")),
            "OPTIONS": {"timeout": 30},
        }
    }

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
}

_queue_backend = os.environ.get("BENCH_QUEUE_BACKEND", "redis")
DJWORKERS = {
    "QUEUE": {
        "BACKEND": _queue_backend,
        "CONNECTION": REDIS_URL if _queue_backend == "redis" else None,
    },
    "GEARMAN": {"SERVERS": [os.environ.get("BENCH_GEARMAN", "127.0.0.1:4730")]},
    "DUMBWAITER": {
        "FUNCTIONS": [
            {"function": "benchmarks.bench_app.values.report", "name": "bench_report", "frequency": 3600},
        ],
        "CACHE_ALIAS": os.environ.get("BENCH_DUMBWAITER_CACHE", "default"),
    },
}

# No LOGGING here: each worker configures its own output the way it does for its
# users (a root handler here would print djworkers' job lines twice and slow it).
