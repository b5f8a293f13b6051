"""``bnpl ledger``: integrity checks."""

from __future__ import annotations

import anyio
import click

from app.cli._common import load_settings, open_db
from billing import ledger as billing_ledger
from domain.ledger.repository import LedgerRepository


@click.group(help="The operators' double-entry ledgers.")
def ledger() -> None:
    pass


@ledger.command(
    "check",
    help="Verify every journal entry balances and debits equal credits per currency (the operators' ledgers, and "
    "the platform's own unless --operator is given).",
)
@click.option("--operator", "operator_id", default=None, help="Limit to one operator (opr_…).")
def check(operator_id: str | None) -> None:
    settings = load_settings()

    async def main() -> None:
        async with open_db(settings) as db, db.transaction() as session:
            repo = LedgerRepository.from_session(session)
            bad = await repo.unbalanced_entries(operator_id)
            totals = await repo.totals_by_currency(operator_id)
        for currency, (debits, credits) in sorted(totals.items()):
            click.echo(f"{currency}: debits {debits:,} credits {credits:,}")
            platform_bad = [] if operator_id else await billing_ledger.unbalanced_entries(session)
        if bad or platform_bad or any(d != c for d, c in totals.values()):
            for entry_id, currency, net in bad:
                click.echo(f"UNBALANCED {entry_id} {currency} net {net}", err=True)
            for entry_id, net in platform_bad:
                click.echo(f"UNBALANCED platform entry {entry_id} net {net}", err=True)
            raise SystemExit(1)
        click.echo("Ledger balances." if operator_id else "Ledgers balance (the operators' and the platform's).")

    anyio.run(main)
