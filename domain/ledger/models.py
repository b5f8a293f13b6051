"""Accounts, journal entries and postings. Postings are immutable; corrections are reversing entries.

The database enforces the invariants on PostgreSQL (see the initial migration): ``amount > 0``, the posting's
currency equals its account's (composite foreign key), each entry sums to zero per currency and has at least
two postings (deferred constraint triggers, checked at COMMIT), and postings/entries reject UPDATE and DELETE.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit import clock
from domain.kit.db import ID_LENGTH, Base, TenantOwned, Timestamped


class LedgerAccount(TenantOwned, Timestamped, Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code", "currency"),
        UniqueConstraint("tenant_id", "id", "currency"),  # target of the postings' currency-checking FK
        CheckConstraint("type IN ('asset', 'liability', 'equity', 'income', 'expense')", name="type"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    debit_normal: Mapped[bool]
    currency: Mapped[str] = mapped_column(String(3))


class JournalEntry(TenantOwned, Base):
    __tablename__ = "journal_entries"
    __table_args__ = (
        # A business event posts once: a retried job finds its entry instead of posting twice.
        UniqueConstraint("tenant_id", "source_ref"),
        # An entry is reversed at most once.
        UniqueConstraint("tenant_id", "reverses_id"),
        ForeignKeyConstraint(["tenant_id", "reverses_id"], ["journal_entries.tenant_id", "journal_entries.id"]),
        # The journal export reads a tenant's entries by effective date (domain/ledger/export.py).
        Index("ix_journal_entries_effective", "tenant_id", "effective_date"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    memo: Mapped[str] = mapped_column(String(500), default="")
    effective_date: Mapped[dt.date] = mapped_column(Date)
    source_ref: Mapped[str | None] = mapped_column(String(200))
    reverses_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    posted_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)


class Posting(TenantOwned, Base):
    __tablename__ = "ledger_postings"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("direction IN ('debit', 'credit')", name="direction"),
        ForeignKeyConstraint(["tenant_id", "entry_id"], ["journal_entries.tenant_id", "journal_entries.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "account_id", "currency"],
            ["ledger_accounts.tenant_id", "ledger_accounts.id", "ledger_accounts.currency"],
        ),
        Index("ix_ledger_postings_entry", "tenant_id", "entry_id"),
        Index("ix_ledger_postings_account", "tenant_id", "account_id"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    currency: Mapped[str] = mapped_column(String(3))
    direction: Mapped[str] = mapped_column(String(6))
    amount: Mapped[int] = mapped_column(BigInteger)
