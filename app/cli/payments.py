"""``bnpl payments``: import a payment file and reconcile it, with progress."""

from __future__ import annotations

from pathlib import Path

import anyio
import click

from app.cli._common import load_settings, open_db


@click.group(help="Consumer payments: import bank (Zengin) and convenience-store files and reconcile them.")
def payments() -> None:
    pass


@payments.command(
    "import",
    help="Import a Zengin 振込入金通知 / 入出金取引明細 file or a convenience-store CSV for an operator and reconcile "
    "it now, chunk by chunk (each chunk commits; an interrupted run resumes where it stopped when run again). "
    "A malformed file is rejected with its bad lines and nothing is imported. The same file again changes nothing.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--operator", "operator_id", required=True, help="The operator (opr_…) whose collection account it is.")
@click.option("--no-reconcile", is_flag=True, help="Only record the file; the worker reconciles it.")
def import_file(file: Path, operator_id: str, no_reconcile: bool) -> None:
    from domain.checkout.service import active_policy
    from domain.collections import batch, service
    from domain.kit.tenancy import Principal, Role
    from domain.tenancy.service import CLI_ACTOR

    settings = load_settings()
    data = file.read_bytes()
    principal = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_FINANCE, tenant_id=operator_id)

    async def main() -> None:
        async with open_db(settings) as db:
            try:
                async with db.transaction() as session:
                    record, created = await service.import_file(session, principal, data, file.name)
            except service.PaymentFileRejected as exc:
                lines = "\n".join(f"  line {e['line']}: {e['field']}: {e['message']}" for e in exc.extra["lines"])
                raise click.ClickException(f"{exc.detail}\n{lines}") from None
            verb = "imported" if created else "already imported as"
            figures = f"{record.payment_count:,} payments, ¥{record.total_amount:,} ({record.kind})"
            click.echo(f"{verb} {record.id}: {figures}")
            if no_reconcile:
                return
            done = 0
            while True:
                async with db.transaction() as session:
                    policy = await active_policy(session, operator_id)
                    result = await batch.reconcile_chunk(session, operator_id, record.id, policy)
                done += result.processed
                click.echo(f"  reconciled {done:,}/{record.payment_count:,}", err=True)
                if not result.remaining:
                    break
            async with db.read() as session:
                record = await service.get_file(session, principal, record.id)
            for outcome, figures in sorted(record.summary.items()):
                click.echo(f"  {outcome:<22} {figures['count']:>9,}  ¥{figures['amount']:,}")

    anyio.run(main)
