"""``manage.py queue_consumer``: consume the queue (Q9). Thin: parse, build, run the core Worker."""

from __future__ import annotations

import argparse
import logging

from django.core.management.base import BaseCommand, CommandError

from djworkers import conf
from djworkers.exceptions import DjworkersImproperlyConfigured
from djworkers.results.base import PurgeTicker
from djworkers.runtime.cli import backoff_factor, positive_int, seconds
from djworkers.runtime.logs import add_logging_arguments, configure_logging
from djworkers.runtime.supervisor import Supervisor
from djworkers.runtime.worker import PollBackoff, Ticker, Worker

logger = logging.getLogger("djworkers.queue.consumer")


#: Default jobs held per thread (Celery's default prefetch multiplier is 4 too).
DEFAULT_PREFETCH_PER_THREAD = 4


class Command(BaseCommand):
    help = (
        "Run queued jobs: fetch them from the configured backend (DJWORKERS['QUEUE']['BACKEND']) "
        "and run them in a thread pool, optionally in several processes. Also enqueues due "
        "@periodic_command jobs (once per minute across all consumers) unless --no-periodic. "
        "SIGTERM/SIGINT: stop fetching, finish running jobs (DJWORKERS['WORKER']['SHUTDOWN_TIMEOUT']), "
        "hand unstarted ones back, exit 0; a second signal stops at once."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "-t",
            "--threads",
            type=positive_int,
            default=1,
            help="Jobs run at once in each process (thread pool size). Default: 1.",
        )
        parser.add_argument(
            "--processes",
            type=positive_int,
            default=1,
            help="Worker processes to fork, each with --threads threads. Default: 1.",
        )
        parser.add_argument(
            "-d",
            "--delay",
            type=seconds,
            default=0.1,
            help="Seconds to wait after the first empty poll of a non-blocking backend "
            "(SQLite, or PostgreSQL without NOTIFY). Default: 0.1.",
        )
        parser.add_argument(
            "-b",
            "--backoff",
            type=backoff_factor,
            default=1.15,
            help="Multiply the wait by this after each further empty poll (>= 1). Default: 1.15.",
        )
        parser.add_argument(
            "-m",
            "--max",
            type=seconds,
            default=10.0,
            dest="max_delay",
            help="Longest wait between polls, in seconds. Default: 10. (Periodic jobs are "
            "scheduled by the consumer's main thread every second, whatever this wait.)",
        )
        parser.add_argument(
            "-n",
            "--no-periodic",
            action="store_true",
            help="Do not enqueue @periodic_command jobs from this consumer.",
        )
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            metavar="NAME",
            help="Consume this queue (repeat for several). Default: DJWORKERS['QUEUE']['NAME'].",
        )
        parser.add_argument(
            "--burst",
            action="store_true",
            help="Run until the queues are empty (nothing ready; delayed jobs are not waited for), then exit.",
        )
        parser.add_argument(
            "--prefetch",
            type=positive_int,
            default=None,
            help="Jobs the consumer holds at most, fetched in batches of PREFETCH/THREADS per "
            "thread (default: 4 per thread). One round trip then serves several jobs; "
            "use --prefetch equal to --threads for long jobs, so none waits behind another.",
        )
        add_logging_arguments(parser, logfile_flags=("-l", "--logfile"))

    def handle(self, *args, **options) -> None:
        configure_logging(options["loglevel"], options["logfile"], options["verbosity"])
        from djworkers.queue.api import build_backend
        from djworkers.queue.periodic import Scheduler, periodic_jobs

        settings = conf.section("QUEUE")
        queues = options["queues"] or [settings["NAME"]]
        if settings["ALWAYS_EAGER"]:
            logger.warning(
                "DJWORKERS['QUEUE']['ALWAYS_EAGER'] is on: jobs run when enqueued, "
                "this consumer will only see jobs written by other means."
            )
        if settings["BACKEND"] == "memory":
            logger.warning(
                "DJWORKERS['QUEUE']['BACKEND'] is 'memory': this consumer only sees jobs "
                "enqueued inside its own process."
            )
        periodic = settings["PERIODIC"] and not options["no_periodic"] and bool(periodic_jobs())
        max_delay = options["max_delay"]
        try:
            # Fail here, with a clear message, on a bad setting (a Redis pool too small for --threads too).
            checked = build_backend(queues)
            try:
                checked.reserve_connections(options["threads"] + 2)
            finally:
                checked.close()
        except DjworkersImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc

        def target() -> int:
            backend = build_backend(queues)
            tickers: list[Ticker] = [Scheduler().tick] if periodic else []
            try:
                tickers.append(PurgeTicker(backend.result_store()))  # expired results (Q12)
            except DjworkersImproperlyConfigured:
                pass  # a custom backend without a result store
            worker = Worker(
                backend,
                threads=options["threads"],
                prefetch=options["prefetch"] or DEFAULT_PREFETCH_PER_THREAD * options["threads"],
                burst=options["burst"],
                poll=PollBackoff(options["delay"], options["backoff"], max_delay),
                tickers=tickers,
                # a thread stuck past its time limit cannot be stopped: let the supervisor
                # replace the whole process (Q13)
                exit_on_timeout=options["processes"] > 1,
            )
            logger.info(
                "Consuming queue(s) %s with %s%s",
                ", ".join(queues),
                type(backend).__name__,
                "" if periodic else " (no periodic jobs)",
            )
            return worker.run()

        if options["processes"] > 1:
            # A worker hands its jobs back after SHUTDOWN_TIMEOUT; SIGKILL only one that hangs past it.
            stop_timeout = float(conf.section("WORKER")["SHUTDOWN_TIMEOUT"]) + 10
            code = Supervisor.forking(target, options["processes"], stop_timeout=stop_timeout).run()
        else:
            code = target()
        if code:
            raise CommandError(f"queue_consumer stopped with exit code {code}.", returncode=code)
