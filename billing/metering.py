"""Usage events: every billable act (a screening) is one row, written in the act's own transaction.

Deduplicated per tenant by (kind, source_id): the screening's id, so a retried or replayed request can never
bill twice. The platform-billing capability aggregates these into monthly invoices.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, UniqueConstraint, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit import clock
from domain.kit.db import ID_LENGTH, Base, TenantOwned
from domain.kit.dialect import insert_ignore_returning
from domain.kit.ids import new_id

SCREENING = "screening"


class UsageEvent(TenantOwned, Base):
    __tablename__ = "usage_events"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "source_id"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now, index=True)


async def record_usage(
    session: AsyncSession, tenant_id: str, kind: str, source_id: str, occurred_at: dt.datetime | None = None
) -> bool:
    """Record one billable event; ``False`` if this (kind, source) was already recorded."""
    inserted = await insert_ignore_returning(
        session,
        UsageEvent,
        "id",
        tenant_id=tenant_id,
        id=new_id("use"),
        kind=kind,
        source_id=source_id,
        occurred_at=occurred_at or clock.utc_now(),
    )
    return inserted is not None


async def count_usage(session: AsyncSession, tenant_id: str, kind: str, since: dt.datetime, until: dt.datetime) -> int:
    stmt = (
        select(func.count())
        .select_from(UsageEvent)
        .where(
            UsageEvent.tenant_id == tenant_id,
            UsageEvent.kind == kind,
            UsageEvent.occurred_at >= since,
            UsageEvent.occurred_at < until,
        )
    )
    return int((await session.execute(stmt)).scalar_one())
