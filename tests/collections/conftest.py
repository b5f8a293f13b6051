"""Every test here ends with bnpl check's invariants (tests/fixtures/integrity.py)."""

import pytest

from tests.fixtures.integrity import run_integrity


@pytest.fixture(autouse=True)
def _integrity(request):
    run_integrity(request)
