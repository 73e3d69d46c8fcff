"""``manage.py djworkers_run --all``: start every djworkers worker (and optionally the web
server) in one supervised group that stops cleanly on Ctrl-C. Thin: the group runs the
same ``manage.py`` commands you would start by hand."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.core.management import get_commands
from django.core.management.base import BaseCommand, CommandError

from djworkers import conf
from djworkers.doors import WorkerCommand, all_doors
from djworkers.runtime.supervisor import Supervisor


def worker_commands() -> list[WorkerCommand]:
    """Every door's worker commands, in door order (each door's descriptor says when --all wants it)."""
    return [worker for door in all_doors() for worker in door.workers()]


def manage_argv() -> list[str]:
    """How to run another management command like this one was run."""
    script = Path(sys.argv[0])
    if script.name == "manage.py" and script.exists():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "django"]


class Command(BaseCommand):
    help = (
        "Run djworkers' worker commands together in one process group, with their output "
        "prefixed by name: run_dumbwaiter (if functions are configured) and queue_consumer with "
        "--all, or the ones you name; --runserver adds Django's development server. Ctrl-C "
        "(or SIGTERM, or SIGHUP from a closed terminal) stops them all gracefully: workers finish "
        "their running jobs; a second Ctrl-C stops them at once. If one exits on its own, the rest "
        "are stopped; if this command is killed, they stop with it. For "
        "production, run each command under your process manager instead (see the deployment docs)."
    )

    def add_arguments(self, parser):
        workers = worker_commands()
        parser.add_argument(
            "--all",
            action="store_true",
            help="Start every worker: " + "; ".join(f"{w.name} ({w.when})" for w in workers) + ".",
        )
        for worker in workers:
            parser.add_argument(f"--{worker.name}", action="store_true", help=f"Start {' '.join(worker.argv)}.")
        parser.add_argument(
            "--runserver",
            nargs="?",
            const="127.0.0.1:8000",
            default=None,
            metavar="ADDR",
            help="Also start runserver (--noreload) on ADDR (default 127.0.0.1:8000).",
        )
        parser.add_argument(
            "--stop-timeout",
            type=float,
            default=None,
            metavar="SECONDS",
            help="How long to wait for each process after SIGTERM before killing it "
            "(default: DJWORKERS['WORKER']['SHUTDOWN_TIMEOUT'] + 10).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        available = get_commands()
        workers = worker_commands()
        commands: list[tuple[str, list[str]]] = []
        for worker in workers:
            if options[worker.name.replace("-", "_")] or (options["all"] and worker.wanted()):
                if worker.argv[0] not in available:
                    raise CommandError(
                        f"{worker.argv[0]} is not a management command here "
                        f"(is the app that provides it in INSTALLED_APPS?)"
                    )
                commands.append((worker.name, list(worker.argv)))
        if options["runserver"]:
            commands.append(("web", ["runserver", options["runserver"], "--noreload"]))
        if not commands:
            raise CommandError(
                "Nothing to run: give --all, --runserver or one of " + ", ".join(f"--{w.name}" for w in workers) + "."
            )
        verbosity = str(options["verbosity"])
        base = manage_argv()
        settings_module = os.environ.get("DJANGO_SETTINGS_MODULE")
        env = dict(os.environ)
        if settings_module:
            env["DJANGO_SETTINGS_MODULE"] = settings_module
        if base[1:2] == ["-m"]:
            env["PYTHONPATH"] = os.getcwd() + os.pathsep + env.get("PYTHONPATH", "")
        stop_timeout = options["stop_timeout"]
        if stop_timeout is None:
            stop_timeout = float(conf.section("WORKER")["SHUTDOWN_TIMEOUT"]) + 10
        group = Supervisor.commands(
            [(name, [*base, *argv, "--verbosity", verbosity]) for name, argv in commands],
            stop_timeout=stop_timeout,
            out=self.stdout._out,  # type: ignore[arg-type]  # OutputWrapper._out, a TextIO the stubs omit
            env=env,
        )
        if options["runserver"]:
            self.stdout.write(f"djworkers_run: http://{options['runserver']}/  (Ctrl-C stops everything)")
        code = group.run()
        if code:
            raise CommandError("a process of the group exited unexpectedly", returncode=code)
