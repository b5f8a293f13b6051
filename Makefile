# Two commands for a newcomer: `make run` (the whole product on SQLite) and `make test` (the suite on PostgreSQL
# and Redis). Only Python 3.11+ and make are needed; uv is bootstrapped into .uv/ and installs the lock file.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
BNPL := $(VENV)/bin/bnpl
export UV_PYTHON := $(PYTHON)

.PHONY: install run test test-postgres test-sqlite lint bench clean

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

install: $(VENV)/.synced  ## Create .venv and install the locked dependencies

run: install  ## Migrate the embedded database, create the demo tenant, serve on http://127.0.0.1:8000
	$(BNPL) db upgrade
	$(BNPL) demo
	$(BNPL) serve

test: install  ## The whole suite: PostgreSQL tier, then the SQLite tier
	$(VENV)/bin/python ops/ci/check_services.py
	$(VENV)/bin/lint-imports --no-cache
	$(MAKE) --no-print-directory test-postgres test-sqlite

test-postgres: install
	$(VENV)/bin/pytest -n 2 -q

test-sqlite: install
	BNPL_TEST_DB=sqlite $(VENV)/bin/pytest -n 2 -q -m "not postgres_only"

lint: install
	$(VENV)/bin/ruff check app domain fraud billing tests alembic ops
	$(VENV)/bin/ruff format --check app domain fraud billing tests alembic ops
	$(VENV)/bin/lint-imports --no-cache

bench: install  ## Benchmarks (see ops/bench/README.md)
	$(VENV)/bin/python ops/bench/run.py

clean:
	rm -rf .venv .uv var .pytest_cache
