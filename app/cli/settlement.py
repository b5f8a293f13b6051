"""``bnpl settlement``: the payout file of a pay date, for the bank."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import anyio
import click

from app.cli._common import load_settings, open_db


@click.group(help="Merchant settlement: statements are made by `bnpl jobs run settlement --as-of DATE`.")
def settlement() -> None:
    pass


@settlement.command(
    "payout-file",
    help="Write the Zengin 総合振込 file (120-byte records, CP932) paying every approved statement of a pay date, "
    "and mark them sent (their payouts move to payouts in transit). Statements are approved through the admin API "
    "by a second person.",
)
@click.option("--operator", "operator_id", required=True, help="The operator (opr_…).")
@click.option("--pay-date", type=click.DateTime(["%Y-%m-%d"]), required=True, help="The bank business day to pay.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Where to write.")
def payout_file(operator_id: str, pay_date: dt.datetime, out: Path) -> None:
    from domain.kit.errors import DomainError
    from domain.kit.tenancy import Principal, Role
    from domain.settlement import service
    from domain.tenancy.service import CLI_ACTOR

    settings = load_settings()
    principal = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_FINANCE, tenant_id=operator_id)

    async def main() -> None:
        async with open_db(settings) as db:
            try:
                async with db.transaction() as session:
                    record = await service.generate_payout_file(session, principal, pay_date.date())
            except DomainError as exc:
                raise click.ClickException(exc.detail) from None
        await anyio.Path(out).write_bytes(record.content)
        click.echo(
            f"{record.id}: {record.record_count} transfer(s), ¥{record.total_amount:,} on {record.pay_date}"
            f" → {out} ({len(record.content)} bytes, sha256 {record.sha256[:12]}…)"
        )

    anyio.run(main)
