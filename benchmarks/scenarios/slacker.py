"""Offloading a primary-key lookup from an event loop (S3): the slacker's thread and http workers
beside ``loop.run_in_executor`` doing the same query."""

from __future__ import annotations

import socket
import time

from ..harness import Contender, Metric, Scenario, Unavailable
from ..peers.base import django_setup
from . import register

THREADS = 10


@register
class Slacker(Scenario):
    name = "slacker"
    title = "Offloaded primary-key lookup: slacker thread and http workers vs loop.run_in_executor"
    description = (
        "An asyncio loop awaits `ContentType.objects.get(pk=...)` N times, one at a time (µs per lookup, "
        "the ratio metric: what one offloaded query costs the caller), then N at once (lookups/s, at most "
        f"{THREADS} in flight). `run_in_executor` runs the lambda in a {THREADS}-thread executor; the thread "
        "worker is `await postpone(ContentType, worker='thread')...` on a pool of as many threads, which "
        "lets Django close connections after each chain as after a request. The executor's lambda calls "
        "`close_old_connections()` after its query too, as Django code in a thread of its own must (else "
        "CONN_MAX_AGE is never honoured and a connection broken by an error is never replaced). Rows "
        "'persistent' run with CONN_MAX_AGE = None (both keep one connection per thread); rows "
        "'connections closed' with the default CONN_MAX_AGE = 0 (a reconnect per lookup, which on SQLite "
        "costs more than the lookup). CPU per lookup: the process's user + system time over the one-at-a-time "
        "lookups (loop, pool threads and all). The http worker POSTs the signed chain to `runserver` "
        "(threaded) on the same machine. The target is the thread worker ≤ 1.3× run_in_executor."
    )
    metrics = (
        Metric("us_per_lookup", "µs", higher_is_better=False, digits=1),
        Metric("lookups_per_s", "/s", higher_is_better=True),
        Metric("cpu_us_per_lookup", "µs", higher_is_better=False, digits=1),
    )

    def contenders(self, run):
        count = run.count(2_000, 200)
        rows = []
        for db in ["sqlite", "postgres"] if run.postgres else ["sqlite"]:
            for close, label in ((False, "persistent"), (True, "connections closed")):
                group = f"{db}, {label}"
                params = {"db": db, "count": count, "close": close}
                rows.append(Contender(f"thread worker ({group})", "djworkers", group, {**params, "kind": "thread"}))
                rows.append(Contender(f"run_in_executor ({group})", "peer", group, {**params, "kind": "executor"}))
            rows.append(
                Contender(
                    f"http worker ({db}, persistent)",
                    "peer",
                    f"{db}, persistent",
                    {"db": db, "count": run.count(500, 100), "close": False, "kind": "http"},
                )
            )
        return rows

    def measure(self, contender, params, child):
        django_setup(BENCH_DB=params["db"], BENCH_QUEUE_BACKEND="database")
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        from django.conf import settings
        from django.contrib.contenttypes.models import ContentType
        from django.db import close_old_connections, connections
        from django.test import override_settings

        try:
            from djworkers.slacker import postpone
        except ImportError as exc:
            raise Unavailable(f"djworkers.slacker not available ({exc})") from exc
        kind, count, close = params["kind"], params["count"], params["close"]
        # Before any thread connects: every connection made from here on follows it.
        connections.settings["default"]["CONN_MAX_AGE"] = 0 if close else None
        pk = ContentType.objects.get_for_model(ContentType).pk
        server = None
        options = {"THREADS": THREADS, "HTTP_MAX_CLIENTS": THREADS, "WORKER": kind}
        if kind == "http":
            try:
                import tornado  # noqa: F401
            except ImportError as exc:
                raise Unavailable("tornado is not installed in the peers' venv") from exc
            server, options["SERVER"] = self._server(child)
        executor = ThreadPoolExecutor(max_workers=THREADS)

        def query():
            try:
                return ContentType.objects.get(pk=pk)
            finally:
                close_old_connections()

        async def lookup():
            if kind == "executor":
                return await asyncio.get_running_loop().run_in_executor(executor, query)
            return await postpone(ContentType).objects.get(pk=pk)

        async def main():
            for _ in range(min(100, count)):
                assert (await lookup()).pk == pk
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                await lookup()
            sequential, cpu = time.perf_counter() - started, time.process_time() - cpu
            started = time.perf_counter()
            await asyncio.gather(*(lookup() for _ in range(count)))
            parallel = time.perf_counter() - started
            return {
                "us_per_lookup": sequential / count * 1e6,
                "lookups_per_s": count / parallel,
                "cpu_us_per_lookup": cpu / count * 1e6,
            }

        try:
            with override_settings(DJWORKERS={**settings.DJWORKERS, "SLACKER": options}):
                return asyncio.run(main())
        finally:
            executor.shutdown(wait=False)
            if server is not None:
                child.stop(server)

    @staticmethod
    def _server(child):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = [
            child.python,
            "-m",
            "django",
            "runserver",
            f"127.0.0.1:{port}",
            "--noreload",
            "--skip-checks",
            "--settings=benchmarks.bench_app.slacker_settings",
        ]
        process = child.spawn(command)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the slacker endpoint's runserver exited with {process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return process, f"http://127.0.0.1:{port}/slacker/"
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the slacker endpoint's runserver did not listen within 60 s")
