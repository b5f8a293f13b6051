"""Every test here ends with bnpl check's invariants (tests/fixtures/integrity.py), but one: billing's tests seed
usage events in bulk (``tests.billing.helpers.usage``), without the screenings they would count."""

import pytest

from tests.fixtures.integrity import check_after


@pytest.fixture(autouse=True)
async def _integrity(request, db):
    yield
    await check_after(request, db, ignore=("usage.screenings_exist",))
