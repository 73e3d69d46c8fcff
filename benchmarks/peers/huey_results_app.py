"""Huey with results on, for the ``results`` scenario: ``huey`` waits by polling (Huey's default,
``result.get(blocking=True)`` sleeps 50 ms and more between reads), ``huey_notify`` by ``BLPOP``
(``notify_result=True``). Separate names: each consumer serves only its own queue."""

import os

from huey import RedisHuey

from benchmarks import workload

huey = RedisHuey("bench-results", url=os.environ["BENCH_REDIS_URL"], results=True)
huey_notify = RedisHuey("bench-results-notify", url=os.environ["BENCH_REDIS_URL"], results=True, notify_result=True)


@huey.task()
def echo(value):
    return workload.echo(value)


@huey_notify.task()
def echo_notify(value):
    return workload.echo(value)
