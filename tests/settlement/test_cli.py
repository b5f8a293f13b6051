"""Settlement from a shell: the morning job makes the statements, a second person approves, the payout file is
written for the bank; a pay date on a bank holiday is refused."""

from __future__ import annotations

import asyncio
import datetime as dt

from click.testing import CliRunner
from freezegun import freeze_time

from app.cli import cli
from domain.kit import clock
from domain.settlement.models import MerchantContract
from domain.settlement.zengin_transfer import parse_transfer_file
from tests.checkout.helpers import authorized, capture_body, post
from tests.fixtures.factories import bearer, create_tenant


async def invoke(*args: str):
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


async def test_job_then_approval_then_the_payout_file(committed_db, committed_client, tmp_path):
    db, client = committed_db, committed_client
    tenant = await create_tenant(db)
    async with db.transaction() as s:
        s.add(
            MerchantContract(
                tenant_id=tenant.id,
                id="mct_cli",
                merchant_id=tenant.merchant.id,
                fee_rate_bp=250,
                invoice_fee_separate=0,
                invoice_fee_enclosed=0,
                monthly_fee=0,
                transfer_fee=0,
                cycle="weekly",
                minimum_payout=0,
                advance_on="arrival",
                bank_code="0001",
                branch_code="001",
                account_type="1",
                account_number="7654321",
                holder_kana="ｶ)ﾃﾞﾓ",
                updated_at=clock.utc_now(),
                updated_by="test",
                created_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC),
            )
        )
    with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
        order = await authorized(client, tenant, 1)
        await post(client, tenant, f"/v1/orders/{order['id']}/captures", capture_body(1))
        await post(client, tenant, f"/admin/v1/orders/{order['id']}/arrival", admin=True)

    with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
        ran = await invoke("jobs", "run", "settlement", "--as-of", "2026-11-28")
    assert ran.exit_code == 0, ran.output
    [statement] = (await client.get("/admin/v1/settlements", headers=bearer(tenant.finance_key))).json()["data"]
    assert (statement["status"], statement["payout"]) == ("calculated", 6_800 - 170)
    r = await client.post(f"/admin/v1/settlements/{statement['id']}/approve", headers=bearer(tenant.finance_key))
    assert r.status_code == 200, r.text

    with freeze_time("2026-12-01 00:00:00", real_asyncio=True):  # files are for today or later
        holiday = await invoke(
            "settlement",
            "payout-file",
            "--operator",
            tenant.id,
            "--pay-date",
            "2026-12-31",
            "--out",
            str(tmp_path / "x"),
        )
        assert holiday.exit_code != 0 and "not a bank business day" in holiday.output

        out = tmp_path / "sofuri.txt"
        written = await invoke(
            "settlement", "payout-file", "--operator", tenant.id, "--pay-date", statement["pay_date"], "--out", str(out)
        )
    assert written.exit_code == 0, written.output
    header, [transfer] = parse_transfer_file(out.read_bytes(), near=dt.date(2026, 12, 4))
    assert (header.pay_date, transfer.amount, transfer.account_number) == (dt.date(2026, 12, 4), 6_630, "7654321")
    with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
        again = await invoke("jobs", "run", "settlement", "--as-of", "2026-11-28")  # the same morning: nothing new
    assert again.exit_code == 0
    listed = (await client.get("/admin/v1/settlements", headers=bearer(tenant.finance_key))).json()["data"]
    assert [s["status"] for s in listed] == ["file_generated"]
