"""Huey's side: a RedisHuey on the private Redis (what ``huey_consumer`` imports)."""

import os

from huey import RedisHuey

from benchmarks import workload

huey = RedisHuey("bench", url=os.environ["BENCH_REDIS_URL"], results=False)


@huey.task()
def noop():
    workload.noop()


@huey.task()
def incr():
    workload.incr()


@huey.task()
def record(enqueued_at):
    workload.record(enqueued_at)
