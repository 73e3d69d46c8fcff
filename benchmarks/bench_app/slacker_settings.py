"""benchmarks.settings plus the slacker endpoint, for the Django server of the ``slacker`` scenario."""

from benchmarks.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_app.slacker_urls"
ALLOWED_HOSTS = ["127.0.0.1"]
