"""Scenario 6: ``dumbwaiter.get_value`` vs a raw ``cache.get`` and vs a database query."""

from __future__ import annotations

import time

from ..harness import Contender, Metric, Scenario, Unavailable
from ..peers.base import django_setup
from . import register

NAME = "bench_report"


@register
class Dumbwaiter(Scenario):
    name = "dumbwaiter"
    title = "Reading a cached value: dumbwaiter.get_value vs cache.get vs a database query"
    description = (
        "The value (a 30-row report dict) is computed once by `run_dumbwaiter --once`; then one "
        "process reads it N times. `cache.get` reads the same object from the same cache "
        "backend; the database row is a one-row ORM query by primary key. Ratios: the raw "
        "read's cost / get_value's cost (1.0 = free; the target is ≥ 0.83, i.e. get_value ≤ 1.2× "
        "cache.get). `cpu_us_per_call`: the reading process's CPU per call (the rest of the time is "
        "waiting for the cache or database server)."
    )
    metrics = (
        Metric("us_per_call", "µs", higher_is_better=False, digits=2),
        Metric("cpu_us_per_call", "µs", higher_is_better=False, digits=2),
    )

    def contenders(self, run):
        reads = run.count(20_000, 2_000)
        queries = run.count(3_000, 300)
        rows = []
        for alias, label in (("default", "locmem"), ("redis", "redis")):
            rows.append(
                Contender(
                    f"get_value ({label})", "djworkers", label, {"kind": "get_value", "alias": alias, "count": reads}
                )
            )
            rows.append(
                Contender(f"cache.get ({label})", "ceiling", label, {"kind": "cache", "alias": alias, "count": reads})
            )
        rows.append(
            Contender(
                "database query (sqlite)",
                "peer",
                "locmem",
                {"kind": "query", "alias": "default", "db": "sqlite", "count": queries},
            )
        )
        if run.postgres:
            rows.append(
                Contender(
                    "database query (postgres)",
                    "peer",
                    "locmem",
                    {"kind": "query", "alias": "default", "db": "postgres", "count": queries},
                )
            )
        return rows

    def measure(self, contender, params, child):
        django_setup(
            BENCH_DUMBWAITER_CACHE=params["alias"], BENCH_DB=params.get("db", "sqlite"), BENCH_QUEUE_BACKEND="redis"
        )
        from django.core.cache import caches
        from django.core.management import call_command

        from benchmarks.bench_app.values import report

        cache = caches[params["alias"]]
        count = params["count"]
        if params["kind"] == "get_value":
            try:
                from djworkers import dumbwaiter

                get_value = dumbwaiter.get_value
            except (ImportError, AttributeError) as exc:
                raise Unavailable(f"djworkers.dumbwaiter.get_value not available yet ({exc})") from exc
            call_command("run_dumbwaiter", "--once", NAME, verbosity=0)
            if get_value(NAME) != report():
                raise RuntimeError("get_value returned something else than the computed value")
            read = lambda: get_value(NAME)  # noqa: E731
        elif params["kind"] == "cache":
            cache.set("bench:raw-report", report(), None)
            read = lambda: cache.get("bench:raw-report")  # noqa: E731
        else:
            from django.contrib.contenttypes.models import ContentType

            pk = ContentType.objects.get_for_model(ContentType).pk
            read = lambda: ContentType.objects.filter(pk=pk).first()  # noqa: E731
        for _ in range(min(200, count)):
            read()
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            read()
        return {
            "us_per_call": (time.perf_counter() - started) / count * 1e6,
            "cpu_us_per_call": (time.process_time() - cpu) / count * 1e6,
        }
