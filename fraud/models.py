"""Screenings, their identifiers (for history), lists, external address data, policies, the negative database."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit import clock
from domain.kit.db import ID_LENGTH, Base, JSONType, TenantOwned, Timestamped


class Screening(TenantOwned, Timestamped, Base):
    """One screened order: its verdict, score, reasons, the features behind them and the policy version.

    ``features`` holds the evaluated signals, history counts and list/external hits (no raw personal data), so a
    screening can be explained and replayed against another policy (``bnpl fraud backtest``).
    """

    __tablename__ = "fraud_screenings"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "merchant_id"], ["merchants.tenant_id", "merchants.id"]),
        Index("ix_fraud_screenings_queue", "tenant_id", "status", "review_deadline"),
        Index("ix_fraud_screenings_order", "tenant_id", "merchant_id", "order_ref"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    order_ref: Mapped[str] = mapped_column(String(100))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    verdict: Mapped[str] = mapped_column(String(6))  # the engine's: OK | REVIEW | NG
    score: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[str]] = mapped_column(JSONType)
    features: Mapped[dict[str, Any]]
    policy_version: Mapped[int] = mapped_column(Integer)
    # decided (OK/NG) | in_review | approved | rejected | expired
    status: Mapped[str] = mapped_column(String(12))
    review_deadline: Mapped[dt.datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(12))  # fraud | chargeback | good
    outcome_at: Mapped[dt.datetime | None]


class ScreeningIdentifier(TenantOwned, Base):
    """A keyed hash of one normalised identifier of a screening: the history the velocity signals count."""

    __tablename__ = "fraud_identifiers"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "screening_id"], ["fraud_screenings.tenant_id", "fraud_screenings.id"]),
        # Every history lookup is (tenant, kind, hash) newest first, limited: an index range scan, capped.
        Index("ix_fraud_identifiers_lookup", "tenant_id", "kind", "key_hash", "created_at"),
    )

    screening_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)


class ListEntry(TenantOwned, Timestamped, Base):
    """An allow- or block-list entry of one identifier (stored as its keyed hash, with a masked label)."""

    __tablename__ = "fraud_list_entries"
    __table_args__ = (UniqueConstraint("tenant_id", "list", "kind", "key_hash"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    list: Mapped[str] = mapped_column(String(5))  # allow | block
    kind: Mapped[str] = mapped_column(String(10))
    key_hash: Mapped[str] = mapped_column(String(32))
    masked: Mapped[str] = mapped_column(String(200))  # e.g. "090-****-5678", for people to recognise it
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))


class ExternalAddress(TenantOwned, Timestamped, Base):
    """An operator's own addition to the external address data (hotels, forwarding warehouses, …)."""

    __tablename__ = "fraud_external_addresses"
    __table_args__ = (UniqueConstraint("tenant_id", "category", "address_key"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    category: Mapped[str] = mapped_column(String(20))
    address_key: Mapped[str] = mapped_column(String(300))
    label: Mapped[str] = mapped_column(String(200), default="")


class PolicyVersion(TenantOwned, Base):
    """Every version of a tenant's policy; the highest is active. Versions are never changed."""

    __tablename__ = "fraud_policies"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[dict[str, Any]]
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)


class NegativeEntry(Base):
    """The shared negative database: a keyed hash of an identifier confirmed fraudulent by *some* tenant.

    Platform-wide on purpose (every tenant's screenings match it), and it holds no tenant id: a hit tells the
    kind of identifier that matched, never whose. Who reported what is in ``fraud_negative_reports``
    (tenant-owned, never read across tenants).
    """

    __tablename__ = "fraud_negative_entries"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_reported_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)


class NegativeReport(TenantOwned, Timestamped, Base):
    __tablename__ = "fraud_negative_reports"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "key_hash"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    key_hash: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(20))  # review_rejected | fraud | chargeback | manual
    screening_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
