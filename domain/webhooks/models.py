"""Merchant webhooks: endpoints, the events emitted to them, one delivery per (event, endpoint) and its attempts.

The signing secret of an endpoint is not stored: it is derived from ``BNPL_SECRET_KEY``, the endpoint id and
``secret_version`` (``domain/webhooks/signing.py``), so a stolen table signs nothing and a rotation is a counter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit import clock
from domain.kit.db import ID_LENGTH, Base, JSONType, TenantOwned, Timestamped


class WebhookEndpoint(TenantOwned, Timestamped, Base):
    """A merchant's HTTPS URL and the event types it subscribes to (``["*"]`` for all).

    Deleting an endpoint sets ``deleted_at`` (the row stays so the delivery log keeps its reference).
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "merchant_id"], ["merchants.tenant_id", "merchants.id"]),
        # emit() runs on every order transition: it reads the merchant's endpoints through this index.
        Index("ix_webhook_endpoints_merchant", "tenant_id", "merchant_id"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    enabled_events: Mapped[list[str]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | disabled
    secret_version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)
    deleted_at: Mapped[dt.datetime | None]


class WebhookEvent(TenantOwned, Timestamped, Base):
    """Something that happened to a merchant's resource, with the resource's full snapshot in ``data``."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "merchant_id"], ["merchants.tenant_id", "merchants.id"]),
        Index("ix_webhook_events_merchant", "tenant_id", "merchant_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    type: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]]


class WebhookDelivery(TenantOwned, Timestamped, Base):
    """One event sent to one endpoint, retried until it succeeds or the schedule runs out.

    ``attempts`` counts the attempts made; the delivery actor only records attempt *n* while ``attempts == n-1``,
    so a message seen twice cannot count (or schedule) an attempt twice. ``merchant_id`` is the event's, copied
    so the delivery log is scoped like every merchant read.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "event_id"], ["webhook_events.tenant_id", "webhook_events.id"]),
        ForeignKeyConstraint(["tenant_id", "endpoint_id"], ["webhook_endpoints.tenant_id", "webhook_endpoints.id"]),
        Index("ix_webhook_deliveries_event", "tenant_id", "event_id"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    event_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    endpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    succeeded_at: Mapped[dt.datetime | None]


class WebhookAttempt(TenantOwned, Base):
    """One HTTP attempt of a delivery: when, how long, what the endpoint answered (or the network error)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "delivery_id"], ["webhook_deliveries.tenant_id", "webhook_deliveries.id"]),
    )

    delivery_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
