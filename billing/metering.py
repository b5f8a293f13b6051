"""Usage events: every billable act (a screening) is one row, written in the act's own transaction.

Deduplicated per tenant by (kind, source_id): for a screening the screening's id, so a retried or replayed request
can never bill twice; for an event sent to the ingestion endpoint the sender's key. The same key again with the
same payload is a duplicate (the first event stands); with another payload it is refused and the first one is
kept. Aggregation is per calendar month in JST (``billing.service``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import BigInteger, Index, String, UniqueConstraint, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit import clock
from domain.kit.db import ID_LENGTH, Base, TenantOwned
from domain.kit.dialect import insert_ignore_returning
from domain.kit.ids import new_id

SCREENING = "screening"
SOURCE_ID_LENGTH = 100


class UsageEvent(TenantOwned, Base):
    __tablename__ = "usage_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "source_id"),
        # A tenant's usage over time: the late-usage recount and the usage-detail export of one tenant.
        Index("ix_usage_events_tenant_occurred", "tenant_id", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[str] = mapped_column(String(SOURCE_ID_LENGTH))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now, index=True)
    quantity: Mapped[int] = mapped_column(BigInteger, default=1, server_default=text("1"))
    # SHA-256 of an ingested event's payload (NULL for screenings, whose key is our own id).
    payload_hash: Mapped[str | None] = mapped_column(String(64))


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


def payload_hash(kind: str, quantity: int, occurred_at: dt.datetime) -> str:
    canonical = json.dumps(
        {"kind": kind, "quantity": quantity, "occurred_at": occurred_at.astimezone(dt.UTC).isoformat()},
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def ingest_usage(
    session: AsyncSession, tenant_id: str, kind: str, key: str, quantity: int, occurred_at: dt.datetime
) -> tuple[UsageEvent, bool]:
    """Insert an event sent by another billable source; ``(event, created)``.

    If ``key`` was used before for this tenant and kind, the first event is returned with ``created=False`` when
    the payload is the same; the caller refuses a different payload (``payload_hash`` differs)."""
    digest = payload_hash(kind, quantity, occurred_at)
    inserted = await insert_ignore_returning(
        session,
        UsageEvent,
        "id",
        tenant_id=tenant_id,
        id=new_id("use"),
        kind=kind,
        source_id=key,
        occurred_at=occurred_at,
        quantity=quantity,
        payload_hash=digest,
    )
    stmt = select(UsageEvent).where(
        UsageEvent.tenant_id == tenant_id, UsageEvent.kind == kind, UsageEvent.source_id == key
    )
    event = (await session.scalars(stmt)).one()
    return event, inserted is not None


async def count_usage(session: AsyncSession, tenant_id: str, kind: str, since: dt.datetime, until: dt.datetime) -> int:
    stmt = select(func.coalesce(func.sum(UsageEvent.quantity), 0)).where(
        UsageEvent.tenant_id == tenant_id,
        UsageEvent.kind == kind,
        UsageEvent.occurred_at >= since,
        UsageEvent.occurred_at < until,
    )
    return int((await session.execute(stmt)).scalar_one())
