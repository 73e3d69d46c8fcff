"""Dramatiq's side: a RedisBroker on the private Redis (what the ``dramatiq`` CLI imports)."""

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benchmarks import workload

broker = RedisBroker(url=os.environ["BENCH_REDIS_URL"])
dramatiq.set_broker(broker)


@dramatiq.actor
def noop():
    workload.noop()


@dramatiq.actor
def incr():
    workload.incr()


@dramatiq.actor
def record(enqueued_at):
    workload.record(enqueued_at)
