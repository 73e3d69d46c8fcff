"""Celery's side: an app with the private Redis as broker, no result backend (the default)."""

import os

from celery import Celery

from benchmarks import workload

app = Celery("bench", broker=os.environ["BENCH_REDIS_URL"])
app.conf.broker_connection_retry_on_startup = True


@app.task
def noop():
    workload.noop()


@app.task
def incr():
    workload.incr()


@app.task
def record(enqueued_at):
    workload.record(enqueued_at)
