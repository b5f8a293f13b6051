"""Money: integer minor units with a currency; rate math in Decimal; exact allocation."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.kit.money import CURRENCY_EXPONENTS, CurrencyMismatch, Money, allocate, apply_rate


class TestConstruction:
    @pytest.mark.parametrize("amount", [100.0, 0.5, Decimal("100"), "100", None])
    def test_rejects_non_int_amounts(self, amount):
        with pytest.raises(TypeError, match="must be an int"):
            Money(amount, "JPY")

    @pytest.mark.parametrize("amount", [True, False])
    def test_rejects_bool_amounts(self, amount):
        # bool is an int subclass: a JSON false must never become ¥0.
        with pytest.raises(TypeError, match="got bool"):
            Money(amount, "JPY")

    @pytest.mark.parametrize("currency", ["XXX", "jpy", "", "GBP"])
    def test_rejects_unknown_currencies(self, currency):
        with pytest.raises(ValueError, match="unsupported currency"):
            Money(100, currency)

    @pytest.mark.parametrize("currency", sorted(CURRENCY_EXPONENTS))
    def test_accepts_known_currencies(self, currency):
        assert Money(-5, currency).amount == -5
        assert Money.zero(currency) == Money(0, currency)


class TestArithmetic:
    def test_same_currency(self):
        assert Money(1_000, "JPY") + Money(250, "JPY") == Money(1_250, "JPY")
        assert Money(1_000, "JPY") - Money(1_250, "JPY") == Money(-250, "JPY")
        assert -Money(300, "USD") == Money(-300, "USD")

    @pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a - b], ids=["add", "sub"])
    def test_across_currencies_raises(self, op):
        with pytest.raises(CurrencyMismatch, match="JPY vs USD"):
            op(Money(100, "JPY"), Money(100, "USD"))

    def test_currency_mismatch_is_a_value_error(self):
        assert issubclass(CurrencyMismatch, ValueError)


class TestApplyRate:
    def test_rounds_down_by_default(self):
        # 1,999 × 10% = 199.9 → 199 (the Japanese consumption-tax convention).
        assert apply_rate(Money(1_999, "JPY"), Decimal("0.10")) == Money(199, "JPY")
        assert apply_rate(Money(1_234, "USD"), Decimal("0.035")) == Money(43, "USD")  # 43.19

    def test_round_down_truncates_toward_zero_for_negative_amounts(self):
        assert apply_rate(Money(-1_999, "JPY"), Decimal("0.10")) == Money(-199, "JPY")

    @pytest.mark.parametrize(
        ("rounding", "expected"),
        [("ROUND_DOWN", 12), ("ROUND_HALF_UP", 13), ("ROUND_HALF_EVEN", 12), ("ROUND_UP", 13)],
    )
    def test_explicit_rounding_modes(self, rounding, expected):
        # 25 × 0.5 = 12.5
        assert apply_rate(Money(25, "JPY"), Decimal("0.5"), rounding) == Money(expected, "JPY")

    def test_keeps_the_currency_and_returns_int(self):
        result = apply_rate(Money(1_000, "EUR"), Decimal("1.5"))
        assert result == Money(1_500, "EUR")
        assert type(result.amount) is int

    @pytest.mark.parametrize("rate", [0.1, 1, "0.1"])
    def test_requires_decimal(self, rate):
        with pytest.raises(TypeError, match="Decimal"):
            apply_rate(Money(1_000, "JPY"), rate)


class TestAllocate:
    @given(
        total=st.integers(min_value=-(10**15), max_value=10**15),
        weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12).filter(any),
        currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)),
    )
    # Near the BIGINT limit, with weights summing past 10^9 (Decimal's 28-digit precision used to round the
    # first share up, and the remainder then gave it a second unit).
    @example(total=9_000_000_000_000_000_003, weights=[333333333333, 166666666667, 500000000000], currency="JPY")
    @example(total=-9_000_000_000_000_000_003, weights=[333333333333, 166666666667, 500000000000], currency="JPY")
    def test_parts_sum_to_total_and_stay_within_one_unit(self, total, weights, currency):
        parts = allocate(Money(total, currency), weights)

        assert len(parts) == len(weights)
        assert all(p.currency == currency and type(p.amount) is int for p in parts)
        assert sum(p.amount for p in parts) == total
        whole = sum(weights)
        for part, weight in zip(parts, weights, strict=True):
            exact = Fraction(total * weight, whole)
            assert abs(part.amount - exact) < 1, (part, weight, exact)
            if weight == 0:
                assert part.amount == 0
            elif part.amount:
                # never the opposite sign of the total
                assert (part.amount > 0) == (total > 0)

    def test_remainder_goes_to_the_earliest_parts(self):
        assert [p.amount for p in allocate(Money(100, "JPY"), [1, 1, 1])] == [34, 33, 33]
        assert [p.amount for p in allocate(Money(-100, "JPY"), [1, 1, 1])] == [-34, -33, -33]
        assert [p.amount for p in allocate(Money(5, "JPY"), [0, 1, 1])] == [0, 3, 2]

    @pytest.mark.parametrize("weights", [[], [0, 0], [1, -1], [2, -1]])
    def test_rejects_invalid_weights(self, weights):
        with pytest.raises(ValueError, match="weights"):
            allocate(Money(100, "JPY"), weights)


class TestStr:
    @pytest.mark.parametrize(
        ("money", "text"),
        [
            (Money(0, "JPY"), "0 JPY"),
            (Money(1_234_567, "JPY"), "1,234,567 JPY"),
            (Money(-1_500, "JPY"), "-1,500 JPY"),
            (Money(0, "USD"), "0.00 USD"),
            (Money(5, "USD"), "0.05 USD"),
            (Money(123_456_789, "USD"), "1,234,567.89 USD"),
            (Money(-5, "USD"), "-0.05 USD"),
            (Money(-100_050, "EUR"), "-1,000.50 EUR"),
        ],
    )
    def test_formatting(self, money, text):
        assert str(money) == text
