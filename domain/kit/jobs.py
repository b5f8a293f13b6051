"""Leases: which process is the active scheduler. A conditional UPDATE, so it works on both dialects."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit import clock
from domain.kit.db import Base
from domain.kit.dialect import insert_ignore


class Lease(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime]


async def acquire_lease(session: AsyncSession, name: str, holder: str, ttl: dt.timedelta) -> bool:
    """Take or renew ``name`` for ``holder``; ``True`` while this holder owns it.

    Another holder gets it only once the lease has expired, so at most one scheduler runs at a time (a holder
    that stalls longer than ``ttl`` loses it; the outbox's per-slot dedupe keys keep that gap harmless).
    """
    now = clock.utc_now()
    await session.execute(insert_ignore(session, Lease, name=name, holder=holder, expires_at=now + ttl))
    result = await session.execute(
        update(Lease)
        .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
