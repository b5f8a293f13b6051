"""Consumers (名寄せ identities and their credit exposure), credit policies, orders, captures and refunds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit.db import ID_LENGTH, Base, JSONType, TenantOwned, Timestamped

# Orders whose merchant order id is taken: a declined, cancelled or expired order frees it for a new attempt.
ACTIVE_ORDER = "status NOT IN ('declined', 'cancelled', 'expired')"


class Consumer(TenantOwned, Timestamped, Base):
    """A buyer as 名寄せ sees them: several identity keys (``ConsumerKey``) may point to one consumer.

    ``outstanding`` is the credit exposure: authorized-not-captured plus invoiced-not-paid, in minor units. It only
    changes by one conditional ``UPDATE`` (``outstanding + :delta <= :limit``) so the limit holds under concurrent
    orders; the CHECK makes releasing more than was reserved impossible. When a new order's keys join two
    consumers, the younger is merged into the older (``merged_into``): its exposure moves over and its keys are
    repointed; orders keep the consumer id they were made with and resolve through ``merged_into``.
    """

    __tablename__ = "consumers"
    __table_args__ = (CheckConstraint("outstanding >= 0", name="outstanding_not_negative"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    outstanding: Mapped[int] = mapped_column(BigInteger, default=0)
    orders_count: Mapped[int] = mapped_column(Integer, default=0)  # orders that passed screening and credit
    overdue_count: Mapped[int] = mapped_column(Integer, default=0)  # overdue invoices (kept by collections)
    merged_into: Mapped[str | None] = mapped_column(String(ID_LENGTH))


class ConsumerKey(TenantOwned, Base):
    """One identity key of a consumer: a keyed hash of a normalised phone, email, or name + billing address."""

    __tablename__ = "consumer_keys"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "consumer_id"], ["consumers.tenant_id", "consumers.id"]),
        Index("ix_consumer_keys_consumer", "tenant_id", "consumer_id"),
    )

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # phone | email | name_address
    key_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    consumer_id: Mapped[str] = mapped_column(String(ID_LENGTH))


class CreditPolicyVersion(TenantOwned, Timestamped, Base):
    """One immutable version of an operator's credit and invoicing policy (``domain/checkout/policy.py``)."""

    __tablename__ = "credit_policy_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    note: Mapped[str] = mapped_column(String(500), default="")


class Order(TenantOwned, Timestamped, Base):
    """An order (= authorization) and where it stands: see the state machine in ``docs/checkout.md``.

    Money columns are minor units. ``amount`` is the authorized total after changes; ``captured_amount`` what was
    shipped, ``released_amount`` what was given up uncaptured, ``refunded_amount`` what was refunded after
    capture. ``exposure`` is this order's share of its consumer's ``outstanding``.
    """

    __tablename__ = "orders"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "merchant_id"], ["merchants.tenant_id", "merchants.id"]),
        ForeignKeyConstraint(["tenant_id", "consumer_id"], ["consumers.tenant_id", "consumers.id"]),
        Index(
            "uq_orders_active_merchant_order_id",
            "tenant_id",
            "merchant_id",
            "merchant_order_id",
            unique=True,
            postgresql_where=text(ACTIVE_ORDER),
            sqlite_where=text(ACTIVE_ORDER),
        ),
        Index("ix_orders_merchant", "tenant_id", "merchant_id", "id"),
        Index("ix_orders_merchant_order_id", "tenant_id", "merchant_id", "merchant_order_id"),
        Index("ix_orders_status", "tenant_id", "status", "id"),
        Index(
            "ix_orders_expiry",
            "expires_at",
            postgresql_where=text("status IN ('authorized', 'partially_captured')"),
            sqlite_where=text("status IN ('authorized', 'partially_captured')"),
        ),
        Index(
            "ix_orders_guarantee",
            "guarantee_deadline",
            postgresql_where=text("guarantee = 'pending'"),
            sqlite_where=text("guarantee = 'pending'"),
        ),
        Index(
            "ix_orders_review_deadline",
            "review_deadline",
            postgresql_where=text("status = 'in_review'"),
            sqlite_where=text("status = 'in_review'"),
        ),
        Index("ix_orders_screening", "tenant_id", "screening_id"),
        CheckConstraint(
            "captured_amount >= 0 AND released_amount >= 0 AND refunded_amount >= 0 AND exposure >= 0"
            " AND captured_amount + released_amount <= amount AND refunded_amount <= captured_amount",
            name="amounts_consistent",
        ),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    merchant_order_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    captured_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    released_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    exposure: Mapped[int] = mapped_column(BigInteger, default=0)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    buyer: Mapped[dict[str, Any]]
    shipping: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    device: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    invoice_delivery: Mapped[str] = mapped_column(String(10))  # separate (別送) | enclosed (同梱)
    ordered_at: Mapped[dt.datetime | None]
    consumer_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    screening_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    credit_policy_version: Mapped[int] = mapped_column(Integer)
    decline_reason: Mapped[str | None] = mapped_column(String(32))  # coarse, for the merchant
    decline_detail: Mapped[str | None] = mapped_column(String(64))  # full, for the operator
    review_deadline: Mapped[dt.datetime | None]
    authorized_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    # The payment guarantee (未払い保証): none before capture, pending until arrival is confirmed, then guaranteed;
    # unguaranteed when arrival was not confirmed in time (the merchant's advance is clawed back).
    guarantee: Mapped[str] = mapped_column(String(12), default="none")
    guarantee_deadline: Mapped[dt.datetime | None]
    arrival_confirmed_at: Mapped[dt.datetime | None]
    test_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime]


class Capture(TenantOwned, Timestamped, Base):
    """A shipment report (出荷報告): it fixes the sale of ``amount`` and issues (or extends) the invoice."""

    __tablename__ = "order_captures"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "order_id"], ["orders.tenant_id", "orders.id"]),
        Index("ix_order_captures_order", "tenant_id", "order_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    amount: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)  # [{ref, quantity, amount}] or [] (by amount)
    carrier: Mapped[str] = mapped_column(String(20))
    tracking_number: Mapped[str] = mapped_column(String(40))
    shipped_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))


class Refund(TenantOwned, Timestamped, Base):
    """A refund after capture: reduces what the consumer owes (or is owed back) and what the merchant is paid."""

    __tablename__ = "order_refunds"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "order_id"], ["orders.tenant_id", "orders.id"]),
        Index("ix_order_refunds_order", "tenant_id", "order_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    amount: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    reason: Mapped[str] = mapped_column(String(500), default="")
    # How the refund landed: reduced the unpaid invoice(s), and/or became money owed back to the consumer.
    invoice_reduction: Mapped[int] = mapped_column(BigInteger, default=0)
    consumer_refund_due: Mapped[int] = mapped_column(BigInteger, default=0)
    # Made while the order was out of the guarantee: the unpaid part came off unguaranteed_payable (the merchant
    # was owed it only if the consumer paid), the part the consumer had paid off merchant_payable (settlement).
    unguaranteed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
