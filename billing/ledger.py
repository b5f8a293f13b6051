"""The platform's own double-entry ledger (our revenue from tenants): balanced entries, posted once per business
event (``source_ref``), never changed (PostgreSQL refuses UPDATE/DELETE and checks the balance at COMMIT).

| event               | debit                                      | credit                                        |
|---------------------|--------------------------------------------|-----------------------------------------------|
| invoice finalized   | accounts_receivable (total)                | subscription_revenue, usage_revenue, tax      |
| credit note         | sales_returns (base), output tax           | accounts_receivable (total)                   |
| tenant's payment    | bank                                       | accounts_receivable                           |
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import PlatformJournalEntry, PlatformPosting
from domain.kit import clock
from domain.kit.dialect import advisory_xact_lock
from domain.kit.errors import UnbalancedEntry
from domain.kit.ids import new_id
from domain.kit.postings import check_postings


@dataclass(frozen=True, slots=True)
class Account:
    code: str
    key: str
    name: str
    debit_normal: bool


CHART: tuple[Account, ...] = (
    Account("1110", "bank", "普通預金", True),
    Account("1130", "accounts_receivable", "売掛金", True),
    Account("2140", "output_consumption_tax", "仮受消費税", False),
    Account("4210", "subscription_revenue", "月額利用料収入", False),
    Account("4220", "usage_revenue", "従量利用料収入", False),
    Account("4290", "sales_returns", "売上値引高", True),
)
ACCOUNTS = {a.key: a for a in CHART}


@dataclass(frozen=True, slots=True)
class Leg:
    account: str
    direction: str  # debit | credit
    amount: int


def dr(account: str, amount: int) -> Leg:
    return Leg(account, "debit", amount)


def cr(account: str, amount: int) -> Leg:
    return Leg(account, "credit", amount)


@dataclass(frozen=True, slots=True)
class EntrySpec:
    kind: str
    source_ref: str
    tenant_id: str | None
    currency: str
    effective_date: dt.date
    legs: list[Leg]
    memo: str = ""


def _checked(source_ref: str, legs: list[Leg], currency: str) -> list[Leg]:
    """The legs without zeros, checked by the double-entry rule the operators' ledger uses (``domain.kit.postings``)."""
    legs = [leg for leg in legs if leg.amount != 0]
    if not legs:
        return legs
    unknown = {leg.account for leg in legs} - ACCOUNTS.keys()
    if unknown:
        raise UnbalancedEntry(f"unknown platform accounts: {sorted(unknown)}")
    check_postings(source_ref, [(currency, leg.direction, leg.amount) for leg in legs])
    return legs


async def post_many(session: AsyncSession, entries: list[EntrySpec]) -> None:
    """Post many new business events at once (two multi-row INSERTs). For events that cannot have been posted
    before (the caller holds the lock that makes them): a second post of one ``source_ref`` fails on its unique
    constraint instead of being skipped."""
    entry_rows: list[dict[str, object]] = []
    posting_rows: list[dict[str, object]] = []
    now = clock.utc_now()
    for spec in entries:
        legs = _checked(spec.source_ref, spec.legs, spec.currency)
        if not legs:
            continue
        entry_id = new_id("pjn")
        entry_rows.append(
            {
                "id": entry_id,
                "kind": spec.kind,
                "source_ref": spec.source_ref,
                "tenant_id": spec.tenant_id,
                "effective_date": spec.effective_date,
                "memo": spec.memo,
                "posted_at": now,
            }
        )
        posting_rows.extend(
            {
                "id": new_id("ppo"),
                "entry_id": entry_id,
                "account": leg.account,
                "direction": leg.direction,
                "amount": leg.amount,
                "currency": spec.currency,
            }
            for leg in legs
        )
    if entry_rows:
        await session.execute(insert(PlatformJournalEntry), entry_rows)
        await session.execute(insert(PlatformPosting), posting_rows)


async def post(
    session: AsyncSession,
    *,
    kind: str,
    source_ref: str,
    tenant_id: str | None,
    currency: str,
    effective_date: dt.date,
    legs: list[Leg],
    memo: str = "",
) -> str | None:
    """Post a balanced entry once per ``source_ref``; zero legs are dropped. Returns the entry id (the first
    entry's when the event was already posted), or ``None`` when every leg was zero."""
    legs = _checked(source_ref, legs, currency)
    if not legs:
        return None
    await advisory_xact_lock(session, "billing.ledger", source_ref)
    existing = (
        await session.scalars(select(PlatformJournalEntry.id).where(PlatformJournalEntry.source_ref == source_ref))
    ).first()
    if existing is not None:
        return existing
    entry = PlatformJournalEntry(
        id=new_id("pjn"),
        kind=kind,
        source_ref=source_ref,
        tenant_id=tenant_id,
        effective_date=effective_date,
        memo=memo,
        posted_at=clock.utc_now(),
    )
    session.add(entry)
    await session.flush()
    session.add_all(
        PlatformPosting(
            id=new_id("ppo"),
            entry_id=entry.id,
            account=leg.account,
            direction=leg.direction,
            amount=leg.amount,
            currency=currency,
        )
        for leg in legs
    )
    await session.flush()
    return entry.id


async def balances(session: AsyncSession, currency: str = "JPY") -> dict[str, int]:
    """Each account's balance on its normal side (debits − credits for debit-normal accounts)."""
    stmt = (
        select(PlatformPosting.account, PlatformPosting.direction, func.sum(PlatformPosting.amount))
        .where(PlatformPosting.currency == currency)
        .group_by(PlatformPosting.account, PlatformPosting.direction)
    )
    net: dict[str, int] = defaultdict(int)
    for account, direction, amount in (await session.execute(stmt)).all():
        net[account] += int(amount) if direction == "debit" else -int(amount)
    return {key: (value if ACCOUNTS[key].debit_normal else -value) for key, value in net.items()}


async def unbalanced_entries(session: AsyncSession) -> list[tuple[str, int]]:
    """Entries whose debits and credits differ (the invariant ``bnpl check`` and the tests assert is empty)."""
    stmt = select(PlatformPosting.entry_id, PlatformPosting.direction, func.sum(PlatformPosting.amount)).group_by(
        PlatformPosting.entry_id, PlatformPosting.direction
    )
    net: dict[str, int] = defaultdict(int)
    for entry_id, direction, amount in (await session.execute(stmt)).all():
        net[entry_id] += int(amount) if direction == "debit" else -int(amount)
    return sorted((entry_id, value) for entry_id, value in net.items() if value != 0)
