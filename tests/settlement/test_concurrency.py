"""Settlement under concurrent requests on PostgreSQL, through a real server: two runs of one morning make one
statement per merchant; two payout files for one pay date send each statement once."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from freezegun import freeze_time

from domain.kit import clock
from domain.settlement.models import MerchantContract
from tests.checkout.helpers import authorized, capture_body, ledger_ok, post
from tests.fixtures.factories import bearer, create_tenant

pytestmark = pytest.mark.postgres_only


async def test_concurrent_runs_and_payout_files_act_once(http, committed_db):
    tenant = await create_tenant(committed_db)
    async with committed_db.transaction() as s:
        s.add(
            MerchantContract(
                tenant_id=tenant.id,
                id="mct_race",
                merchant_id=tenant.merchant.id,
                fee_rate_bp=300,
                invoice_fee_separate=0,
                invoice_fee_enclosed=0,
                monthly_fee=0,
                transfer_fee=0,
                cycle="twice_monthly",
                minimum_payout=0,
                advance_on="arrival",
                bank_code="0001",
                branch_code="001",
                account_type="1",
                account_number="1234567",
                holder_kana="ｶ)ﾃﾞﾓ",
                updated_at=clock.utc_now(),
                updated_by="test",
                created_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
            )
        )
    with freeze_time("2026-12-01 03:00:00", real_asyncio=True):
        order = await authorized(http, tenant, 1)
        await post(http, tenant, f"/v1/orders/{order['id']}/captures", capture_body(1))
        await post(http, tenant, f"/admin/v1/orders/{order['id']}/arrival", admin=True)

    with freeze_time("2026-12-16 00:00:00", real_asyncio=True):
        runs = await asyncio.gather(
            *[
                http.post("/admin/v1/settlement-runs", headers=bearer(key), json={"as_of": "2026-12-16"})
                for key in (tenant.admin_key, tenant.finance_key, tenant.admin_key)
            ]
        )
        assert {r.status_code for r in runs} == {201}, [r.text for r in runs]
        made = [s for r in runs for s in r.json()["data"]]
        # Twice monthly: 11-30 (nothing yet) and 12-15 (the sale), each made once whoever ran first.
        assert sorted((s["period_end"], s["pay_date"]) for s in made) == [
            ("2026-11-30", "2026-12-15"),
            ("2026-12-15", "2026-12-30"),
        ]
        statement = next(s for s in made if s["period_end"] == "2026-12-15")
        keys = (tenant.admin_key, tenant.finance_key, tenant.admin_key)
        [maker] = [key for key, r in zip(keys, runs, strict=True) if statement in r.json()["data"]]
        # Maker-checker: the other key approves, and the maker (not the approver) sends the file.
        approver = tenant.finance_key if maker == tenant.admin_key else tenant.admin_key
        r = await http.post(f"/admin/v1/settlements/{statement['id']}/approve", headers=bearer(approver))
        assert r.status_code == 200, r.text
        sender = maker
        files = await asyncio.gather(
            *[
                http.post("/admin/v1/payout-files", headers=bearer(sender), json={"pay_date": "2026-12-30"})
                for _ in range(3)
            ]
        )
    assert sorted(f.status_code for f in files) == [201, 422, 422], [f.text for f in files]
    [sent] = [f.json() for f in files if f.status_code == 201]
    assert (sent["record_count"], sent["total_amount"]) == (1, statement["payout"])
    await ledger_ok(committed_db, tenant.id)
