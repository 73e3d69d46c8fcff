"""``python -m benchmarks``: run every scenario for djworkers and its peers, write the results.

See ``python -m benchmarks --help`` and docs/performance.rst.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import report, targets, venv
from .harness import RunContext, child_env, measurement_count, run_scenario, scenario_result
from .scenarios import load_scenarios
from .services import QUIET_BUSY, PostgresDatabase, PrivateRedis, describe_machine, load_average

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    scenarios = list(load_scenarios())
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Measure djworkers side by side with Huey, RQ, Dramatiq, Celery and django-tasks-db (and raw "
            "redis-py / pyzmq ceilings) in one run, on a private redis-server and a per-run PostgreSQL "
            "database. Peers are installed into benchmarks/.venv-peers from benchmarks/requirements.txt. "
            "Writes benchmarks/results/latest.json and latest.md."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small counts, one repetition (< 2 minutes once the venv exists): checks the harness "
        "works, the numbers mean little",
    )
    parser.add_argument(
        "-r",
        "--repetitions",
        type=int,
        default=None,
        help="repetitions of each measurement (default 3, 1 with --quick)",
    )
    parser.add_argument(
        "-s",
        "--scenario",
        action="append",
        choices=scenarios,
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(scenarios)}",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=RESULTS,
        help="directory for latest.json and latest.md (default: %(default)s)",
    )
    parser.add_argument(
        "--no-install", action="store_true", help="use benchmarks/.venv-peers as it is, without checking requirements"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="limit for one measurement, seconds")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="before each measurement, wait up to this long for a quiet machine (at most "
        "a quarter of the cores busy); rows that start busy are flagged (default 60, "
        "0 with --quick: the load is then only recorded)",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if args.repetitions is None:
        args.repetitions = 1 if args.quick else 3
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if args.quick else 60.0
    if args.quiet_wait < 0:
        parser.error("--quiet-wait must not be negative")
    if args.repetitions < 1:
        parser.error("--repetitions must be at least 1")
    return args


def progress_bar(total: int):
    try:
        from tqdm import tqdm
    except ImportError:  # the orchestrator runs with any python; tqdm is the project's choice when present
        return None
    return tqdm(total=total, desc="benchmarks", unit="run", file=sys.stderr, dynamic_ncols=True)


def migrate(python: Path, env: dict[str, str], database: str) -> None:
    """Create the tables (djworkers, django-tasks-db) once per database, before any measurement."""
    result = subprocess.run(
        [str(python), "-m", "django", "migrate", "--verbosity", "0", "--settings=benchmarks.settings"],
        env=dict(env, BENCH_DB=database),
        cwd=venv.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:  # the measurements that need it will fail and say so; show why here
        print(f"migrate on {database} failed:\n{result.stderr[-3000:]}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = load_scenarios()
    if args.list:
        for name, scenario in scenarios.items():
            print(f"{name:18} {scenario.title}")
        return 0
    selected = {name: s for name, s in scenarios.items() if not args.scenario or name in args.scenario}
    python = venv.python() if args.no_install else venv.ensure(log=lambda m: print(m, file=sys.stderr))
    if not python.exists():
        print(f"{python} does not exist: run without --no-install", file=sys.stderr)
        return 2

    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so the finally below stops
    # redis-server and drops the PostgreSQL database.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    loads = {"start": load_average()}
    with tempfile.TemporaryDirectory(prefix="djworkers-bench-") as tmp:
        work = Path(tmp)
        log_dir = args.output / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        for old in log_dir.glob("*.log"):
            old.unlink()
        redis = PrivateRedis(work)
        postgres = PostgresDatabase()
        redis.start()
        try:
            has_postgres = postgres.create()
            env = child_env(
                os.environ,
                BENCH_REDIS_URL=redis.url,
                BENCH_SQLITE_PATH=str(work / "bench.sqlite3"),
                BENCH_WORKER_LOG=str(log_dir / "workers.log"),
                **postgres.settings_env(),
            )
            run = RunContext(
                quick=args.quick,
                repetitions=args.repetitions,
                python=python,
                env=env,
                log_dir=log_dir,
                postgres=has_postgres,
                postgres_reason=postgres.reason,
                timeout=args.timeout,
                quiet_wait=args.quiet_wait,
            )
            migrate(python, env, "sqlite")
            if has_postgres:
                migrate(python, env, "postgres")
            total = sum(measurement_count(run, s) for s in selected.values())
            bar = progress_bar(total)

            def tick(label: str) -> None:
                if bar is not None:
                    bar.set_postfix_str(label[:48])
                    bar.update(1)
                else:
                    print(f"... {label}", file=sys.stderr)

            results = []
            for name, scenario in selected.items():
                samples = run_scenario(run, scenario, tick)
                results.append(scenario_result(scenario, samples))
                loads[f"after {name}"] = load_average()
            if bar is not None:
                bar.close()
            meta = {
                "started": started,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "mode": "quick" if args.quick else "full",
                "repetitions": args.repetitions,
                "quiet_wait_s": args.quiet_wait,
                "quiet_busy_share": QUIET_BUSY,
                "machine": describe_machine(),
                "load_average": loads,
                "redis": redis.version(),
                "postgres": postgres.version() if has_postgres else f"not used ({postgres.reason})",
                "versions": venv.versions(python),
                "command": shlex.join(["python", "-m", "benchmarks", *(argv if argv is not None else sys.argv[1:])]),
            }
        finally:
            redis.stop()
            postgres.drop()

    missing = [
        f"{s['name']}: {row['contender']} ({row['unavailable'] or row['errors'][0]})"
        for s in results
        for row in s["rows"]
        if row["role"] == "djworkers" and not row["metrics"]
    ]
    errors = [f"{s['name']}: {row['contender']}: {e}" for s in results for row in s["rows"] for e in row["errors"]]
    document = {"meta": meta, "scenarios": results, "missing_djworkers": missing, "errors": errors}
    document["targets"] = targets.check(document)
    document["losses"] = targets.losses(document)
    json_path, md_path = report.write(document, args.output)
    print(report.markdown(document))
    print(f"\nwrote {json_path} and {md_path}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} measurement(s) crashed; logs in {log_dir}:", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
