"""Outbox rows record their completion, so that the relay can send again what the broker lost.

``completed_at`` is set in the transaction of the message's effect (with its inbox row); relayed rows neither
completed nor dead are *in flight*, indexed by a small partial index that the redelivery sweep reads (by
``available_at``: for an in-flight row, its last send plus the redelivery backoff). Rows relayed
before this revision are completed from the inbox; those without an inbox row stay in flight and are sent once
more (the inbox makes that a no-op if they did act).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 13:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_FLIGHT = "relayed_at IS NOT NULL AND completed_at IS NULL AND failed_at IS NULL"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL lock_timeout = '5s'")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE outbox_messages SET completed_at = (SELECT min(p.processed_at) FROM processed_messages p "
        "WHERE p.message_id = outbox_messages.id) "
        "WHERE EXISTS (SELECT 1 FROM processed_messages p WHERE p.message_id = outbox_messages.id)"
    )
    op.create_index(
        "ix_outbox_messages_in_flight",
        "outbox_messages",
        ["available_at"],
        unique=False,
        postgresql_where=sa.text(IN_FLIGHT),
        sqlite_where=sa.text(IN_FLIGHT),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_index(
        "ix_outbox_messages_in_flight",
        table_name="outbox_messages",
        postgresql_where=sa.text(IN_FLIGHT),
        sqlite_where=sa.text(IN_FLIGHT),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("completed_at")
