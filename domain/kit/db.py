"""The declarative base, the constraint naming convention and the column types every model shares."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, MetaData, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.kit import clock

# Named constraints make migrations deterministic and let a later migration drop a constraint by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware instant, stored as UTC; SQLite gives naive values back, so they are re-tagged as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: use domain.kit.clock.utc_now()")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# JSONB on PostgreSQL, JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")

# Amounts in minor units: 64-bit, because sums over a tenant's history outgrow 32 bits.
MinorUnits = BigInteger

ID_LENGTH = 40  # "prefix_" + 26-char ULID, with room for longer prefixes


def id_column(**kw: Any) -> Mapped[str]:
    return mapped_column(String(ID_LENGTH), **kw)


class Base(AsyncAttrs, DeclarativeBase):
    """Every model's base. Relationships must say ``lazy="raise"`` and be loaded explicitly."""

    metadata = metadata
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSONType}


class Timestamped:
    """``created_at`` set in Python (so freezegun reaches it), never by the server."""

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.utc_now, nullable=False)


class TenantOwned:
    """A row that belongs to one operator. ``tenant_id`` leads the primary key and every unique constraint,

    so the table can be distributed by tenant (Citus ``create_distributed_table(..., 'tenant_id')``) without
    a rewrite, and a foreign key to another tenant-owned table includes it (a row can never point across tenants).
    """

    tenant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("operators.id"), primary_key=True, sort_order=-10
    )
