"""Test set-up: the environment first (before any app import), then a migrated database per xdist worker.

Tiers:
* default: PostgreSQL (``BNPL_TEST_DATABASE_URL``, default postgres@127.0.0.1:5432), one database per xdist worker,
  built by running the migrations. Each test runs in an outer transaction that is rolled back; the code under test
  commits into savepoints (``join_transaction_mode="create_savepoint"``).
* ``BNPL_TEST_DB=sqlite``: the same tests on SQLite (``make test`` runs this tier with ``-m "not postgres_only"``).
* ``committed_db``: real commits on a real engine, truncated afterwards, for concurrency and worker tests.
"""

from __future__ import annotations

import os

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
TIER = os.environ.get("BNPL_TEST_DB", "postgres")
PG_ADMIN_URL = os.environ.get("BNPL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BNPL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# The pid keeps concurrent pytest runs on one machine (a developer's and a helper's) from sharing a database.
TEST_DB_NAME = f"bnpl_test_{WORKER}_{os.getpid()}"
if TIER == "sqlite":
    TEST_DB_URL = f"sqlite+aiosqlite:///./var/test/{TEST_DB_NAME}.db"
else:
    TEST_DB_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{TEST_DB_NAME}"

os.environ.update(
    {
        "BNPL_ENV": "test",
        "BNPL_DATABASE_URL": TEST_DB_URL,
        "BNPL_SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnop",
        "BNPL_LOG_LEVEL": "WARNING",
        "BNPL_BROKER_NAMESPACE": f"bnpl-test-{WORKER}-{os.getpid()}",
    }
)
os.environ.pop("BNPL_REDIS_URL", None)

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.app",
    "tests.fixtures.factories",
    "tests.fixtures.integrity",
]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (``rep_call``): teardown fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
