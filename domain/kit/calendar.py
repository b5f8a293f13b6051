"""Japanese bank business days (銀行営業日), for due dates, dunning steps and settlement.

The rule: a day is a bank business day unless it is

* a Saturday or a Sunday,
* a national holiday under 国民の祝日に関する法律, including substitute holidays (振替休日) and citizens'
  holidays (国民の休日), as computed by ``jpholiday``,
* 12/31, 1/1, 1/2 or 1/3 (the year-end closure).

Source: 銀行法 第15条 第1項 and 銀行法施行令 第5条 第1項 (the days a bank may close), which is also the calendar
of the Zengin system (全銀システム) and of bank-transfer value dates. Dates are JST business dates (``datetime.date``);
a ``datetime`` is refused so that a UTC instant is never mistaken for a JST day.

The holiday set is computed once per year and cached; every function here is pure.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import jpholiday

__all__ = ["add_business_days", "is_bank_business_day", "next_business_day", "previous_business_day"]

_YEAR_END_CLOSURE = ((12, 31), (1, 1), (1, 2), (1, 3))
_ONE_DAY = dt.timedelta(days=1)


@lru_cache(maxsize=64)
def _closed_days(year: int) -> frozenset[dt.date]:
    """Weekday closures of ``year``: national holidays plus 12/31–1/3 (weekends are checked separately)."""
    holidays = {day for day, _name in jpholiday.year_holidays(year)}
    holidays.update(dt.date(year, month, day) for month, day in _YEAR_END_CLOSURE)
    return frozenset(holidays)


def _check(d: dt.date) -> None:
    if isinstance(d, dt.datetime) or not isinstance(d, dt.date):
        raise TypeError(f"expected a datetime.date (a JST business date), got {type(d).__name__}")


def is_bank_business_day(d: dt.date) -> bool:
    """Whether banks in Japan are open on ``d``: not a weekend, a national holiday or 12/31–1/3."""
    _check(d)
    return d.weekday() < 5 and d not in _closed_days(d.year)


def next_business_day(d: dt.date) -> dt.date:
    """The first bank business day on or after ``d`` (``d`` itself when it is one)."""
    _check(d)
    while not is_bank_business_day(d):
        d += _ONE_DAY
    return d


def previous_business_day(d: dt.date) -> dt.date:
    """The last bank business day on or before ``d`` (``d`` itself when it is one)."""
    _check(d)
    while not is_bank_business_day(d):
        d -= _ONE_DAY
    return d


def add_business_days(d: dt.date, n: int) -> dt.date:
    """The ``n``-th bank business day after ``d`` (before it when ``n`` is negative).

    ``d`` itself is never counted, so Friday + 1 and Saturday + 1 are both the next Monday (when it is open), and
    Monday − 1 is the previous Friday. ``n == 0`` rolls forward: ``next_business_day(d)``, so the result is always a
    business day.
    """
    _check(d)
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n == 0:
        return next_business_day(d)
    step = _ONE_DAY if n > 0 else -_ONE_DAY
    remaining = abs(n)
    while remaining:
        d += step
        if is_bank_business_day(d):
            remaining -= 1
    return d
