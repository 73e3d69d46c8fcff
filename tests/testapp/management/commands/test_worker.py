"""``manage.py test_worker --dir DIR``: the core Worker over a directory of frames (tests only).

Lets the runtime tests exercise :class:`djworkers.runtime.worker.Worker` and
:class:`~djworkers.runtime.supervisor.Supervisor` as users run workers (a
management command in a subprocess, stopped with real signals) without any
front door's transport.
"""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

from djworkers.runtime.logs import add_logging_arguments, configure_logging
from djworkers.runtime.supervisor import Supervisor
from djworkers.runtime.worker import PollBackoff, Worker
from tests.testapp import core_jobs  # noqa: F401  (registers the core.* jobs)
from tests.testapp.filesource import FileSource


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return number


class Command(BaseCommand):
    help = "Run the core djworkers Worker over a directory of frame files (test suite only)."

    def add_arguments(self, parser):
        parser.add_argument("--dir", required=True, help="Root of the FileSource (queue/ and leased/).")
        parser.add_argument("--threads", type=positive_int, default=1, help="Pool threads per process.")
        parser.add_argument("--prefetch", type=positive_int, default=None, help="Deliveries held at once.")
        parser.add_argument("--processes", type=positive_int, default=1, help="Worker processes (Supervisor).")
        parser.add_argument("--burst", action="store_true", help="Exit when the directory is drained.")
        parser.add_argument("--shutdown-timeout", type=float, default=None, help="Seconds to finish jobs.")
        add_logging_arguments(parser)

    def handle(self, *args, **options):
        configure_logging(options["loglevel"], options["logfile"], options["verbosity"])

        def target() -> int:
            worker = Worker(
                FileSource(options["dir"]),
                threads=options["threads"],
                prefetch=options["prefetch"],
                burst=options["burst"],
                poll=PollBackoff(0.05, 1.5, 0.5),
                shutdown_timeout=options["shutdown_timeout"],
            )
            return worker.run()

        if options["processes"] > 1:
            code = Supervisor.forking(target, options["processes"], restart_delay=0.2).run()
        else:
            code = target()
        if code:
            raise CommandError(f"worker exited with code {code}", returncode=code)
