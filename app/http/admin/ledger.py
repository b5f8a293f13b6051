"""Admin API: the operator's ledger (read-only; money moves only through business events)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import Parameter, QueryParameter

from app.auth import require_roles
from app.http.responses import LIST, READ
from app.http.schemas.common import ID_PATTERN
from app.http.schemas.ledger import AccountBalanceOut, JournalEntryOut, LedgerAccountsOut
from app.uow import Database
from domain.kit.tenancy import Principal, Role
from domain.ledger import service

EntryId = Annotated[
    str, Parameter(title="Journal entry id", description="A journal entry's id (jnl_…).", pattern=ID_PATTERN)
]
Currency = Annotated[
    str | None, QueryParameter(title="Currency", description="ISO 4217 code, e.g. JPY.", pattern=r"^[A-Z]{3}$")
]


class LedgerController(Controller):
    path = "/ledger"
    tags = ["admin", "billing"]
    guards = [require_roles(Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE)]

    @get(
        "/accounts",
        operation_id="ListLedgerAccounts",
        summary="Accounts with balances derived from postings",
        responses=LIST,
    )
    async def list_accounts(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], currency: Currency = None
    ) -> LedgerAccountsOut:
        async with db.read() as session:
            balances = await service.account_balances(session, principal, currency)
        totals: dict[str, int] = {}
        for b in balances:
            totals[b.account.currency] = totals.get(b.account.currency, 0) + b.debits - b.credits
        return LedgerAccountsOut(
            data=[AccountBalanceOut.of(b) for b in balances], balanced=all(v == 0 for v in totals.values())
        )

    @get(
        "/entries/{entry_id:str}",
        operation_id="GetJournalEntry",
        summary="A journal entry with its postings",
        responses=READ,
    )
    async def get_entry(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], entry_id: EntryId
    ) -> JournalEntryOut:
        async with db.read() as session:
            entry, postings = await service.get_entry(session, principal, entry_id)
        return JournalEntryOut.of(entry, postings)
