"""Posting to an operator's ledger. Every movement of money in the product goes through :func:`post_entry`."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from domain.kit import clock
from domain.kit.dialect import advisory_xact_lock
from domain.kit.ids import new_id
from domain.kit.money import Money
from domain.kit.tenancy import Principal
from domain.ledger.chart import BY_KEY
from domain.ledger.errors import EntryAlreadyReversed, EntryNotFound, UnknownAccount
from domain.ledger.invariants import check_postings
from domain.ledger.models import JournalEntry, Posting
from domain.ledger.repository import AccountBalance, LedgerRepository


class Direction(enum.StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"

    def opposite(self) -> Direction:
        return Direction.CREDIT if self is Direction.DEBIT else Direction.DEBIT


@dataclass(frozen=True, slots=True)
class Line:
    """One side of an entry: ``Line("consumer_receivable", DEBIT, Money(10_000, "JPY"))``."""

    account: str
    direction: Direction
    money: Money


def debit(account: str, money: Money) -> Line:
    return Line(account, Direction.DEBIT, money)


def credit(account: str, money: Money) -> Line:
    return Line(account, Direction.CREDIT, money)


@dataclass(frozen=True, slots=True)
class PostedEntry:
    entry: JournalEntry
    postings: list[Posting]
    created: bool  # False when ``source_ref`` had already been posted


async def post_entry(
    session: AsyncSession,
    tenant_id: str,
    *,
    kind: str,
    lines: list[Line],
    effective_date: dt.date | None = None,
    source_ref: str | None = None,
    memo: str = "",
    reverses_id: str | None = None,
) -> PostedEntry:
    """Post one balanced journal entry.

    Args:
        tenant_id: The operator whose ledger this is.
        kind: The business event (``"order.captured"``, ``"payout.sent"``), for reports.
        lines: At least two; per currency, debits must equal credits, every amount positive.
        effective_date: The JST business date the entry belongs to (default: today in JST).
        source_ref: The business event's unique reference. Posting the same ``source_ref`` again returns the
            first entry and posts nothing, so a retried job cannot post twice.

    Raises:
        UnbalancedEntry: The lines do not balance (a programming error).
        UnknownAccount: A line names an account that is not in the chart.
    """
    entry_id = new_id("jnl")
    check_postings(entry_id, [(ln.money.currency, ln.direction.value, ln.money.amount) for ln in lines])
    unknown = sorted({ln.account for ln in lines} - BY_KEY.keys())
    if unknown:
        raise UnknownAccount(f"unknown ledger accounts: {', '.join(unknown)}")
    repo = LedgerRepository.from_session(session)
    if source_ref is not None:
        # Serialise posters of the same business event so the lookup below sees the winner's entry.
        await advisory_xact_lock(session, "ledger.source_ref", f"{tenant_id}:{source_ref}")
        existing = await repo.entry_by_source(tenant_id, source_ref)
        if existing is not None:
            return PostedEntry(existing, await repo.postings_of(tenant_id, existing.id), created=False)

    accounts: dict[tuple[str, str], str] = {}
    for currency in {ln.money.currency for ln in lines}:
        keys = {ln.account for ln in lines if ln.money.currency == currency}
        for key, account in (await repo.accounts_by_key(tenant_id, keys, currency)).items():
            accounts[(key, currency)] = account.id

    entry = JournalEntry(
        tenant_id=tenant_id,
        id=entry_id,
        kind=kind,
        memo=memo,
        effective_date=effective_date or clock.jst_today(),
        source_ref=source_ref,
        reverses_id=reverses_id,
        posted_at=clock.utc_now(),
    )
    postings = [
        Posting(
            tenant_id=tenant_id,
            id=new_id("pst"),
            entry_id=entry_id,
            account_id=accounts[(ln.account, ln.money.currency)],
            currency=ln.money.currency,
            direction=ln.direction.value,
            amount=ln.money.amount,
        )
        for ln in lines
    ]
    session.add(entry)
    session.add_all(postings)
    await session.flush()
    return PostedEntry(entry, postings, created=True)


async def reverse_entry(
    session: AsyncSession, principal: Principal, entry_id: str, *, reason: str, effective_date: dt.date | None = None
) -> PostedEntry:
    """Post the mirror image of an entry (the only way to correct the ledger). At most once per entry."""
    tenant_id = principal.require_tenant()
    repo = LedgerRepository.from_session(session)
    entry = await repo.get_entry(principal, entry_id)
    if entry is None:
        raise EntryNotFound(f"no journal entry {entry_id}")
    if await repo.reversal_of(tenant_id, entry_id) is not None:
        raise EntryAlreadyReversed(f"journal entry {entry_id} is already reversed")
    lines = [
        Line(key, Direction(p.direction).opposite(), Money(p.amount, p.currency))
        for p, key in await repo.postings_with_account_keys(tenant_id, entry_id)
    ]
    return await post_entry(
        session,
        tenant_id,
        kind=f"{entry.kind}.reversal",
        lines=lines,
        effective_date=effective_date,
        memo=reason,
        reverses_id=entry_id,
        source_ref=f"reversal:{entry_id}",
    )


async def account_balances(
    session: AsyncSession, principal: Principal, currency: str | None = None
) -> list[AccountBalance]:
    return await LedgerRepository.from_session(session).balances(principal, currency)


async def get_entry(session: AsyncSession, principal: Principal, entry_id: str) -> tuple[JournalEntry, list[Posting]]:
    repo = LedgerRepository.from_session(session)
    entry = await repo.get_entry(principal, entry_id)
    if entry is None:
        raise EntryNotFound(f"no journal entry {entry_id}")
    return entry, await repo.postings_of(entry.tenant_id, entry.id)
