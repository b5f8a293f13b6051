"""Per-tenant gapless counters (invoice numbers, statement numbers).

``next_value`` increments one row with ``UPDATE … RETURNING``: the row lock serialises concurrent callers of one
tenant until their transactions end, and a rolled-back transaction gives its number back, so the sequence has no
gaps. (A database sequence would be faster but leaves gaps on rollback.)
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit.db import ID_LENGTH, Base
from domain.kit.dialect import insert_ignore_returning


class TenantCounter(Base):
    __tablename__ = "tenant_counters"

    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


_NEXT = text("UPDATE tenant_counters SET value = value + 1 WHERE tenant_id = :t AND name = :n RETURNING value")


async def next_value(session: AsyncSession, tenant_id: str, name: str) -> int:
    """The next value (1, 2, 3, …) of the tenant's counter ``name``."""
    value = (await session.execute(_NEXT, {"t": tenant_id, "n": name})).scalar_one_or_none()
    if value is None:
        await insert_ignore_returning(session, TenantCounter, "name", tenant_id=tenant_id, name=name, value=0)
        value = (await session.execute(_NEXT, {"t": tenant_id, "n": name})).scalar_one()
    return int(value)


_ADD = text("UPDATE tenant_counters SET value = value + :k WHERE tenant_id = :t AND name = :n RETURNING value")


async def next_values(session: AsyncSession, tenant_id: str, name: str, count: int) -> range:
    """The next ``count`` values of the counter at once (one row lock, one statement), in order."""
    if count <= 0:
        return range(0)
    last = (await session.execute(_ADD, {"t": tenant_id, "n": name, "k": count})).scalar_one_or_none()
    if last is None:
        await insert_ignore_returning(session, TenantCounter, "name", tenant_id=tenant_id, name=name, value=0)
        last = (await session.execute(_ADD, {"t": tenant_id, "n": name, "k": count})).scalar_one()
    return range(int(last) - count + 1, int(last) + 1)
