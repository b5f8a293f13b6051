"""和暦 ``YYMMDD`` dates as Zengin 振込入金通知 / 入出金取引明細 files write them, and back.

The two-digit year counts from the start of an era: 令和 (Reiwa) began on 2019-05-01 (R1 = 2019, year = 2018 + YY),
平成 (Heisei) ran from 1989-01-08 to 2019-04-30 (H1 = 1989, year = 1988 + YY). The file does not say which era, so
the reader decides by plausibility: the caller gives a window (``not_before`` … ``not_after``; a file is never
created in the future, and its entries lie shortly before its creation date), and the date is read as Reiwa when
that reading is a real Reiwa date in the window, otherwise as Heisei when that reading is a real Heisei date in the
window, otherwise it is an error. The two readings are 30 years apart, so a window shorter than that never leaves a
choice. With a window ending in late 2026, ``300415`` is H30-04-15 = 2018-04-15 (R30 would be 2048), ``081120`` is
R8-11-20 = 2026-11-20, and ``010415`` is H1-04-15 = 1989-04-15 when the window reaches back that far (Reiwa 1 had
no April). Era boundaries are dates, not years, which is why
both readings are checked against the era's first and last day rather than computed from the year alone.

A small exact function is clearer here than a dependency: only two eras can occur in these files.
"""

from __future__ import annotations

from datetime import date

__all__ = [
    "HEISEI_END",
    "HEISEI_START",
    "REIWA_START",
    "InvalidWarekiDate",
    "date_to_wareki",
    "wareki_to_date",
]

REIWA_START = date(2019, 5, 1)
HEISEI_START = date(1989, 1, 8)
HEISEI_END = date(2019, 4, 30)
_REIWA_OFFSET = 2018
_HEISEI_OFFSET = 1988


class InvalidWarekiDate(ValueError):
    """Six digits that are no plausible Reiwa or Heisei date."""


def wareki_to_date(yymmdd: str | bytes, *, not_after: date, not_before: date = HEISEI_START) -> date:
    """The Gregorian date of a 和暦 ``YYMMDD`` (six ASCII digits), choosing the era as the module doc describes,
    within the plausibility window ``not_before`` … ``not_after``.

    Raises :class:`InvalidWarekiDate` for text that is not six digits, an impossible day (``081331``), and a date
    neither of whose readings falls in the window (a window shorter than 30 years leaves at most one).
    """
    text = yymmdd.decode("ascii", "replace") if isinstance(yymmdd, bytes) else yymmdd
    if len(text) != 6 or not text.isascii() or not text.isdigit():
        raise InvalidWarekiDate(f"{text!r} is not a YYMMDD date (six digits)")
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    reiwa = _date_or_none(_REIWA_OFFSET + yy, mm, dd) if yy >= 1 else None
    if reiwa is not None and reiwa < REIWA_START:
        reiwa = None
    if reiwa is not None and not_before <= reiwa <= not_after:
        return reiwa
    heisei = _date_or_none(_HEISEI_OFFSET + yy, mm, dd) if yy >= 1 else None
    if heisei is not None and not HEISEI_START <= heisei <= HEISEI_END:
        heisei = None
    if heisei is not None and not_before <= heisei <= not_after:
        return heisei
    if reiwa is None and heisei is None:
        raise InvalidWarekiDate(f"{text} is no date of 令和 (from 2019-05-01) or 平成 (1989-01-08 … 2019-04-30)")
    readings = " or ".join(
        f"{era} {day.isoformat()}" for era, day in (("令和", reiwa), ("平成", heisei)) if day is not None
    )
    raise InvalidWarekiDate(
        f"{text} ({readings}) is outside the plausible {not_before.isoformat()} … {not_after.isoformat()}"
    )


def date_to_wareki(day: date) -> str:
    """``YYMMDD`` of ``day`` in its era: 令和 from 2019-05-01, 平成 from 1989-01-08; ``ValueError`` before that
    or after R99 (2117)."""
    if day >= REIWA_START:
        year = day.year - _REIWA_OFFSET
    elif day >= HEISEI_START:
        year = day.year - _HEISEI_OFFSET
    else:
        raise ValueError(f"{day.isoformat()} is before 平成 (1989-01-08), which Zengin files cannot carry")
    if year > 99:
        raise ValueError(f"{day.isoformat()} is beyond 令和99, which YYMMDD cannot carry")
    return f"{year:02d}{day.month:02d}{day.day:02d}"


def _date_or_none(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
