"""The pure arithmetic of platform billing: graduated tiers against a unit-by-unit count, proration, tax once per
rate (¥105 × 3 → ¥31), JST months, and the registration number's check digit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.pricing import (
    Tier,
    graduated,
    jst_month_of,
    month_bounds_utc,
    next_month,
    prorate,
    prorated_included,
    registration_number_problem,
    tax_by_rate,
)

TIERS = [Tier(9_000, Decimal("4")), Tier(None, Decimal("3"))]


def test_tax_is_computed_once_per_rate_not_per_line():
    assert tax_by_rate([(105, 10)] * 3)[0].tax == 31  # per line it would be 3 × 10 = 30
    [eight, ten] = tax_by_rate([(105, 10), (1_000, 8), (210, 10), (999, 8)])
    assert (eight.tax_rate, eight.taxable_base, eight.tax) == (8, 1_999, 159)
    assert (ten.tax_rate, ten.taxable_base, ten.tax) == (10, 315, 31)
    assert tax_by_rate([(105, 10)] * 3, "ROUND_HALF_UP")[0].tax == 32


@pytest.mark.parametrize(
    ("units", "lines"),
    [(0, []), (1, [(1, 1, 4)]), (9_000, [(1, 9_000, 36_000)]), (9_001, [(1, 9_000, 36_000), (9_001, 1, 3)])],
)
def test_tier_boundaries(units, lines):
    assert [(t.first, t.quantity, t.amount) for t in graduated(units, TIERS)] == lines


@given(
    units=st.integers(min_value=0, max_value=50_000),
    bounds=st.lists(st.integers(min_value=1, max_value=40_000), max_size=4, unique=True),
    prices=st.lists(st.decimals(min_value=0, max_value=100, places=2), min_size=5, max_size=5),
)
def test_graduated_prices_every_unit_once_at_its_tier(units, bounds, prices):
    tiers = [Tier(b, prices[i]) for i, b in enumerate(sorted(bounds))] + [Tier(None, prices[4])]
    lines = graduated(units, tiers)
    assert sum(line.quantity for line in lines) == units
    # Each unit at the price of the tier it falls in: the exact price before any rounding.
    exact = Decimal(0)
    below = 0
    for tier in tiers:
        top = units if tier.up_to is None else min(units, tier.up_to)
        exact += tier.unit_price * max(0, top - below)
        below = max(below, top)
    total = sum(line.amount for line in lines)
    # Rounded down once per line: never more than the exact price, less by under ¥1 a line.
    assert total <= exact
    assert total > exact - len(lines) if lines else total == 0


def test_the_last_tier_must_be_open():
    with pytest.raises(ValueError, match="open"):
        graduated(11, [Tier(10, Decimal(1))])


@pytest.mark.parametrize(
    ("fee", "days", "month_days", "expected"),
    [(4_000, 30, 30, 4_000), (4_000, 15, 30, 2_000), (4_000, 22, 31, 2_838), (100_000, 1, 28, 3_571)],
)
def test_proration_by_days_rounded_once(fee, days, month_days, expected):
    assert prorate(fee, days, month_days) == expected


@given(days=st.integers(min_value=1, max_value=30))
def test_the_two_halves_of_a_plan_change_never_bill_more_than_the_month(days):
    assert prorate(4_000, days, 31) + prorate(4_000, 31 - days, 31) <= 4_000
    assert prorated_included(1_000, days, 31) + prorated_included(1_000, 31 - days, 31) <= 1_000


def test_jst_month_bounds():
    lo, hi = month_bounds_utc(dt.date(2026, 12, 1))
    assert (lo, hi) == (dt.datetime(2026, 11, 30, 15, tzinfo=dt.UTC), dt.datetime(2026, 12, 31, 15, tzinfo=dt.UTC))
    assert jst_month_of(dt.datetime(2026, 11, 30, 14, 59, 59, 999_999, tzinfo=dt.UTC)) == dt.date(2026, 11, 1)
    assert jst_month_of(dt.datetime(2026, 11, 30, 15, tzinfo=dt.UTC)) == dt.date(2026, 12, 1)
    assert next_month(dt.date(2028, 2, 1)) == dt.date(2028, 3, 1)
    assert month_bounds_utc(dt.date(2028, 2, 1))[1] - month_bounds_utc(dt.date(2028, 2, 1))[0] == dt.timedelta(days=29)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("T7123456789012", True),
        ("T8123456789012", False),  # wrong check digit
        ("7123456789012", False),  # no T
        ("T712345678901", False),  # 12 digits
        ("t7123456789012", False),
        ("T７123456789012", False),  # a full-width digit
    ],
)
def test_registration_number(number, valid):
    assert (registration_number_problem(number) is None) is valid
