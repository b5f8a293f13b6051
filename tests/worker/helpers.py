"""Queries the worker tests assert with."""

from __future__ import annotations

from sqlalchemy import func, select

from app.uow import Database
from domain.kit.audit import AuditEvent
from domain.kit.outbox import OutboxMessage, ProcessedMessage


async def effects(db: Database, message_id: str) -> int:
    """How many audit events a test actor wrote for ``message_id``."""
    async with db.transaction() as s:
        return int(
            await s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.resource_id == message_id))
            or 0
        )


async def outbox_row(db: Database, message_id: str) -> OutboxMessage | None:
    async with db.transaction() as s:
        return await s.get(OutboxMessage, message_id, populate_existing=True)


async def outbox_rows(db: Database) -> list[OutboxMessage]:
    async with db.transaction() as s:
        return list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at))).all())


async def inbox_actors(db: Database, message_id: str) -> list[str]:
    async with db.transaction() as s:
        stmt = select(ProcessedMessage.actor).where(ProcessedMessage.message_id == message_id)
        return sorted((await s.scalars(stmt)).all())
