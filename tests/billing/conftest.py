"""Every test here ends with bnpl check's invariants (tests/fixtures/integrity.py), but one: billing's tests seed
usage events in bulk (``tests.billing.helpers.usage``), without the screenings they would count."""

import pytest

from tests.fixtures.integrity import run_integrity


@pytest.fixture(autouse=True)
def _integrity(request):
    request.node.add_marker(pytest.mark.integrity_exempt("usage seeded in bulk", checks=("usage.screenings_exist",)))
    run_integrity(request)
