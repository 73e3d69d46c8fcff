"""``manage.py run_dumbwaiter``: compute the dumbwaiter functions on their schedule."""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

from ... import conf
from ...dumbwaiter.config import load_config
from ...dumbwaiter.exceptions import AlreadyRunning, UnknownFunction
from ...dumbwaiter.runner import Runner
from ...exceptions import DjworkersImproperlyConfigured
from ...runtime.executor import Outcome
from ...runtime.logs import add_logging_arguments, configure_logging
from ...runtime.shutdown import Shutdown


class Command(BaseCommand):
    help = (
        'Run the functions of DJWORKERS["DUMBWAITER"]["FUNCTIONS"] every `frequency` seconds and '
        "store their results (database history + Django cache) for get_value(). The first run is at "
        "start; periods are aligned on the clock, so several runners (on several hosts) compute each "
        "function once per period in total. SIGTERM/SIGINT: stop scheduling, let running functions "
        'finish (DJWORKERS["WORKER"]["SHUTDOWN_TIMEOUT"]); a second signal stops at once.'
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--once",
            nargs="*",
            metavar="NAME",
            default=None,
            help="Run the named functions (all when no name is given) once now, store the results and "
            "exit; exit status 1 if any of them failed.",
        )
        parser.add_argument(
            "--threaded",
            action=argparse.BooleanOptionalAction,
            default=None,
            help='Give each function its own thread (default: DJWORKERS["DUMBWAITER"]["THREADED"]). '
            "--no-threaded runs functions one at a time.",
        )
        add_logging_arguments(parser)

    def handle(self, *args, **options) -> None:
        configure_logging(options["loglevel"], options["logfile"], options["verbosity"])
        try:
            config = load_config()
            names = options["once"] or None
            runner = Runner(config, names=names, threaded=options["threaded"])
        except UnknownFunction as exc:
            raise CommandError(str(exc)) from exc
        except DjworkersImproperlyConfigured as exc:
            raise CommandError(f"{exc} (run `manage.py check` for every problem)") from exc
        if not runner.specs:
            raise CommandError(
                'No functions to run: DJWORKERS["DUMBWAITER"]["FUNCTIONS"] (or the legacy '
                "DUMBWAITER_FUNCTION_LIST) is empty."
            )
        if options["once"] is not None:
            self._once(runner)
            return
        shutdown = Shutdown()
        shutdown.install()
        try:
            code = runner.run_forever(shutdown, shutdown_timeout=conf.section("WORKER")["SHUTDOWN_TIMEOUT"])
        finally:
            shutdown.uninstall()
        if code:
            raise CommandError("Stopped with functions still running (see the log).", returncode=code)

    def _once(self, runner: Runner) -> None:
        failed = []
        try:
            for spec in runner.specs:
                try:
                    outcome = runner.refresh(spec.name)
                except AlreadyRunning as exc:
                    self.stderr.write(f"{spec.name}: skipped: {exc}")
                    failed.append(spec.name)
                    continue
                if outcome is Outcome.SUCCEEDED:
                    self.stdout.write(f"{spec.name}: stored")
                else:
                    self.stderr.write(f"{spec.name}: failed (traceback stored, see the admin or the log)")
                    failed.append(spec.name)
        finally:
            runner.coordinator.close()
        if failed:
            raise CommandError(f"{len(failed)} function(s) failed: {', '.join(failed)}")
