"""The collections commands from a shell: ``bnpl payments import`` and ``bnpl jobs run dunning``."""

from __future__ import annotations

import asyncio
import datetime as dt

from click.testing import CliRunner
from freezegun import freeze_time

from app.cli import cli
from domain.collections.formats.zengin import Zengin01Group, Zengin01Transfer, build_zengin_01
from tests.checkout.helpers import authorized, capture_body, invoices, ledger_ok, post
from tests.fixtures.factories import create_tenant

DAY = dt.date(2026, 12, 1)


async def invoke(*args: str):
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_payments_import_reconciles_with_progress_and_a_second_import_changes_nothing(
    committed_db, committed_client, tmp_path
):
    tenant = await create_tenant(committed_db)
    order = await authorized(committed_client, tenant, 1)
    await post(committed_client, tenant, f"/v1/orders/{order['id']}/captures", capture_body(1))
    [invoice] = await invoices(committed_client, tenant, order["id"])
    bank, branch, account = invoice["virtual_account"].split("-")
    transfer = Zengin01Transfer(inquiry_no="000001", account_date=DAY, value_date=DAY, amount=invoice["balance"])
    group = Zengin01Group(
        bank_code=bank,
        branch_code=branch,
        account_number=account,
        period_from=DAY,
        period_to=DAY,
        transfers=(transfer,),
    )
    path = tmp_path / "nyukin.txt"
    path.write_bytes(build_zengin_01([group], created_on=DAY))

    first = await invoke("payments", "import", str(path), "--operator", tenant.id)
    assert first.exit_code == 0, first.output
    assert "imported pf_" in first.output and "reconciled 1/1" in first.output
    assert "exact" in first.output
    again = await invoke("payments", "import", str(path), "--operator", tenant.id)
    assert again.exit_code == 0 and "already imported as" in again.output
    [paid] = await invoices(committed_client, tenant, order["id"])
    assert paid["status"] == "paid"
    await ledger_ok(committed_db, tenant.id)


async def test_payments_import_rejects_a_malformed_file_naming_the_line(committed_db, tmp_path):
    tenant = await create_tenant(committed_db)
    path = tmp_path / "bad.txt"
    path.write_bytes(b"1" + b"0" * 150 + b"\r\n")
    result = await invoke("payments", "import", str(path), "--operator", tenant.id)
    assert result.exit_code != 0
    assert "line 1" in result.output and "nothing was imported" in result.output


async def test_jobs_run_dunning_for_a_day(committed_db):
    tenant = await create_tenant(committed_db)
    result = await invoke("jobs", "run", "dunning", "--as-of", "2026-12-01", "--tenant", tenant.id)
    assert result.exit_code == 0, result.output
    assert "collections.dunning:" in result.output
