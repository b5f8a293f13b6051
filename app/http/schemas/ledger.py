"""Schemas of the ledger."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from app.http.schemas.common import ReadModel
from domain.ledger.models import JournalEntry, Posting
from domain.ledger.repository import AccountBalance


class AccountBalanceOut(ReadModel):
    object: Literal["ledger_account"] = "ledger_account"
    id: str
    code: str = Field(examples=["1210"])
    key: str = Field(examples=["consumer_receivable"])
    name: str
    type: Literal["asset", "liability", "equity", "income", "expense"]
    currency: str = Field(examples=["JPY"])
    debits: int = Field(description="Sum of debit postings, minor units.")
    credits: int = Field(description="Sum of credit postings, minor units.")
    balance: int = Field(description="Balance on the account's normal side, minor units.")

    @classmethod
    def of(cls, b: AccountBalance) -> AccountBalanceOut:
        a = b.account
        return cls(
            id=a.id,
            code=a.code,
            key=a.key,
            name=a.name,
            type=a.type,  # type: ignore[arg-type]
            currency=a.currency,
            debits=b.debits,
            credits=b.credits,
            balance=b.balance,
        )


class LedgerAccountsOut(ReadModel):
    object: Literal["list"] = "list"
    data: list[AccountBalanceOut]
    balanced: bool = Field(description="Total debits equal total credits in every currency.")


class PostingOut(ReadModel):
    id: str
    account_id: str
    direction: Literal["debit", "credit"]
    amount: int
    currency: str

    @classmethod
    def of(cls, p: Posting) -> PostingOut:
        return cls.model_validate(p)


class JournalEntryOut(ReadModel):
    object: Literal["journal_entry"] = "journal_entry"
    id: str
    kind: str
    memo: str
    effective_date: dt.date
    source_ref: str | None
    reverses_id: str | None
    posted_at: dt.datetime
    postings: list[PostingOut]

    @classmethod
    def of(cls, entry: JournalEntry, postings: list[Posting]) -> JournalEntryOut:
        return cls(
            id=entry.id,
            kind=entry.kind,
            memo=entry.memo,
            effective_date=entry.effective_date,
            source_ref=entry.source_ref,
            reverses_id=entry.reverses_id,
            posted_at=entry.posted_at,
            postings=[PostingOut.of(p) for p in postings],
        )
