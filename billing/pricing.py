"""The arithmetic of platform billing, pure: months in JST, proration by days, graduated tiers, tax once per rate,
and the 適格請求書発行事業者 registration number.

Rounding rules (written down once, here):
* A fractional amount is rounded once per invoice line, with the plan version's ``line_rounding`` (default
  ROUND_DOWN, in the customer's favour): a prorated fee, a tier's units × unit price.
* Included units of a partial month are prorated by days and rounded down (the customer never gets more free
  units than the share of the month it subscribed for... and never fewer than that share floored).
* Consumption tax is computed once per invoice per rate on the rate's total, with the issuer's rounding (default
  ROUND_DOWN), never per line (¥105 × 3 at 10 % → ¥31, not 3 × ¥10).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.jp import cn as corporate_number

from domain.kit import clock

ROUNDINGS = ("ROUND_DOWN", "ROUND_HALF_UP", "ROUND_UP")


# -- months (JST) ---------------------------------------------------------------------------------------------


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def previous_month(month: dt.date) -> dt.date:
    return (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def days_in_month(month: dt.date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def month_bounds_utc(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[00:00 JST on the 1st, 00:00 JST on the next 1st) as UTC instants."""
    return clock.jst_midnight_utc(month), clock.jst_midnight_utc(next_month(month))


def jst_month_of(instant: dt.datetime) -> dt.date:
    return instant.astimezone(clock.JST).date().replace(day=1)


def overlap(start: dt.date, end: dt.date | None, month: dt.date) -> tuple[dt.date, dt.date] | None:
    """The part of [start, end) inside the month, or ``None``."""
    lo = max(start, month)
    hi = min(end, next_month(month)) if end is not None else next_month(month)
    return (lo, hi) if lo < hi else None


# -- amounts --------------------------------------------------------------------------------------------------


def round_yen(value: Decimal, rounding: str) -> int:
    if rounding not in ROUNDINGS:
        raise ValueError(f"unknown rounding {rounding!r}")
    return int(value.quantize(Decimal(1), rounding=rounding))


def prorate(amount: int, days: int, month_days: int, rounding: str = "ROUND_DOWN") -> int:
    """``amount × days / month_days`` rounded once (a full month is the amount itself)."""
    if days >= month_days:
        return amount
    return round_yen(Decimal(amount) * days / month_days, rounding)


def parse_price(value: str) -> Decimal:
    """A unit price as a decimal string (``"4"``, ``"2.5"``): finite, not negative, at most 6 decimals."""
    try:
        price = Decimal(value)
    except (InvalidOperation, TypeError):
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"a unit price must be a finite number ≥ 0: {value!r}")
    if price.as_tuple().exponent < -6:  # type: ignore[operator]
        raise ValueError(f"at most 6 decimals: {value!r}")
    return price


@dataclass(frozen=True, slots=True)
class Tier:
    up_to: int | None  # cumulative units beyond the included ones; None: open
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class TierLine:
    first: int  # the first unit of the tier (1-based, counted beyond the included units)
    last: int | None
    quantity: int
    unit_price: Decimal
    amount: int


def graduated(units: int, tiers: Sequence[Tier], rounding: str = "ROUND_DOWN") -> list[TierLine]:
    """Price ``units`` (already beyond the included ones) over graduated tiers: each unit at its tier's price,
    one line per tier touched, each line rounded once."""
    if units < 0:
        raise ValueError("units must not be negative")
    lines: list[TierLine] = []
    below = 0
    for tier in tiers:
        if units <= below:
            break
        top = units if tier.up_to is None else min(units, tier.up_to)
        quantity = top - below
        if quantity > 0:
            amount = round_yen(tier.unit_price * quantity, rounding)
            lines.append(TierLine(below + 1, tier.up_to, quantity, tier.unit_price, amount))
        below = top
    if units > below:
        raise ValueError("the tiers do not cover every unit (the last tier must be open: up_to null)")
    return lines


def usage_amount(used: int, included: int, tiers: Sequence[Tier], rounding: str = "ROUND_DOWN") -> int:
    return sum(line.amount for line in graduated(max(0, used - included), tiers, rounding))


def prorated_included(included: int, days: int, month_days: int) -> int:
    return included if days >= month_days else included * days // month_days


# -- tax ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateTotal:
    tax_rate: int
    taxable_base: int
    tax: int


def tax_by_rate(amounts: Iterable[tuple[int, int]], rounding: str = "ROUND_DOWN") -> list[RateTotal]:
    """(amount, rate %) pairs → one total per rate with its tax computed once on the rate's total."""
    bases: dict[int, int] = {}
    for amount, rate in amounts:
        bases[rate] = bases.get(rate, 0) + amount
    return [
        RateTotal(rate, base, round_yen(Decimal(base) * rate / 100, rounding)) for rate, base in sorted(bases.items())
    ]


# -- registration number --------------------------------------------------------------------------------------


def registration_number_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 適格請求書発行事業者 registration number (``T`` + 13 digits whose first digit
    is the 法人番号 check digit), or ``None`` if it is. Whether the number is registered can only be checked on
    the National Tax Agency's site; this checks its form."""
    if len(value) != 14 or value[0] != "T" or not value[1:].isascii() or not value[1:].isdigit():
        return "a registration number is 'T' followed by 13 digits (e.g. T7123456789012)"
    try:
        corporate_number.validate(value[1:])
    except StdnumValidationError:
        return "the check digit (the first digit after 'T') does not match the 12 digits that follow"
    return None
