"""Logging options shared by every command (``--loglevel``, ``--logfile``, ``--verbosity``)."""

from __future__ import annotations

import argparse
import logging

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
VERBOSITY_LEVELS = {0: logging.ERROR, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}
FORMAT = "%(asctime)s %(levelname)s %(processName)s/%(threadName)s %(name)s: %(message)s"


def loglevel(value: str) -> str:
    """argparse ``type=`` for a level name, case-insensitive."""
    upper = value.upper()
    if upper not in LEVELS:
        raise argparse.ArgumentTypeError(f"choose one of {', '.join(LEVELS)}")
    return upper


def add_logging_arguments(
    parser: argparse.ArgumentParser,
    logfile_flags: tuple[str, ...] = ("--logfile",),
    loglevel_flags: tuple[str, ...] = ("--loglevel",),
) -> None:
    parser.add_argument(
        *loglevel_flags,
        dest="loglevel",
        type=loglevel,
        default=None,
        help="Log level (DEBUG, INFO, WARNING, ERROR). Default: from --verbosity (1 = INFO).",
    )
    parser.add_argument(
        *logfile_flags,
        dest="logfile",
        default=None,
        help="Append logs to this file instead of standard error.",
    )


def configure_logging(loglevel: str | None = None, logfile: str | None = None, verbosity: int | None = 1) -> None:
    """Send the ``djworkers`` logger to a stream or file at the chosen level.

    Only the ``djworkers`` logger is touched: a project's own LOGGING keeps
    working, and propagation is left on for handlers it configured.
    """
    level = getattr(logging, loglevel) if loglevel else VERBOSITY_LEVELS.get(verbosity or 0, logging.INFO)
    handler: logging.Handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.set_name("djworkers-command")
    logger = logging.getLogger("djworkers")
    for existing in list(logger.handlers):
        if existing.get_name() == "djworkers-command":
            logger.removeHandler(existing)
    logger.addHandler(handler)
    logger.setLevel(level)
