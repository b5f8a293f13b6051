"""Payments racing for one invoice, through a real server on PostgreSQL: the invoice is never paid past its
balance, the excess is owed back, a notification pushed twice at once is recorded once, and the ledger balances."""

from __future__ import annotations

import asyncio

import pytest

from tests.checkout.helpers import authorized, capture_body, invoices, ledger_ok, post
from tests.fixtures.factories import bearer, create_tenant

pytestmark = pytest.mark.postgres_only

TOTAL = 6_800


async def test_concurrent_payments_never_pay_an_invoice_twice(http, committed_db):
    tenant = await create_tenant(committed_db)
    order = await authorized(http, tenant, 1)
    r = await post(http, tenant, f"/v1/orders/{order['id']}/captures", capture_body(1))
    assert r.status_code == 201, r.text
    [invoice] = await invoices(http, tenant, order["id"])

    async def pay(n: int):
        body = {
            "external_id": f"race:{n}",
            "amount": 1_000,
            "value_date": "2026-12-01",
            "account": invoice["virtual_account"],
        }
        return await http.post("/admin/v1/payments", headers=bearer(tenant.finance_key), json=body)

    answers = await asyncio.gather(*[pay(n) for n in range(10)])
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers if a.status_code != 201]
    payments = [a.json() for a in answers]
    applied = sum(p["amount"] - p["open_amount"] for p in payments)
    assert applied == TOTAL  # 6 payments in full, one with 200 owed back, three wholly owed back
    assert sum(p["open_amount"] for p in payments) == 10 * 1_000 - TOTAL
    assert sorted(p["outcome"] for p in payments).count("after_close") == 3
    [after] = await invoices(http, tenant, order["id"])
    assert (after["status"], after["paid_amount"], after["balance"]) == ("paid", TOTAL, 0)
    await ledger_ok(committed_db, tenant.id)


async def test_a_notification_pushed_twice_at_once_is_recorded_once(http, committed_db):
    tenant = await create_tenant(committed_db)
    order = await authorized(http, tenant, 1)
    await post(http, tenant, f"/v1/orders/{order['id']}/captures", capture_body(1))
    [invoice] = await invoices(http, tenant, order["id"])
    body = {"external_id": "push:1", "amount": TOTAL, "value_date": "2026-12-01", "account": invoice["virtual_account"]}
    answers = await asyncio.gather(
        *[http.post("/admin/v1/payments", headers=bearer(tenant.finance_key), json=body) for _ in range(6)]
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    listed = await http.get("/admin/v1/payments", headers=bearer(tenant.finance_key))
    assert len(listed.json()["data"]) == 1
    [after] = await invoices(http, tenant, order["id"])
    assert (after["status"], after["paid_amount"]) == ("paid", TOTAL)
    await ledger_ok(committed_db, tenant.id)
