"""The one source of time. Tests move it with freezegun (``freeze_time(..., real_asyncio=True)``)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


def utc_now() -> dt.datetime:
    """The current instant, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def jst_today() -> dt.date:
    """Today's business date in Japan (business dates are JST everywhere in the product)."""
    return utc_now().astimezone(JST).date()


def jst_midnight_utc(day: dt.date) -> dt.datetime:
    """The UTC instant at which the JST business date ``day`` begins."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=JST).astimezone(dt.UTC)
