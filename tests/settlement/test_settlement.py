"""Settlement end to end over a frozen calendar: a weekly cycle advanced on arrival, fees and their tax once per
statement, idempotent runs, maker-checker, the Zengin payout file (parsed back), the bank's confirmation and a
returned transfer, refunds after payout, claw-back and the consumer's later payment, negative carry-over, tenant
isolation, and the ledger balancing with payouts equal to what left the bank."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from domain.kit import clock
from domain.settlement.models import MerchantContract
from domain.settlement.zengin_transfer import parse_transfer_file
from tests.checkout.helpers import authorized, balances, capture_body, invoices, ledger_ok, post
from tests.fixtures.factories import bearer

TOTAL = 6_800  # order_body(n): 3,000 × 2 + 800


async def contract(db, tenant, **terms) -> None:
    values = dict(
        fee_rate_bp=300,  # 3.00 %
        invoice_fee_separate=150,
        invoice_fee_enclosed=100,
        monthly_fee=0,
        transfer_fee=0,
        cycle="weekly",
        minimum_payout=0,
        advance_on="arrival",
        bank_code="0001",
        branch_code="001",
        account_type="1",
        account_number="1234567",
        holder_kana="ｶ)ﾃﾞﾓｼﾖｳｼﾞ",
    )
    values.update(terms)
    async with db.transaction() as s:
        s.add(
            MerchantContract(
                tenant_id=tenant.id,
                id=f"mct_{tenant.merchant.id[4:]}",
                merchant_id=tenant.merchant.id,
                updated_at=clock.utc_now(),
                updated_by="test",
                created_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC),  # the first cut-off is Friday 11-27
                **values,
            )
        )


async def shipped(client, tenant, n: int, *, arrive: bool) -> dict:
    order = await authorized(client, tenant, n)
    r = await post(client, tenant, f"/v1/orders/{order['id']}/captures", capture_body(n))
    assert r.status_code == 201, r.text
    if arrive:
        r = await post(client, tenant, f"/admin/v1/orders/{order['id']}/arrival", admin=True)
        assert r.status_code == 200, r.text
    return order


async def run(client, tenant, as_of: str, key: str | None = None) -> list[dict]:
    r = await client.post("/admin/v1/settlement-runs", headers=bearer(key or tenant.admin_key), json={"as_of": as_of})
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def detail(client, tenant, settlement_id: str) -> dict:
    r = await client.get(f"/admin/v1/settlements/{settlement_id}", headers=bearer(tenant.finance_key))
    assert r.status_code == 200, r.text
    return r.json()


class TestWeeklyCycle:
    async def test_a_week_advanced_on_arrival_paid_by_a_zengin_file(self, client, db, tenant_a):
        await contract(db, tenant_a)
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):  # Tuesday, 12:00 JST
            arrived = await shipped(client, tenant_a, 1, arrive=True)
            await shipped(client, tenant_a, 2, arrive=False)  # not advanced until arrival is confirmed

        with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
            [statement] = await run(client, tenant_a, "2026-11-28")
            assert await run(client, tenant_a, "2026-11-28") == []  # the same cycle again: nothing new
        assert (statement["period_end"], statement["pay_date"], statement["status"]) == (
            "2026-11-27",
            "2026-12-04",
            "calculated",
        )
        # 6,800 advanced; rate fee 3 % = 204 (not taxable: receivable assignment); one 別送 invoice ¥150 + 10 % = 15.
        assert (statement["sales"], statement["rate_fee"], statement["invoice_fees"], statement["fee_tax"]) == (
            TOTAL,
            204,
            150,
            15,
        )
        assert statement["payout"] == TOTAL - 204 - 150 - 15
        lines = (await detail(client, tenant_a, statement["id"]))["lines"]
        assert [(line["kind"], line["order_id"], line["amount"]) for line in lines] == [("sale", arrived["id"], TOTAL)]

        # Maker-checker: the key that ran it may not approve it; another may, once.
        own = await client.post(f"/admin/v1/settlements/{statement['id']}/approve", headers=bearer(tenant_a.admin_key))
        assert own.status_code == 403 and own.json()["code"] == "own_statement"
        ok = await client.post(f"/admin/v1/settlements/{statement['id']}/approve", headers=bearer(tenant_a.finance_key))
        assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text
        twice = await client.post(
            f"/admin/v1/settlements/{statement['id']}/approve", headers=bearer(tenant_a.finance_key)
        )
        assert twice.status_code == 409

        # The approver may not send it too (maker-checker): another key sends the file.
        with freeze_time("2026-12-01 00:00:00", real_asyncio=True):  # files are for today or later
            own = await client.post(
                "/admin/v1/payout-files", headers=bearer(tenant_a.finance_key), json={"pay_date": "2026-12-04"}
            )
            assert own.status_code == 403 and own.json()["code"] == "own_approval"
            r = await client.post(
                "/admin/v1/payout-files", headers=bearer(tenant_a.admin_key), json={"pay_date": "2026-12-04"}
            )
        assert r.status_code == 201, r.text
        payout_file = r.json()
        assert (payout_file["record_count"], payout_file["total_amount"]) == (1, statement["payout"])
        content = (
            await client.get(f"/admin/v1/payout-files/{payout_file['id']}", headers=bearer(tenant_a.finance_key))
        ).content
        assert all(len(record) == 120 for record in content.split(b"\r\n") if record)
        header, [transfer] = parse_transfer_file(content)
        assert header.pay_date == dt.date(2026, 12, 4)
        assert (transfer.bank_code, transfer.branch_code, transfer.account_number) == ("0001", "001", "1234567")
        assert (transfer.holder_name, transfer.amount) == ("ｶ)ﾃﾞﾓｼﾖｳｼﾞ", statement["payout"])
        assert transfer.edi == f"STL{statement['number']:010d}"
        money = await balances(client, tenant_a)
        # Pending (the template of reference/billing.md §2.6 T3): the clearing account holds the transfer, credit.
        assert money["payouts_in_transit"] == -statement["payout"]

        r = await client.post(
            f"/admin/v1/payout-files/{payout_file['id']}/confirm", headers=bearer(tenant_a.finance_key)
        )
        assert r.status_code == 200 and r.json()["status"] == "confirmed"
        paid = await detail(client, tenant_a, statement["id"])
        assert paid["status"] == "paid"
        money = await balances(client, tenant_a)
        assert (money["payouts_in_transit"], money["bank"]) == (0, -statement["payout"])
        assert (money["merchant_fee_revenue"], money["output_consumption_tax"]) == (204 + 150, 15)
        # The payable moved by exactly what was paid and charged: what is left is the order not yet advanced.
        assert money["merchant_payable"] == 2 * TOTAL - (204 + 150 + 15) - statement["payout"] == TOTAL
        await ledger_ok(db, tenant_a.id)

    async def test_fee_tax_is_computed_once_per_statement(self, client, db, tenant_a):
        await contract(db, tenant_a, invoice_fee_separate=105, fee_rate_bp=0)
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
            for n in (1, 2, 3):
                await shipped(client, tenant_a, n, arrive=True)
        with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
            [statement] = await run(client, tenant_a, "2026-11-28")
        # ¥105 × 3 = ¥315 of invoice fees: 10 % once is ¥31 (per invoice it would be ¥10 × 3 = ¥30).
        assert (statement["invoice_count"], statement["invoice_fees"], statement["fee_tax"]) == (3, 315, 31)
        assert statement["payout"] == 3 * TOTAL - 315 - 31

    async def test_a_refund_after_payout_reduces_the_next_statement(self, client, db, tenant_a):
        await contract(db, tenant_a, invoice_fee_separate=0)
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
            order = await shipped(client, tenant_a, 1, arrive=True)
        with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
            [first] = await run(client, tenant_a, "2026-11-28")
        with freeze_time("2026-12-01 03:00:00", real_asyncio=True):
            r = await post(client, tenant_a, f"/v1/orders/{order['id']}/refunds", {"amount": 800})
            assert r.status_code == 201, r.text
        with freeze_time("2026-12-05 00:00:00", real_asyncio=True):
            [second] = await run(client, tenant_a, "2026-12-05")
        assert first["sales"] == TOTAL and first["payout"] == TOTAL - 204
        # The refund comes off the next statement; nothing is left to pay: it carries over, negative.
        assert (second["refunds"], second["payout"], second["status"]) == (800, 0, "carried_over")
        assert second["carry_out"] == -800
        money = await balances(client, tenant_a)
        assert money["merchant_receivable"] == 800  # the merchant owes it until the next statement offsets it
        await ledger_ok(db, tenant_a.id)


class TestGuarantee:
    async def test_claw_back_then_the_consumer_pays_and_the_merchant_is_paid_again(self, client, db, tenant_a):
        await contract(db, tenant_a, advance_on="shipment", invoice_fee_separate=0, fee_rate_bp=0)
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
            order = await shipped(client, tenant_a, 1, arrive=False)
        with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
            [advanced] = await run(client, tenant_a, "2026-11-28")
        assert advanced["sales"] == TOTAL  # advanced on shipment
        # Arrival never confirmed: 30 days later the order falls out of the guarantee.
        with freeze_time("2026-12-25 03:00:00", real_asyncio=True):
            from tests.checkout.helpers import run_job

            await run_job(db, "checkout.lapse_guarantees")
        with freeze_time("2026-12-26 00:00:00", real_asyncio=True):
            made = await run(client, tenant_a, "2026-12-26")
        clawed = made[-1]
        assert sum(s["clawbacks"] for s in made) == TOTAL
        assert clawed["carry_out"] == -TOTAL and clawed["payout"] == 0
        # The consumer pays after all: the merchant is owed it again.
        [invoice] = await invoices(client, tenant_a, order["id"])
        with freeze_time("2026-12-28 03:00:00", real_asyncio=True):
            r = await client.post(
                "/admin/v1/payments",
                headers=bearer(tenant_a.finance_key),
                json={
                    "external_id": "b:1",
                    "amount": TOTAL,
                    "value_date": "2026-12-28",
                    "account": invoice["virtual_account"],
                },
            )
            assert r.status_code == 201, r.text
        with freeze_time("2027-01-02 00:00:00", real_asyncio=True):
            [back] = await run(client, tenant_a, "2027-01-02")
        assert (back["unguaranteed_paid"], back["carry_in"], back["net"]) == (TOTAL, -TOTAL, 0)
        money = await balances(client, tenant_a)
        assert money["merchant_receivable"] == 0 and money["unguaranteed_payable"] == 0
        await ledger_ok(db, tenant_a.id)


class TestReturnsAndIsolation:
    async def test_a_returned_transfer_reopens_the_payable_and_carries_into_the_next_statement(
        self, client, db, tenant_a
    ):
        await contract(db, tenant_a, invoice_fee_separate=0, fee_rate_bp=0)
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
            await shipped(client, tenant_a, 1, arrive=True)
        with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
            [first] = await run(client, tenant_a, "2026-11-28")
        await client.post(f"/admin/v1/settlements/{first['id']}/approve", headers=bearer(tenant_a.finance_key))
        with freeze_time("2026-12-01 00:00:00", real_asyncio=True):  # files are for today or later
            r = await client.post(
                "/admin/v1/payout-files", headers=bearer(tenant_a.admin_key), json={"pay_date": first["pay_date"]}
            )
        assert r.status_code == 201, r.text
        r = await client.post(f"/admin/v1/settlements/{first['id']}/return", headers=bearer(tenant_a.finance_key))
        assert r.status_code == 200 and r.json()["status"] == "returned", r.text
        money = await balances(client, tenant_a)
        assert money["payouts_in_transit"] == 0 and money["merchant_payable"] == TOTAL
        with freeze_time("2026-12-05 00:00:00", real_asyncio=True):
            [second] = await run(client, tenant_a, "2026-12-05")
        assert (second["carry_in"], second["payout"]) == (TOTAL, TOTAL)
        await ledger_ok(db, tenant_a.id)

    async def test_statements_are_the_merchants_and_operators_own(self, client, db, tenant_a, tenant_b):
        await contract(db, tenant_a)
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
            await shipped(client, tenant_a, 1, arrive=True)
        with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
            [statement] = await run(client, tenant_a, "2026-11-28")
        mine = await client.get(f"/v1/settlements/{statement['id']}", headers=bearer(tenant_a.merchant_key))
        assert mine.status_code == 200 and mine.json()["lines"][0]["merchant_order_id"] == "ORDER-1"
        csv = await client.get(f"/v1/settlements/{statement['id']}/lines.csv", headers=bearer(tenant_a.merchant_key))
        assert csv.status_code == 200 and csv.content.startswith("\ufeffkind,".encode())
        assert csv.headers["content-type"] == "text/csv; charset=utf-8"
        for key in (tenant_b.admin_key, tenant_b.finance_key, tenant_b.merchant_key):
            for path in (f"/admin/v1/settlements/{statement['id']}", f"/v1/settlements/{statement['id']}"):
                assert (await client.get(path, headers=bearer(key))).status_code in (403, 404)
        assert (await client.get("/v1/settlements", headers=bearer(tenant_b.merchant_key))).json()["data"] == []
        nothing = await client.post(
            "/admin/v1/payout-files", headers=bearer(tenant_a.finance_key), json={"pay_date": "2026-12-11"}
        )
        assert nothing.status_code == 422


async def test_the_sandbox_merchant_is_not_settled(client, db, tenant_a):
    async with db.sessionmaker() as s:
        assert (await s.scalars(select(MerchantContract))).all() == []
    with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
        assert await run(client, tenant_a, "2026-11-28") == []


class TestReviewCases:
    async def test_a_refund_after_the_claw_back_is_not_taken_twice(self, client, db, tenant_a):
        await contract(db, tenant_a, advance_on="shipment", invoice_fee_separate=0, fee_rate_bp=0)
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
            order = await shipped(client, tenant_a, 1, arrive=False)
        with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
            await run(client, tenant_a, "2026-11-28")
        with freeze_time("2026-12-25 03:00:00", real_asyncio=True):
            from tests.checkout.helpers import run_job

            await run_job(db, "checkout.lapse_guarantees")
        with freeze_time("2026-12-26 00:00:00", real_asyncio=True):
            await run(client, tenant_a, "2026-12-26")
            r = await post(client, tenant_a, f"/v1/orders/{order['id']}/refunds", {"amount": 800})
            assert r.status_code == 201, r.text
        with freeze_time("2027-01-09 00:00:00", real_asyncio=True):
            made = await run(client, tenant_a, "2027-01-09")
        # The claw-back took the whole advance; the refund came off what the consumer still owed (unpaid): the
        # merchant is not charged it again.
        assert sum(s["refunds"] for s in made) == 0
        assert made[-1]["carry_out"] == -TOTAL
        await ledger_ok(db, tenant_a.id)

    async def test_a_refund_of_what_a_consumer_paid_on_an_unguaranteed_order_comes_back_from_the_merchant(
        self, client, db, tenant_a
    ):
        await contract(db, tenant_a, invoice_fee_separate=0, fee_rate_bp=0)  # advance on arrival: never advanced
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
            order = await shipped(client, tenant_a, 1, arrive=False)
        with freeze_time("2026-12-25 03:00:00", real_asyncio=True):
            from tests.checkout.helpers import run_job

            await run_job(db, "checkout.lapse_guarantees")
            [invoice] = await invoices(client, tenant_a, order["id"])
            r = await client.post(
                "/admin/v1/payments",
                headers=bearer(tenant_a.finance_key),
                json={
                    "external_id": "b:9",
                    "amount": TOTAL,
                    "value_date": "2026-12-25",
                    "account": invoice["virtual_account"],
                },
            )
            assert r.status_code == 201, r.text
        with freeze_time("2026-12-26 00:00:00", real_asyncio=True):
            made = await run(client, tenant_a, "2026-12-26")
            assert made[-1]["unguaranteed_paid"] == TOTAL
            r = await post(client, tenant_a, f"/v1/orders/{order['id']}/refunds", {"amount": 800})
            assert r.status_code == 201, r.text
        with freeze_time("2027-01-02 00:00:00", real_asyncio=True):
            [after] = await run(client, tenant_a, "2027-01-02")
        assert after["refunds"] == 800  # the consumer is owed it back; the merchant had been paid it
        money = await balances(client, tenant_a)
        assert money["unguaranteed_payable"] == 0
        await ledger_ok(db, tenant_a.id)

    async def test_fees_taxed_under_payment_agency_with_monthly_and_transfer_fees_and_a_minimum(
        self, client, db, tenant_a
    ):
        await contract(db, tenant_a, fee_rate_bp=300, invoice_fee_separate=0, monthly_fee=1_000, transfer_fee=220)
        async with db.transaction() as s:
            from domain.checkout.service import set_policy

            await set_policy(s, tenant_a.admin, {"settlement": {"fee_tax_model": "payment_agency"}})
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
            await shipped(client, tenant_a, 1, arrive=True)
        with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
            [statement] = await run(client, tenant_a, "2026-11-28")
        # rate 204 + monthly 1,000 = 1,204 taxable → 120; net 6,800 − 1,324 = 5,476; payout after the ¥220 transfer fee.
        assert (statement["rate_fee"], statement["monthly_fee"], statement["fee_tax"]) == (204, 1_000, 120)
        assert (statement["net"], statement["transfer_fee"], statement["payout"]) == (5_476, 220, 5_256)
        money = await balances(client, tenant_a)
        assert (money["merchant_fee_revenue"], money["reissue_fee_income"]) == (1_204, 220)
        await ledger_ok(db, tenant_a.id)

    async def test_a_net_below_the_minimum_carries_over(self, client, db, tenant_a):
        await contract(db, tenant_a, fee_rate_bp=0, invoice_fee_separate=0, minimum_payout=10_000)
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
            await shipped(client, tenant_a, 1, arrive=True)
        with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
            [first] = await run(client, tenant_a, "2026-11-28")
        assert (first["status"], first["payout"], first["carry_out"]) == ("carried_over", 0, TOTAL)
        with freeze_time("2026-12-01 03:00:00", real_asyncio=True):
            await shipped(client, tenant_a, 2, arrive=True)
        with freeze_time("2026-12-05 00:00:00", real_asyncio=True):
            [second] = await run(client, tenant_a, "2026-12-05")
        assert (second["carry_in"], second["payout"]) == (TOTAL, 2 * TOTAL)
        await ledger_ok(db, tenant_a.id)

    async def test_bad_dates_and_banks_are_422s_and_change_nothing(self, client, db, tenant_a):
        await contract(db, tenant_a, branch_code="999")  # a branch the bank closed since the contract
        future = await client.post(
            "/admin/v1/settlement-runs", headers=bearer(tenant_a.admin_key), json={"as_of": "2099-01-01"}
        )
        assert future.status_code == 422 and future.json()["code"] == "as_of_in_future"
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
            await shipped(client, tenant_a, 1, arrive=True)
        with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
            [statement] = await run(client, tenant_a, "2026-11-28")
            await client.post(f"/admin/v1/settlements/{statement['id']}/approve", headers=bearer(tenant_a.finance_key))
            gone = await client.post(
                "/admin/v1/payout-files", headers=bearer(tenant_a.admin_key), json={"pay_date": "2026-12-04"}
            )
            assert gone.status_code == 422 and gone.json()["code"] == "unknown_bank", gone.text
            past = await client.post(
                "/admin/v1/payout-files", headers=bearer(tenant_a.admin_key), json={"pay_date": "2026-11-27"}
            )
            assert past.status_code == 422 and past.json()["code"] == "pay_date_passed"
        assert (await detail(client, tenant_a, statement["id"]))["status"] == "approved"
        await ledger_ok(db, tenant_a.id)

    @pytest.mark.parametrize(
        ("path", "body"),
        [
            ("/admin/v1/settlement-runs", {"as_of": "0001-01-01"}),
            ("/admin/v1/settlement-runs", {"as_of": "1999-12-31"}),
            ("/admin/v1/payout-files", {"pay_date": "9999-12-31"}),
            ("/admin/v1/payout-files", {"pay_date": "2100-01-01"}),
        ],
    )
    async def test_dates_are_between_2000_and_2099(self, client, db, tenant_a, path, body):
        await contract(db, tenant_a)
        r = await client.post(path, headers=bearer(tenant_a.admin_key), json=body)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["pointer"] == f"#/{next(iter(body))}"

    async def test_a_transfer_returned_after_the_bank_confirmed_it(self, client, db, tenant_a):
        await contract(db, tenant_a, invoice_fee_separate=0, fee_rate_bp=0)
        with freeze_time("2026-11-24 03:00:00", real_asyncio=True):
            await shipped(client, tenant_a, 1, arrive=True)
        with freeze_time("2026-11-28 00:00:00", real_asyncio=True):
            [first] = await run(client, tenant_a, "2026-11-28")
            await client.post(f"/admin/v1/settlements/{first['id']}/approve", headers=bearer(tenant_a.finance_key))
            sent = await client.post(
                "/admin/v1/payout-files", headers=bearer(tenant_a.admin_key), json={"pay_date": first["pay_date"]}
            )
            await client.post(f"/admin/v1/payout-files/{sent.json()['id']}/confirm", headers=bearer(tenant_a.admin_key))
        assert (await balances(client, tenant_a))["bank"] == -TOTAL
        r = await client.post(f"/admin/v1/settlements/{first['id']}/return", headers=bearer(tenant_a.finance_key))
        assert r.status_code == 200 and r.json()["status"] == "returned", r.text
        money = await balances(client, tenant_a)
        assert (money["bank"], money["merchant_payable"]) == (0, TOTAL)  # the money came back; the payable reopened
        again = await client.post(f"/admin/v1/settlements/{first['id']}/return", headers=bearer(tenant_a.finance_key))
        assert again.status_code == 409
        await ledger_ok(db, tenant_a.id)
