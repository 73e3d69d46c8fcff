# djworkers: two commands on a fresh machine.
#   make demo   create .venv, install, migrate SQLite, start the example project
#   make test   create .venv, install the test extras, run the whole suite
# The interpreter is the first of python3.13, python3.12, python3 that runs and is >= 3.11
# (with pyenv, python3.12 runs only when PYENV_VERSION names it; .ci/run sets it).

PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then echo $$p; break; fi; done)
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help venv install install-test demo test test-sqlite test-postgres lint docs clean

help:
	@echo "make demo    run the example project (http://127.0.0.1:8000/)"
	@echo "make test    run the test suite (SQLite, then PostgreSQL when reachable)"
	@echo "make lint    ruff (lint, format) and mypy"
	@echo "make docs    build the Sphinx docs with -W"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "No Python >= 3.11 found (tried python3.13 python3.12 python3)."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[redis,postgres,zmq]'
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test,docs]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# DEMO_ADDR: where the example project listens (the tests pick a free port).
DEMO_ADDR ?= 127.0.0.1:8000

demo: $(VENV)/.installed
	cd example_project && ../$(BIN)/python manage.py migrate --noinput
	cd example_project && ../$(BIN)/python manage.py check
	cd example_project && ../$(BIN)/python manage.py demo_user --addr $(DEMO_ADDR)
	@echo "Open http://$(DEMO_ADDR)/  (Ctrl-C stops the web server, queue_consumer and run_dumbwaiter)"
	cd example_project && exec ../$(BIN)/python manage.py djworkers_run --all --runserver $(DEMO_ADDR)

# Lint and both test passes always run (a failure in one does not hide the others); the last
# line reports each, and the exit status is non-zero if any failed.
test: $(VENV)/.installed-test
	@lint=passed; sqlite=passed; postgres=passed; \
	$(MAKE) --no-print-directory lint || lint=FAILED; \
	$(MAKE) --no-print-directory test-sqlite || sqlite=FAILED; \
	$(MAKE) --no-print-directory test-postgres || postgres=FAILED; \
	if [ $$postgres = passed ] && ! $(BIN)/python tests/postgres_available.py 2>/dev/null; then \
		postgres="skipped (no server on 127.0.0.1:5432)"; fi; \
	echo "make test: lint $$lint; SQLite pass $$sqlite; PostgreSQL pass $$postgres"; \
	[ $$lint = passed ] && [ $$sqlite = passed ] && [ "$$postgres" != FAILED ]

test-sqlite: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The database tests again on PostgreSQL (127.0.0.1:5432, user postgres). Skipped with a
# message when no server answers, unless DJWORKERS_REQUIRE_SERVICES=1.
test-postgres: $(VENV)/.installed-test
	@if $(BIN)/python tests/postgres_available.py; then \
		DJWORKERS_TEST_DB=postgres $(BIN)/python -m pytest -m "django_db or postgres" $(PYTEST_ARGS); \
	elif [ "$$DJWORKERS_REQUIRE_SERVICES" = "1" ]; then \
		echo "PostgreSQL is required (DJWORKERS_REQUIRE_SERVICES=1) but not reachable"; exit 1; \
	else \
		echo "Skipping the PostgreSQL run: no server on 127.0.0.1:5432"; \
	fi

# ruff (lint and format) and mypy, configured in pyproject.toml; make test runs it first.
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

docs: $(VENV)/.installed-test
	$(BIN)/python -m sphinx -W -q -b html docs docs/_build

clean:
	rm -rf $(VENV) docs/_build .pytest_cache .tox *.egg-info

# Benchmarks (benchmarks/, docs/performance.rst): djworkers side by side with Huey, RQ, Dramatiq,
# Celery and django-tasks-db, ~35 min on 2 cores when quiet (it waits up to 60 s for quiet before each measurement); results in benchmarks/results/latest.{json,md}.
# The peers are installed by the harness into benchmarks/.venv-peers (benchmarks/requirements.txt).
BENCH_ARGS ?=
.PHONY: bench bench-quick

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# A quick smoke run (small counts, one repetition) into a scratch directory: the committed results stay.
bench-quick: $(VENV)/.installed
	$(BIN)/python -m benchmarks --quick --output benchmarks/results/quick $(BENCH_ARGS)
