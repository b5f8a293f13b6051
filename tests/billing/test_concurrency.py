"""Platform billing under concurrent requests on PostgreSQL, through a real server: finalizing many drafts at once
gives gapless numbers 1..N, each invoice once; racing runs of one day make one invoice per tenant; racing credit
notes and payments never exceed the invoice."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from domain.kit.tenancy import Role
from tests.billing.helpers import assert_platform_ledger_balances, issuer, plan, subscribe
from tests.fixtures.factories import bearer, create_key, create_tenant

pytestmark = pytest.mark.postgres_only

TENANTS = 8


async def drafts(committed_db) -> tuple[str, list[str]]:
    await issuer(committed_db)
    made, _ = await plan(committed_db)
    tenants = [await create_tenant(committed_db, f"Op {i}") for i in range(TENANTS)]
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        for tenant in tenants:
            await subscribe(committed_db, tenant.id, made.id, dt.date(2026, 11, 1))
    return await create_key(committed_db, Role.PLATFORM), [t.id for t in tenants]


async def test_concurrent_finalization_numbers_gapless_and_once(http, committed_db):
    key, _tenants = await drafts(committed_db)
    with freeze_time("2026-12-01 02:00:00", real_asyncio=True):
        r = await http.post("/platform/v1/billing-runs", headers=bearer(key), json={"as_of": "2026-12-01"})
        assert r.json()["drafted"] == TENANTS, r.text
        listed = await http.get("/platform/v1/invoices?status=draft&limit=100", headers=bearer(key))
        ids = [i["id"] for i in listed.json()["data"]]
        # Every draft finalized by three racing requests at once.
        answers = await asyncio.gather(
            *[http.post(f"/platform/v1/invoices/{i}/finalize", headers=bearer(key), json={}) for i in ids * 3]
        )
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers if a.status_code != 200]
    numbers = {}
    for a in answers:
        numbers.setdefault(a.json()["id"], set()).add(a.json()["number"])
    assert all(len(n) == 1 for n in numbers.values()), numbers  # one number per invoice, whoever won
    assert sorted(n.pop() for n in numbers.values()) == [f"INV-{i:08d}" for i in range(1, TENANTS + 1)]
    async with committed_db.transaction() as s:
        entries = (await s.execute(text("SELECT count(*) FROM billing_journal_entries"))).scalar_one()
    assert entries == TENANTS
    await assert_platform_ledger_balances(committed_db)


async def test_racing_runs_credit_notes_and_payments_stay_within_the_invoice(http, committed_db):
    key, tenants = await drafts(committed_db)
    with freeze_time("2026-12-04 02:00:00", real_asyncio=True):
        runs = await asyncio.gather(
            *[
                http.post("/platform/v1/billing-runs", headers=bearer(key), json={"as_of": "2026-12-04"})
                for _ in range(3)
            ]
        )
        assert {r.status_code for r in runs} == {201}, [r.text for r in runs]
        listed = await http.get("/platform/v1/invoices?limit=100", headers=bearer(key))
    invoices = listed.json()["data"]
    assert len(invoices) == TENANTS and {i["status"] for i in invoices} == {"finalized"}
    target = invoices[0]["id"]  # ¥4,400
    notes = await asyncio.gather(
        *[
            http.post(
                f"/platform/v1/invoices/{target}/credit-notes",
                headers=bearer(key),
                json={"reason": "race", "lines": [{"description": "x", "amount": 1_000, "tax_rate": 10}]},
            )
            for _ in range(6)
        ]
    )
    assert sorted(n.status_code for n in notes) == [201] * 4 + [409] * 2  # 4 × 1,000 fits in 4,000, not more
    payments = await asyncio.gather(
        *[
            http.post(
                f"/platform/v1/invoices/{target}/payments",
                headers=bearer(key),
                json={"amount": 30, "paid_on": "2026-12-20"},
            )
            for _ in range(5)
        ]
    )
    # 4,400 − 4 × 1,100 credited = 0 left: every payment is refused.
    assert {p.status_code for p in payments} == {409}
    final = (await http.get(f"/platform/v1/invoices/{target}", headers=bearer(key))).json()
    assert (final["credited"], final["outstanding"]) == (4_400, 0)
    await assert_platform_ledger_balances(committed_db)
