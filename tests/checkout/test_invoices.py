"""Consumer invoices: 別送 (separate: one per shipment, due JST issue date + 14 days, with the merchant's consumer
fee) and 同梱 (enclosed: issued at authorization, printed by the merchant, re-issued with new payment keys when the
amount changes, voided on cancel); refunds before and after the consumer paid, with the ledger movements."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time

from tests.checkout.helpers import (
    admin_order,
    authorized,
    balances,
    capture_body,
    consumers,
    get,
    invoices,
    ledger_ok,
    order_body,
    post,
    set_consumer_fee,
    simulate_payment,
)
from tests.fixtures.factories import bearer

TOTAL = 6_800  # order_body(n): 3,000 × 2 + 800
FEE, FEE_TAX = 330, 30  # ¥300 + 10 % tax
FEE_INCOME = "consumer_fee_income"  # 請求手数料収入 (the fee net of tax)


async def capture(client, tenant, order_id: str, n: int = 1, **extra):
    r = await post(client, tenant, f"/v1/orders/{order_id}/captures", capture_body(n, **extra))
    assert r.status_code == 201, r.text
    return r.json()


async def refund(client, tenant, order_id: str, **body):
    r = await post(client, tenant, f"/v1/orders/{order_id}/refunds", body)
    assert r.status_code == 201, r.text
    return r.json()


def open_(invs: list[dict]) -> list[dict]:
    return [i for i in invs if i["status"] == "issued"]


def voided(invs: list[dict]) -> list[dict]:
    return [i for i in invs if i["status"] == "voided"]


async def enclosed(client, tenant, n: int = 0) -> dict:
    return await authorized(client, tenant, n, invoice_delivery="enclosed")


class TestSeparate:
    async def test_no_invoice_before_shipment_then_one_per_capture_due_in_14_jst_days(self, client, db, tenant_a):
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, FEE)
        # 16:30 UTC on 31 March is 01:30 on 1 April in Japan: the JST business date counts.
        with freeze_time("2026-03-31 16:30:00", real_asyncio=True):
            order = await authorized(client, tenant_a)
            assert await invoices(client, tenant_a, order["id"]) == []
            await capture(client, tenant_a, order["id"], 1, amount=2_000)
            await capture(client, tenant_a, order["id"], 2)
        invs = await invoices(client, tenant_a, order["id"])
        assert [(i["principal"], i["fee"], i["fee_tax"], i["total"], i["status"]) for i in invs] == [
            (2_000, FEE, FEE_TAX, 2_000 + FEE, "issued"),
            (4_800, FEE, FEE_TAX, 4_800 + FEE, "issued"),
        ]
        assert {i["delivery"] for i in invs} == {"separate"}
        assert {(i["issue_date"], i["due_date"]) for i in invs} == {("2026-04-01", "2026-04-15")}
        assert len({i["payment_number"] for i in invs}) == len({i["virtual_account"] for i in invs}) == 2
        admin = await get(client, tenant_a, f"/admin/v1/orders/{order['id']}/invoices", admin=True)
        assert admin.json() == invs
        b = await balances(client, tenant_a)
        assert b["merchant_payable"] == TOTAL
        assert b["consumer_receivable"] == b["merchant_payable"] + 2 * FEE
        assert b[FEE_INCOME] == 2 * (FEE - FEE_TAX) and b["output_consumption_tax"] == 2 * FEE_TAX
        await ledger_ok(db, tenant_a.id)

    async def test_the_fee_is_the_merchants_fee_at_shipment(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)  # fee 0 when authorized
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, 209)
        await capture(client, tenant_a, order["id"])
        [inv] = await invoices(client, tenant_a, order["id"])
        assert (inv["fee"], inv["fee_tax"]) == (209, 19)  # 209 × 10 / 110 = 19
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == b["merchant_payable"] + 209
        await ledger_ok(db, tenant_a.id)

    async def test_print_data_is_not_available(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"])
        r = await get(client, tenant_a, f"/v1/orders/{order['id']}/invoice-print-data")
        assert r.status_code == 409 and r.json()["code"] == "print_data_not_available", r.text

    async def test_a_partial_refund_reissues_the_invoice_with_new_payment_keys(self, client, db, tenant_a):
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, FEE)
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"])
        [old] = await invoices(client, tenant_a, order["id"])
        r = await refund(client, tenant_a, order["id"], amount=800)
        assert r["refund"]["invoice_reduction"] == 800 and r["refund"]["consumer_refund_due"] == 0
        invs = await invoices(client, tenant_a, order["id"])
        [gone], [new] = voided(invs), open_(invs)
        assert gone["id"] == old["id"] and gone["voided_at"] is not None
        assert new["supersedes_id"] == old["id"]
        assert (new["principal"], new["fee"], new["balance"]) == (6_000, FEE, 6_000 + FEE)
        assert new["payment_number"] != old["payment_number"]
        assert new["virtual_account"] != old["virtual_account"]
        b = await balances(client, tenant_a)
        assert b["merchant_payable"] == 6_000 and b["consumer_receivable"] == 6_000 + FEE
        assert b[FEE_INCOME] == FEE - FEE_TAX  # a partial refund keeps the fee
        await ledger_ok(db, tenant_a.id)

    async def test_a_full_refund_of_unpaid_invoices_waives_their_fees(self, client, db, tenant_a):
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, FEE)
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"], 1, amount=2_000)
        await capture(client, tenant_a, order["id"], 2)
        r = await refund(client, tenant_a, order["id"])
        assert r["refund"]["amount"] == TOTAL and r["refund"]["invoice_reduction"] == TOTAL
        invs = await invoices(client, tenant_a, order["id"])
        assert open_(invs) == [] and len(voided(invs)) == 2
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == 0 and b["merchant_payable"] == 0
        assert b[FEE_INCOME] == 0 and b["output_consumption_tax"] == 0
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [0]
        await ledger_ok(db, tenant_a.id)


@pytest.mark.integrity_exempt(
    "simulate_payment pays the invoice behind reconciliation's back: no payment, no allocation"
)
class TestRefundAfterPayment:
    async def test_refund_of_a_paid_invoice_is_owed_back_to_the_consumer(self, client, db, tenant_a):
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, FEE)
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"])
        [inv] = await invoices(client, tenant_a, order["id"])
        await simulate_payment(db, tenant_a.id, inv["id"], TOTAL + FEE)
        assert (await balances(client, tenant_a))["consumer_receivable"] == 0
        r = await refund(client, tenant_a, order["id"])
        assert r["refund"]["invoice_reduction"] == 0 and r["refund"]["consumer_refund_due"] == TOTAL
        b = await balances(client, tenant_a)
        assert b["consumer_overpayments"] == TOTAL and b["merchant_payable"] == 0
        assert b["consumer_receivable"] == 0 and b["bank"] == TOTAL + FEE
        assert b[FEE_INCOME] == FEE - FEE_TAX  # the consumer paid the fee: it is not waived
        await ledger_ok(db, tenant_a.id)

    async def test_a_refund_beyond_the_unpaid_part_splits_into_reduction_and_refund_due(self, client, db, tenant_a):
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, FEE)
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"])
        [inv] = await invoices(client, tenant_a, order["id"])
        await simulate_payment(db, tenant_a.id, inv["id"], 3_000)  # the fee first, then 2,670 of the principal
        r = await refund(client, tenant_a, order["id"], amount=5_000)
        assert r["refund"]["invoice_reduction"] == 4_130 and r["refund"]["consumer_refund_due"] == 870
        invs = await invoices(client, tenant_a, order["id"])
        [new] = open_(invs)
        assert new["supersedes_id"] == inv["id"] and new["principal"] == 2_670
        assert new["paid_amount"] == 3_000 and new["balance"] == 0
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == 0 and b["consumer_overpayments"] == 870
        assert b["merchant_payable"] == 1_800 and b["bank"] == 3_000
        assert b["bank"] == b["merchant_payable"] + b["consumer_overpayments"] + FEE
        rest = await refund(client, tenant_a, order["id"])
        assert rest["refund"]["amount"] == 1_800 and rest["refund"]["consumer_refund_due"] == 1_800
        b = await balances(client, tenant_a)
        assert b["merchant_payable"] == 0 and b["consumer_overpayments"] == 2_670 and b["consumer_receivable"] == 0
        await ledger_ok(db, tenant_a.id)


class TestEnclosed:
    async def test_issued_at_authorization_and_printable(self, client, db, tenant_a):
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, FEE)
        with freeze_time("2026-05-01 03:00:00", real_asyncio=True):
            order = await enclosed(client, tenant_a)
        [inv] = await invoices(client, tenant_a, order["id"])
        assert (inv["delivery"], inv["principal"], inv["fee"], inv["status"]) == ("enclosed", TOTAL, FEE, "issued")
        assert (inv["issue_date"], inv["due_date"]) == ("2026-05-01", "2026-05-15")
        r = await get(client, tenant_a, f"/v1/orders/{order['id']}/invoice-print-data")
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["invoice"]["id"] == inv["id"] and data["merchant_order_id"] == order["merchant_order_id"]
        assert data["merchant_name"] == tenant_a.merchant.name
        assert data["addressee"]["address"] == order["buyer"]["address"]
        assert [i["ref"] for i in data["items"]] == ["SKU-1", "SHIP"]
        barcode = data["barcode_data"]
        assert len(barcode) == 44 and barcode.startswith("91") and inv["payment_number"] in barcode
        assert f"{TOTAL + FEE:06d}" in barcode
        # Authorization books nothing: the fee is owed from the first shipment.
        assert (await balances(client, tenant_a))["consumer_receivable"] == 0
        await ledger_ok(db, tenant_a.id)

    async def test_shipments_issue_no_new_invoice_and_book_the_fee_once(self, client, db, tenant_a):
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, FEE)
        order = await enclosed(client, tenant_a)
        [inv] = await invoices(client, tenant_a, order["id"])
        await capture(client, tenant_a, order["id"], 1, amount=2_000)
        b = await balances(client, tenant_a)
        assert b["merchant_payable"] == 2_000 and b["consumer_receivable"] == 2_000 + FEE
        await capture(client, tenant_a, order["id"], 2)
        assert await invoices(client, tenant_a, order["id"]) == [inv]
        b = await balances(client, tenant_a)
        assert b["merchant_payable"] == TOTAL and b["consumer_receivable"] == TOTAL + FEE
        assert b[FEE_INCOME] == FEE - FEE_TAX and b["output_consumption_tax"] == FEE_TAX
        await ledger_ok(db, tenant_a.id)

    async def test_a_decrease_reissues_with_new_payment_keys(self, client, db, tenant_a):
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, FEE)
        order = await enclosed(client, tenant_a)
        [old] = await invoices(client, tenant_a, order["id"])
        items = [{"ref": "SKU-1", "name": "緑茶ギフト", "unit_price": 3000, "quantity": 1, "tax_rate": 8}]
        r = await client.patch(
            f"/v1/orders/{order['id']}", headers=bearer(tenant_a.merchant_key), json={"amount": 3_000, "items": items}
        )
        assert r.status_code == 200 and r.json()["status"] == "authorized", r.text
        invs = await invoices(client, tenant_a, order["id"])
        [gone], [new] = voided(invs), open_(invs)
        assert gone["id"] == old["id"]
        assert (new["principal"], new["fee"], new["supersedes_id"]) == (3_000, FEE, old["id"])
        assert new["payment_number"] != old["payment_number"] and new["virtual_account"] != old["virtual_account"]
        printed = (await get(client, tenant_a, f"/v1/orders/{order['id']}/invoice-print-data")).json()
        assert printed["invoice"]["id"] == new["id"]
        await ledger_ok(db, tenant_a.id)

    async def test_an_increase_reissues_with_the_new_amount(self, client, db, tenant_a):
        order = await enclosed(client, tenant_a)
        [old] = await invoices(client, tenant_a, order["id"])
        items = [{"ref": "SKU-1", "name": "緑茶ギフト", "unit_price": 3000, "quantity": 3, "tax_rate": 8}]
        r = await client.patch(
            f"/v1/orders/{order['id']}", headers=bearer(tenant_a.merchant_key), json={"amount": 9_000, "items": items}
        )
        assert r.status_code == 200 and r.json()["status"] == "authorized", r.text
        [new] = open_(await invoices(client, tenant_a, order["id"]))
        assert new["principal"] == 9_000 and new["id"] != old["id"]

    async def test_release_reissues_for_what_shipped(self, client, db, tenant_a):
        order = await enclosed(client, tenant_a)
        [old] = await invoices(client, tenant_a, order["id"])
        await capture(client, tenant_a, order["id"], 1, amount=2_000)
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/release")
        assert r.status_code == 200, r.text
        [new] = open_(await invoices(client, tenant_a, order["id"]))
        assert new["principal"] == 2_000 and new["supersedes_id"] == old["id"]
        assert new["payment_number"] != old["payment_number"]
        await ledger_ok(db, tenant_a.id)

    async def test_a_refund_reissues_and_a_full_refund_waives_the_fee(self, client, db, tenant_a):
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, FEE)
        order = await enclosed(client, tenant_a)
        await capture(client, tenant_a, order["id"])
        [old] = await invoices(client, tenant_a, order["id"])
        await refund(client, tenant_a, order["id"], amount=800)
        [new] = open_(await invoices(client, tenant_a, order["id"]))
        assert (new["principal"], new["supersedes_id"]) == (6_000, old["id"])
        assert new["payment_number"] != old["payment_number"] and new["virtual_account"] != old["virtual_account"]
        await refund(client, tenant_a, order["id"])
        invs = await invoices(client, tenant_a, order["id"])
        assert open_(invs) == [] and len(voided(invs)) == 2
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == b["merchant_payable"] == b[FEE_INCOME] == 0
        assert b["output_consumption_tax"] == 0
        r = await get(client, tenant_a, f"/v1/orders/{order['id']}/invoice-print-data")
        assert r.status_code == 409 and r.json()["code"] == "no_open_invoice"
        await ledger_ok(db, tenant_a.id)

    async def test_refunding_what_shipped_then_releasing_the_rest_voids_and_waives_the_fee(self, client, db, tenant_a):
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, FEE)
        order = await enclosed(client, tenant_a)
        await capture(client, tenant_a, order["id"], 1, amount=2_000)  # books the fee
        await refund(client, tenant_a, order["id"], amount=2_000)
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/release")
        assert r.status_code == 200 and r.json()["status"] == "captured", r.text
        invs = await invoices(client, tenant_a, order["id"])
        assert open_(invs) == [] and len(voided(invs)) == 2
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == b["merchant_payable"] == b[FEE_INCOME] == 0
        assert b["output_consumption_tax"] == 0
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [0]
        await ledger_ok(db, tenant_a.id)

    async def test_cancel_voids_the_invoice(self, client, db, tenant_a):
        order = await enclosed(client, tenant_a)
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/cancel")
        assert r.status_code == 200, r.text
        [inv] = await invoices(client, tenant_a, order["id"])
        assert inv["status"] == "voided" and inv["voided_at"] is not None
        r = await get(client, tenant_a, f"/v1/orders/{order['id']}/invoice-print-data")
        assert r.status_code == 409 and r.json()["code"] == "no_open_invoice"
        assert (await balances(client, tenant_a))["consumer_receivable"] == 0
        await ledger_ok(db, tenant_a.id)

    async def test_an_order_in_review_gets_its_invoice_when_approved(self, client, db, tenant_a):
        body = order_body(
            3,
            invoice_delivery="enclosed",
            buyer={"email": "buyer3@mailinator.com"},
            device={"ip": "133.242.0.10", "accept_language": "en-US", "timezone": "America/New_York"},
        )
        r = await post(client, tenant_a, "/v1/orders", body)
        assert r.json()["status"] == "in_review", r.text
        order = r.json()
        assert await invoices(client, tenant_a, order["id"]) == []
        r = await post(client, tenant_a, f"/admin/v1/orders/{order['id']}/approve", {"note": "called"}, admin=True)
        assert r.status_code == 200 and r.json()["status"] == "authorized", r.text
        [inv] = await invoices(client, tenant_a, order["id"])
        assert inv["principal"] == TOTAL and inv["status"] == "issued"
        assert (await admin_order(client, tenant_a, order["id"]))["exposure"] == TOTAL

    async def test_due_date_follows_the_policys_invoice_due_days(self, client, db, tenant_a):
        r = await client.put(
            "/admin/v1/credit-policy", headers=bearer(tenant_a.admin_key), json={"policy": {"invoice_due_days": 20}}
        )
        assert r.status_code == 200, r.text
        with freeze_time("2026-06-10 00:00:00", real_asyncio=True):
            order = await enclosed(client, tenant_a)
        [inv] = await invoices(client, tenant_a, order["id"])
        assert dt.date.fromisoformat(inv["due_date"]) - dt.date.fromisoformat(inv["issue_date"]) == dt.timedelta(20)


@pytest.mark.integrity_exempt(
    "simulate_payment pays the invoice behind reconciliation's back: no payment, no allocation"
)
class TestEnclosedAfterPayment:
    async def test_a_release_below_what_the_consumer_paid_owes_the_excess_back(self, client, db, tenant_a):
        """The consumer paid the whole enclosed slip; then only part shipped and the rest was released: the
        successor bills what shipped, and the excess is owed back (consumer_overpayments), not lost."""
        await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, FEE)
        order = await enclosed(client, tenant_a)
        await capture(client, tenant_a, order["id"], 1, amount=2_000)
        [inv] = await invoices(client, tenant_a, order["id"])
        await simulate_payment(db, tenant_a.id, inv["id"], TOTAL + FEE)
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/release")
        assert r.status_code == 200, r.text
        live = [i for i in await invoices(client, tenant_a, order["id"]) if i["status"] == "issued"]
        assert [(i["principal"], i["fee"], i["paid_amount"], i["balance"]) for i in live] == [
            (2_000, FEE, 2_000 + FEE, 0)
        ]
        b = await balances(client, tenant_a)
        assert b["consumer_overpayments"] == TOTAL - 2_000
        assert b["consumer_receivable"] == 0
        await ledger_ok(db, tenant_a.id)
