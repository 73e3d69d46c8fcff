"""``manage.py ztaskd``: the ztask server (Z2). Thin: parse, then :func:`djworkers.ztask.server.serve`."""

from __future__ import annotations

import argparse
import logging

from django.core.management.base import BaseCommand, CommandError
from django.utils import autoreload

from djworkers import conf
from djworkers.runtime.cli import positive_int
from djworkers.runtime.logs import add_logging_arguments, configure_logging

logger = logging.getLogger("djworkers.ztask.server")

#: Jobs run at once when --worker-pool-size is not given.
DEFAULT_POOL_SIZE = 4


class Command(BaseCommand):
    help = (
        "Run ztask tasks: listen at DJWORKERS['ZTASK']['URL'] (ZeroMQ PULL), write each message ahead "
        "to the database, and run it in the core worker (threads, or processes with --multiprocess). "
        "Failed tasks are retried RETRY_COUNT times every RETRY_AFTER seconds, then kept as failed "
        "jobs. Reloads on code changes unless --noreload. SIGTERM/SIGINT: stop receiving, finish "
        "running tasks, exit 0."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--noreload",
            action="store_false",
            dest="use_reloader",
            help="Do not restart when Python files change (use in production).",
        )
        parser.add_argument(
            "--replayfailed",
            action="store_true",
            help="At start, run every failed ztask task again (attempt count reset).",
        )
        parser.add_argument(
            "--multiprocess",
            action="store_true",
            help="Run tasks in --worker-pool-size child processes instead of threads.",
        )
        parser.add_argument(
            "--worker-pool-size",
            type=positive_int,
            default=DEFAULT_POOL_SIZE,
            dest="pool_size",
            help=f"Tasks run at once: threads, or processes with --multiprocess. Default: {DEFAULT_POOL_SIZE}.",
        )
        parser.add_argument(
            "--prefetch",
            type=positive_int,
            default=None,
            help="Tasks a worker process claims at most (in batches of PREFETCH/threads per "
            "thread). Default: one per thread, so no task waits behind a long one; "
            "raise it for many short tasks (fewer database round trips).",
        )
        parser.add_argument(
            "--url", default=None, help="Listen here instead of DJWORKERS['ZTASK']['URL'] (one node of WORKER_URLS)."
        )
        add_logging_arguments(parser, logfile_flags=("-f", "--logfile"), loglevel_flags=("-l", "--loglevel"))

    def handle(self, *args, **options) -> None:
        configure_logging(options["loglevel"], options["logfile"], options["verbosity"])
        try:
            import zmq  # noqa: F401
        except ImportError as exc:
            raise CommandError("ztaskd needs pyzmq: pip install 'djworkers[zmq]'.") from exc
        if options["use_reloader"] and options["multiprocess"]:
            # The reloader runs the command in a thread and exits the process on a change:
            # forked worker processes would outlive it (and keep the port).
            logger.warning("--multiprocess runs without the autoreloader; pass --noreload to silence this")
            options["use_reloader"] = False
        if options["use_reloader"]:
            autoreload.run_with_reloader(self.inner_run, **options)
        else:
            self.inner_run(**options)

    def inner_run(self, **options) -> None:
        from djworkers.runtime.supervisor import Supervisor
        from djworkers.runtime.worker import Worker
        from djworkers.ztask.node import NodeExecutor
        from djworkers.ztask.server import serve

        settings = conf.section("ZTASK")
        url = options["url"] or settings["URL"]
        if settings["ALWAYS_EAGER"] or settings["DISABLED"]:
            logger.warning(
                "DJWORKERS['ZTASK'] has ALWAYS_EAGER or DISABLED on: callers do not send "
                "tasks here, this ztaskd will only run what others send."
            )

        def make_worker(source, threads: int) -> Worker:
            return Worker(
                source, NodeExecutor(source.queues[0]), threads=threads, prefetch=options["prefetch"] or threads
            )

        try:
            code = serve(
                url,
                pool_size=options["pool_size"],
                multiprocess=options["multiprocess"],
                replay=options["replayfailed"],
                make_worker=make_worker,
                supervisor=Supervisor.forking,
            )
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        if code:
            raise CommandError(f"ztaskd stopped with exit code {code}.", returncode=code)
