"""All SQL of the ledger."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select

from domain.kit.dialect import insert_ignore
from domain.kit.ids import new_id
from domain.kit.repository import Repository
from domain.kit.tenancy import Principal, readable_statement
from domain.ledger.chart import BY_KEY
from domain.ledger.models import JournalEntry, LedgerAccount, Posting

_signed = case((Posting.direction == "debit", Posting.amount), else_=-Posting.amount)


@dataclass(frozen=True, slots=True)
class AccountBalance:
    account: LedgerAccount
    debits: int
    credits: int

    @property
    def balance(self) -> int:
        """In the account's normal direction: positive means a normal balance."""
        net = self.debits - self.credits
        return net if self.account.debit_normal else -net


class LedgerRepository(Repository):
    async def accounts_by_key(self, tenant_id: str, keys: set[str], currency: str) -> dict[str, LedgerAccount]:
        """The tenant's accounts for ``keys`` in ``currency``, created from the chart if missing."""
        stmt = select(LedgerAccount).where(
            LedgerAccount.tenant_id == tenant_id, LedgerAccount.key.in_(keys), LedgerAccount.currency == currency
        )
        found = {a.key: a for a in (await self.session.scalars(stmt)).all()}
        missing = keys - found.keys()
        for key in missing:
            spec = BY_KEY[key]
            # ON CONFLICT DO NOTHING: two first postings in parallel both "create" the account safely.
            await self.session.execute(
                insert_ignore(
                    self.session,
                    LedgerAccount,
                    tenant_id=tenant_id,
                    id=new_id("acc"),
                    code=spec.code,
                    key=key,
                    name=spec.name,
                    type=spec.type.value,
                    debit_normal=spec.debit_normal,
                    currency=currency,
                )
            )
        if missing:
            found = {a.key: a for a in (await self.session.scalars(stmt)).all()}
        return found

    async def entry_by_source(self, tenant_id: str, source_ref: str) -> JournalEntry | None:
        stmt = select(JournalEntry).where(JournalEntry.tenant_id == tenant_id, JournalEntry.source_ref == source_ref)
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_entry(self, principal: Principal, entry_id: str) -> JournalEntry | None:
        stmt = readable_statement(JournalEntry, principal).where(JournalEntry.id == entry_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def postings_of(self, tenant_id: str, entry_id: str) -> list[Posting]:
        stmt = select(Posting).where(Posting.tenant_id == tenant_id, Posting.entry_id == entry_id).order_by(Posting.id)
        return list((await self.session.scalars(stmt)).all())

    async def postings_with_account_keys(self, tenant_id: str, entry_id: str) -> list[tuple[Posting, str]]:
        stmt = (
            select(Posting, LedgerAccount.key)
            .join(
                LedgerAccount, (LedgerAccount.tenant_id == Posting.tenant_id) & (LedgerAccount.id == Posting.account_id)
            )
            .where(Posting.tenant_id == tenant_id, Posting.entry_id == entry_id)
            .order_by(Posting.id)
        )
        return [(p, key) for p, key in (await self.session.execute(stmt)).all()]

    async def reversal_of(self, tenant_id: str, entry_id: str) -> JournalEntry | None:
        stmt = select(JournalEntry).where(JournalEntry.tenant_id == tenant_id, JournalEntry.reverses_id == entry_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def balances(self, principal: Principal, currency: str | None = None) -> list[AccountBalance]:
        """Every account of the tenant with its debit and credit totals, derived from postings."""
        debits = func.coalesce(func.sum(case((Posting.direction == "debit", Posting.amount), else_=0)), 0)
        credits = func.coalesce(func.sum(case((Posting.direction == "credit", Posting.amount), else_=0)), 0)
        accounts = readable_statement(LedgerAccount, principal)
        if currency is not None:
            accounts = accounts.where(LedgerAccount.currency == currency)
        sub = accounts.subquery()
        stmt = (
            select(LedgerAccount, debits, credits)
            .join(sub, (sub.c.tenant_id == LedgerAccount.tenant_id) & (sub.c.id == LedgerAccount.id))
            .outerjoin(
                Posting, (Posting.tenant_id == LedgerAccount.tenant_id) & (Posting.account_id == LedgerAccount.id)
            )
            .group_by(LedgerAccount.tenant_id, LedgerAccount.id)
            .order_by(LedgerAccount.currency, LedgerAccount.code)
        )
        return [AccountBalance(a, int(d), int(c)) for a, d, c in (await self.session.execute(stmt)).all()]

    async def unbalanced_entries(self, tenant_id: str | None = None) -> list[tuple[str, str, int]]:
        """(entry id, currency, net) of every entry that does not sum to zero: always empty in a sound ledger."""
        stmt = (
            select(Posting.entry_id, Posting.currency, func.sum(_signed))
            .group_by(Posting.tenant_id, Posting.entry_id, Posting.currency)
            .having(func.sum(_signed) != 0)
        )
        if tenant_id is not None:
            stmt = stmt.where(Posting.tenant_id == tenant_id)
        return [(e, c, int(n)) for e, c, n in (await self.session.execute(stmt)).all()]

    async def totals_by_currency(self, tenant_id: str | None = None) -> dict[str, tuple[int, int]]:
        """Total debits and credits per currency (a trial balance's bottom line)."""
        stmt = select(
            Posting.currency,
            func.coalesce(func.sum(case((Posting.direction == "debit", Posting.amount), else_=0)), 0),
            func.coalesce(func.sum(case((Posting.direction == "credit", Posting.amount), else_=0)), 0),
        ).group_by(Posting.currency)
        if tenant_id is not None:
            stmt = stmt.where(Posting.tenant_id == tenant_id)
        return {c: (int(d), int(cr)) for c, d, cr in (await self.session.execute(stmt)).all()}
