"""Settlement cycles: when a merchant's period closes and when it is paid (DOMAIN.md §6).

* weekly: closes every Friday, paid the next Friday;
* twice_monthly: closes on the 15th (paid at the month's end) and at the month's end (paid on the 15th after);
* monthly: closes at the month's end, paid at the end of the next month.

A pay date that is not a bank business day (weekends, national holidays, 12/31–1/3) moves to the previous
business day. Pure date arithmetic on JST business dates.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt

from domain.kit.calendar import previous_business_day

CYCLES = ("weekly", "twice_monthly", "monthly")


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, _calendar.monthrange(year, month)[1])


def _next_month(day: dt.date) -> tuple[int, int]:
    return (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)


def is_cutoff(cycle: str, day: dt.date) -> bool:
    if cycle == "weekly":
        return day.weekday() == 4  # Friday
    month_end = _month_end(day.year, day.month)
    if cycle == "twice_monthly":
        return day.day == 15 or day == month_end
    if cycle == "monthly":
        return day == month_end
    raise ValueError(f"unknown cycle {cycle!r}")


def next_cutoff(cycle: str, after: dt.date) -> dt.date:
    """The first cut-off strictly after ``after``."""
    if cycle == "weekly":
        return after + dt.timedelta(days=(4 - after.weekday()) % 7 or 7)
    day = after + dt.timedelta(days=1)
    if cycle == "twice_monthly":
        return day.replace(day=15) if day.day <= 15 else _month_end(day.year, day.month)
    if cycle == "monthly":
        return _month_end(day.year, day.month)
    raise ValueError(f"unknown cycle {cycle!r}")


def cutoffs(cycle: str, after: dt.date, until: dt.date) -> list[dt.date]:
    """Every cut-off in (after, until]."""
    out: list[dt.date] = []
    day = next_cutoff(cycle, after)
    while day <= until:
        out.append(day)
        day = next_cutoff(cycle, day)
    return out


def previous_cutoff(cycle: str, cutoff: dt.date) -> dt.date:
    """The cut-off before ``cutoff`` (the period of ``cutoff`` starts the day after it)."""
    if cycle == "weekly":
        return cutoff - dt.timedelta(days=7)
    if cycle == "twice_monthly":
        if cutoff.day == 15:
            prev = cutoff.replace(day=1) - dt.timedelta(days=1)
            return prev
        return cutoff.replace(day=15)
    if cycle == "monthly":
        return cutoff.replace(day=1) - dt.timedelta(days=1)
    raise ValueError(f"unknown cycle {cycle!r}")


def pay_date(cycle: str, cutoff: dt.date) -> dt.date:
    """When the period closing on ``cutoff`` is paid, moved to the previous bank business day."""
    if cycle == "weekly":
        day = cutoff + dt.timedelta(days=7)
    elif cycle == "twice_monthly":
        if cutoff.day == 15:
            day = _month_end(cutoff.year, cutoff.month)
        else:
            year, month = _next_month(cutoff)
            day = dt.date(year, month, 15)
    elif cycle == "monthly":
        year, month = _next_month(cutoff)
        day = _month_end(year, month)
    else:
        raise ValueError(f"unknown cycle {cycle!r}")
    return previous_business_day(day)
