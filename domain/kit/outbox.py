"""Transactional outbox (work to do after commit) and inbox (messages already handled).

A service calls :func:`enqueue` inside its business transaction: the row commits or rolls back with the
business change, so a crash can neither lose the work nor run work for a change that never happened. A relay
(``app/worker/relay.py``) hands committed rows to the broker; consumers call :func:`claim_message` in the same
transaction as their effect, so a redelivered message acts once.

A row's life: *pending* (``relayed_at`` null) → *in flight* (relayed, ``completed_at`` null) → *completed* (the
claim, in the effect's transaction) or *dead* (``failed_at``: a business failure, or too many attempts). The
broker may lose an in-flight message (Redis restarted without persistence, a worker killed before Dramatiq
requeues its messages): the relay sends an in-flight row again ``outbox_redeliver_after_seconds`` after it was
sent, then after twice that, four times… (:meth:`OutboxRepository.lock_in_flight`; ``available_at`` holds the
last send plus its backoff), and the inbox makes a second delivery a no-op if the first one did act after all.
Nothing relayed is lost while its row exists.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, Integer, String, Text, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit import clock, context
from domain.kit.db import ID_LENGTH, Base
from domain.kit.dialect import for_update, insert_ignore_returning
from domain.kit.ids import new_id
from domain.kit.repository import Repository

KICK_FLAG = "bnpl.outbox.kick"  # set on session.info when a message was enqueued; the edge kicks the relay


class OutboxMessage(Base):
    """A unit of background work, written in the transaction that caused it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        # Only pending rows are ever scanned by the relay; relayed ones wait for the purge.
        Index(
            "ix_outbox_messages_pending",
            "available_at",
            postgresql_where=text("relayed_at IS NULL AND failed_at IS NULL"),
            sqlite_where=text("relayed_at IS NULL AND failed_at IS NULL"),
        ),
        # In flight: handed to the broker, neither done nor dead. Small (done rows leave it), swept for redelivery
        # by ``available_at`` (for an in-flight row: when it was last sent, plus its backoff).
        Index(
            "ix_outbox_messages_in_flight",
            "available_at",
            postgresql_where=text("relayed_at IS NOT NULL AND completed_at IS NULL AND failed_at IS NULL"),
            sqlite_where=text("relayed_at IS NOT NULL AND completed_at IS NULL AND failed_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    actor: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)
    available_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)
    relayed_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]  # set in the transaction of the message's effect
    failed_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ProcessedMessage(Base):
    """The inbox: one row per (message, actor) that has taken effect."""

    __tablename__ = "processed_messages"

    message_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    actor: Mapped[str] = mapped_column(String(100), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)


async def enqueue(
    session: AsyncSession,
    actor: str,
    payload: dict[str, Any],
    *,
    tenant_id: str | None = None,
    dedupe_key: str | None = None,
    delay: dt.timedelta | None = None,
) -> str | None:
    """Stage ``actor(**payload)`` to run after this transaction commits.

    With a ``dedupe_key``, a second enqueue of the same key (even from another transaction) is ignored and
    returns ``None``; otherwise the new message id.
    """
    now = clock.utc_now()
    message_id = new_id("msg")
    if (correlation := context.correlation_id.get()) is not None:
        payload = {**payload, "_correlation_id": correlation}
    values = dict(
        id=message_id,
        tenant_id=tenant_id,
        actor=actor,
        payload=payload,
        dedupe_key=dedupe_key,
        created_at=now,
        available_at=now + (delay or dt.timedelta(0)),
        attempts=0,
    )
    inserted = await insert_ignore_returning(session, OutboxMessage, "id", **values)
    if inserted is not None:
        session.info[KICK_FLAG] = True
    return inserted


async def claim_message(session: AsyncSession, message_id: str, actor: str) -> bool:
    """Record that ``actor`` handles ``message_id`` in this transaction (and complete its outbox row); ``False`` if
    it already did."""
    now = clock.utc_now()
    inserted = await insert_ignore_returning(
        session, ProcessedMessage, "message_id", message_id=message_id, actor=actor, processed_at=now
    )
    if inserted is None:
        return False
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.completed_at.is_(None))
        .values(completed_at=now)
    )
    return True


class OutboxRepository(Repository):
    """Queries the relay and the housekeeping jobs use."""

    async def lock_due(self, limit: int) -> list[OutboxMessage]:
        """Due, unrelayed messages, locked so that concurrent relays take disjoint batches."""
        now = clock.utc_now()
        stmt = (
            select(OutboxMessage)
            .where(
                OutboxMessage.relayed_at.is_(None), OutboxMessage.failed_at.is_(None), OutboxMessage.available_at <= now
            )
            .order_by(OutboxMessage.available_at, OutboxMessage.id)
            .limit(limit)
        )
        return list((await self.session.scalars(for_update(self.session, stmt, skip_locked=True))).all())

    async def oldest_pending_at(self) -> dt.datetime | None:
        stmt = (
            select(OutboxMessage.created_at)
            .where(OutboxMessage.relayed_at.is_(None), OutboxMessage.failed_at.is_(None))
            .order_by(OutboxMessage.created_at)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def lock_in_flight(self, limit: int, sent_before: dt.datetime) -> list[OutboxMessage]:
        """Messages handed to the broker (last sent, backoff included) at or before the cutoff and neither
        completed nor dead, locked like :meth:`lock_due`: the broker may have lost them."""
        stmt = (
            select(OutboxMessage)
            .where(
                OutboxMessage.relayed_at.is_not(None),
                OutboxMessage.completed_at.is_(None),
                OutboxMessage.failed_at.is_(None),
                OutboxMessage.available_at <= sent_before,
            )
            .order_by(OutboxMessage.available_at, OutboxMessage.id)
            .limit(limit)
        )
        return list((await self.session.scalars(for_update(self.session, stmt, skip_locked=True))).all())

    def is_spent(self, message: OutboxMessage, max_attempts: int) -> bool:
        """``True`` (and the row dead) once ``max_attempts`` deliveries have not completed an in-flight message."""
        if message.attempts + 1 < max_attempts:
            return False
        message.failed_at = clock.utc_now()
        message.last_error = f"not completed after {message.attempts + 1} deliveries"
        return True

    def mark_resent(self, message: OutboxMessage, redeliver_after: dt.timedelta) -> None:
        """Count one more delivery. The next one waits twice as long as this one did (``redeliver_after`` ×
        2^attempts), so a backlog that merely takes long to drain is not flooded with copies."""
        message.attempts += 1
        now = clock.utc_now()
        message.relayed_at = now
        message.available_at = now + redeliver_after * (2 ** min(message.attempts, 16) - 1)

    async def mark_failed(self, message_id: str, error: str) -> None:
        """A business failure: the message is dead (kept for people to look at) and never sent again."""
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.completed_at.is_(None))
            .values(failed_at=clock.utc_now(), last_error=error[:2000])
        )

    async def mark_relayed(self, message_id: str) -> None:
        now = clock.utc_now()  # ``available_at`` now counts from the send (the redelivery sweep reads it)
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.id == message_id).values(relayed_at=now, available_at=now)
        )

    async def mark_retry(self, message_id: str, error: str, max_attempts: int) -> bool:
        """Count a failed attempt and back off exponentially; returns ``True`` when the message is now dead."""
        msg = await self.session.get(OutboxMessage, message_id)
        if msg is None:
            return False
        msg.attempts += 1
        msg.last_error = error[:2000]
        now = clock.utc_now()
        if msg.attempts >= max_attempts:
            msg.failed_at = now
            return True
        msg.available_at = now + dt.timedelta(seconds=min(2**msg.attempts, 3600))
        return False

    async def purge(self, relayed_before: dt.datetime) -> int:
        """Delete messages relayed before the cutoff, and inbox rows processed before it."""
        r1 = await self.session.execute(delete(OutboxMessage).where(OutboxMessage.relayed_at < relayed_before))
        r2 = await self.session.execute(delete(ProcessedMessage).where(ProcessedMessage.processed_at < relayed_before))
        return int(r1.rowcount or 0) + int(r2.rowcount or 0)  # type: ignore[attr-defined]
