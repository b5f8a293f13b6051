"""Cursor pagination: newest first, ``limit`` + ``starting_after`` (an id), ``has_more``.

Ids are ULIDs, so id order is creation order and the cursor is just the last id seen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = 20
    starting_after: str | None = None
    created_gte: dt.datetime | None = None
    created_lt: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool


async def paginate(session: AsyncSession, stmt: Select[tuple[T]], model: Any, page: PageRequest) -> Page[T]:
    """Apply the cursor, the time filters and the order to ``stmt`` (already tenant-scoped) and run it."""
    if page.starting_after is not None:
        stmt = stmt.where(model.id < page.starting_after)
    if page.created_gte is not None:
        stmt = stmt.where(model.created_at >= page.created_gte)
    if page.created_lt is not None:
        stmt = stmt.where(model.created_at < page.created_lt)
    rows = list((await session.scalars(stmt.order_by(model.id.desc()).limit(page.limit + 1))).all())
    return Page(items=rows[: page.limit], has_more=len(rows) > page.limit)
