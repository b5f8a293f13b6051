"""The audit trail: who did what to which resource, when, and why. Written in the same transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit import clock
from domain.kit.db import ID_LENGTH, Base, TenantOwned
from domain.kit.ids import new_id
from domain.kit.tenancy import Principal


class AuditEvent(TenantOwned, Base):
    __tablename__ = "audit_events"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    actor: Mapped[str] = mapped_column(String(ID_LENGTH))  # api key id, or "system"/"cli"
    action: Mapped[str] = mapped_column(String(100))
    resource_type: Mapped[str] = mapped_column(String(50))
    resource_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    data: Mapped[dict[str, Any]]
    occurred_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)


def record(
    session: AsyncSession,
    *,
    tenant_id: str,
    actor: Principal | str,
    action: str,
    resource_type: str,
    resource_id: str,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the session. ``data`` must not contain personal data."""
    event = AuditEvent(
        tenant_id=tenant_id,
        id=new_id("aud"),
        actor=actor.api_key_id if isinstance(actor, Principal) else actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        data=data or {},
        occurred_at=clock.utc_now(),
    )
    session.add(event)
    return event
