"""``manage.py gearman_worker [-w N] [-q QUEUE]``: serve the @gearman_job jobs (G7).

Thin: parse the options, then run :class:`djworkers.gearman.worker.GearmanWorkerProcess`
in this process (``-w 1``) or in N processes under the core supervisor.
"""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

from djworkers import conf
from djworkers.exceptions import DjworkersImproperlyConfigured
from djworkers.runtime.cli import positive_int, seconds
from djworkers.runtime.logs import add_logging_arguments, configure_logging
from djworkers.runtime.supervisor import Supervisor


class Command(BaseCommand):
    help = (
        "Run Gearman workers serving the jobs registered with @gearman_job (gearman_jobs.py of every "
        "installed app) on the servers of DJWORKERS['GEARMAN']['SERVERS']. Each process runs one job "
        "at a time; -w starts several. SIGTERM/SIGINT: finish the running job, then exit 0; a second "
        "signal exits at once (gearmand gives the job to another worker)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "-w",
            "--workers",
            type=positive_int,
            default=1,
            help="Worker processes to start (each runs one job at a time). Default: 1.",
        )
        parser.add_argument(
            "-q",
            "--queue",
            default=None,
            help="Serve only the jobs declared with @gearman_job(queue=QUEUE). Default: every registered job.",
        )
        parser.add_argument(
            "--poll-interval",
            type=seconds,
            default=1.0,
            help="Seconds one poll of gearmand lasts: how late a stop request or a due "
            "retry may be noticed. Default: 1.",
        )
        add_logging_arguments(parser, logfile_flags=("-l", "--logfile"))

    def handle(self, *args, **options) -> None:
        configure_logging(options["loglevel"], options["logfile"], options["verbosity"])
        from djworkers.gearman import library
        from djworkers.gearman.decorators import gearman_jobs
        from djworkers.gearman.naming import server_name
        from djworkers.gearman.worker import GearmanWorkerProcess

        queue = options["queue"]
        try:
            library.gearman()
            library.configured_servers()
            jobs = gearman_jobs(queue)
            for job in jobs:
                server_name(job.name)  # a broken JOB_NAME hook fails here, not in each child
        except DjworkersImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if not jobs:
            known = sorted({job.queue or "default" for job in gearman_jobs()})
            if queue:
                raise CommandError(
                    f"No Gearman job is declared with queue={queue!r}. "
                    f"Queues: {', '.join(known) or 'none'} (see manage.py gearman_list_tasks)."
                )
            raise CommandError(
                "No Gearman jobs are registered: decorate functions with @gearman_job in a "
                "gearman_jobs.py module of an installed app."
            )

        def target() -> int:
            return GearmanWorkerProcess(queue, poll_interval=options["poll_interval"]).run()

        if options["workers"] > 1:
            # A job runs to its end on SIGTERM; SIGKILL only a process that hangs past SHUTDOWN_TIMEOUT
            # (gearmand then gives its job to another worker).
            stop_timeout = float(conf.section("WORKER")["SHUTDOWN_TIMEOUT"]) + 10
            code = Supervisor.forking(target, options["workers"], stop_timeout=stop_timeout).run()
        else:
            code = target()
        if code:
            raise CommandError(f"gearman_worker stopped with exit code {code}.", returncode=code)
