"""Benchmarks: djworkers side by side with Huey, RQ, Dramatiq, Celery and django-tasks-db.

Run with ``python -m benchmarks`` (or ``make bench``); ``--quick`` is the CI smoke run.
The orchestrator (this package, stdlib only) starts a private redis-server and a
throw-away PostgreSQL database, builds ``benchmarks/.venv-peers`` from
``benchmarks/requirements.txt`` and runs every measurement in a child process of
that venv (:mod:`benchmarks.child`), so djworkers and every peer run with the
same interpreter against the same servers. Results are ratios first: the
machines are shared and noisy, absolute numbers drift.
"""
