"""Collections reports (finance): AR aging, collection outcomes by stage, suspense aging and the unpaid rate.

Invoices come from the checkout flow where the flow matters, and are inserted directly for volume (every bucket
boundary by hand). As of 2026-11-25 (a Wednesday); 2026-11-23 is a national holiday (勤労感謝の日, a Monday).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from typing import Any

import pytest
from freezegun import freeze_time

from domain.collections.models import DunningAction, Payment
from domain.invoicing.models import Invoice
from domain.kit.ids import new_id
from tests.checkout.helpers import authorized, capture_body, new_merchant, order_body, post, simulate_payment
from tests.fixtures.factories import bearer

AS_OF = dt.date(2026, 11, 25)
HOLIDAY = dt.date(2026, 11, 23)
_numbers = itertools.count(900_001)

pytestmark = pytest.mark.integrity_exempt("reports are tested on payments and invoices built by hand, not by the flows")


def d(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


def ago(days: int, as_of: dt.date = AS_OF) -> dt.date:
    return as_of - dt.timedelta(days=days)


def invoice(
    order: dict[str, Any],
    *,
    base: dt.date,
    status: str = "issued",
    principal: int = 1_000,
    fee: int = 0,
    late_fee: int = 0,
    paid: int = 0,
    rebill: int = 0,
    issued: dt.date | None = None,
    chain_of: Invoice | None = None,
    supersedes: Invoice | None = None,
    charged_off: int = 0,
    recovered: int = 0,
) -> Invoice:
    """An invoice row of ``order`` (paid split in the waterfall's order: late fee, fee, principal)."""
    n = next(_numbers)
    paid_late_fee = min(paid, late_fee)
    paid_fee = min(paid - paid_late_fee, fee)
    paid_principal = paid - paid_late_fee - paid_fee
    assert paid_principal <= principal
    inv_id = new_id("inv")
    return Invoice(
        tenant_id=order["tenant_id"],
        id=inv_id,
        number=n,
        order_id=order["id"],
        merchant_id=order["merchant_id"],
        delivery="separate",
        status=status,
        currency="JPY",
        principal=principal,
        fee=fee,
        fee_tax=0,
        fee_recognized=True,
        late_fee=late_fee,
        late_fee_tax=0,
        damages=0,
        paid_amount=paid,
        paid_late_fee=paid_late_fee,
        paid_fee=paid_fee,
        paid_principal=paid_principal,
        waived=0,
        charged_off_amount=charged_off,
        recovered_amount=recovered,
        issue_date=issued or base - dt.timedelta(days=14),
        due_date=base,
        payment_number=f"T{n:012d}",
        virtual_account=f"0001-001-{n:07d}",
        reissue=0,
        supersedes_id=supersedes.id if supersedes is not None else None,
        chain_id=chain_of.chain_id if chain_of is not None else inv_id,
        dunning_base_date=chain_of.dunning_base_date if chain_of is not None else base,
        rebill_count=rebill,
    )


def payment(
    tenant_id: str,
    *,
    value_date: dt.date,
    amount: int,
    status: str,
    open_amount: int = 0,
    invoice_id: str | None = None,
) -> Payment:
    return Payment(
        tenant_id=tenant_id,
        id=new_id("pay"),
        external_id=new_id("ext"),
        source="api",
        created_by="test",
        kind="payment",
        channel="bank_transfer",
        currency="JPY",
        amount=amount,
        value_date=value_date,
        status=status,
        open_amount=open_amount,
        invoice_id=invoice_id,
    )


async def save(db, *rows: Any) -> None:
    async with db.transaction() as s:
        for row in rows:  # one by one: a successor references the invoice it supersedes
            s.add(row)
            await s.flush()


async def live_order(client, tenant, n: int = 0) -> dict[str, Any]:
    order = await authorized(client, tenant, n)
    return {"id": order["id"], "tenant_id": tenant.id, "merchant_id": tenant.merchant.id}


async def sandbox_order(client, tenant) -> dict[str, Any]:
    merchant_id, secret = await new_merchant(client, tenant, "Sandbox shop", test_mode=True)
    r = await client.post("/v1/orders", headers=bearer(secret), json=order_body(77))
    assert r.status_code == 201 and r.json()["test_mode"] is True, r.text
    return {"id": r.json()["id"], "tenant_id": tenant.id, "merchant_id": merchant_id}


async def report(client, tenant, path: str, key: str | None = None, **params: Any) -> dict[str, Any]:
    r = await client.get(f"/admin/v1/reports/{path}", headers=bearer(key or tenant.finance_key), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def by_bucket(section: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {b["bucket"]: (b["count"], b["amount"]) for b in section["buckets"]}


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), body[:10]
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


class TestArAging:
    async def test_every_bucket_boundary_by_hand(self, client, db, tenant_a):
        order = await live_order(client, tenant_a)
        sandbox = await sandbox_order(client, tenant_a)
        # (days past due, balance): the amounts tell the buckets apart.
        aged = [(-10, 1), (0, 2), (1, 4), (29, 8), (30, 16), (59, 32), (60, 64), (89, 128), (90, 256)]
        aged += [(119, 512), (120, 1_024), (400, 2_048)]
        rows = [invoice(order, base=ago(days), principal=amount) for days, amount in aged]
        rows += [
            # a re-bill in collection, partly paid: its balance counts, aged from the chain's original due date
            invoice(order, base=ago(95), status="in_collection", principal=10_000, late_fee=297, paid=3_297),
            invoice(order, base=ago(130), status="charged_off", principal=20_000, charged_off=20_000),
            # not receivables: paid, voided, superseded by a re-bill, a sandbox order's
            invoice(order, base=ago(40), status="paid", principal=50_000, paid=50_000),
            invoice(order, base=ago(40), status="voided", principal=50_000),
            invoice(order, base=ago(40), status="rebilled", principal=50_000),
            invoice(sandbox, base=ago(40), status="overdue", principal=50_000),
        ]
        await save(db, *rows)

        body = await report(client, tenant_a, "ar-aging", as_of="2026-11-25")

        assert body["object"] == "ar_aging" and body["as_of"] == "2026-11-25"
        assert by_bucket(body) == {
            "current": (2, 1 + 2),
            "1-29": (2, 4 + 8),
            "30-59": (2, 16 + 32),
            "60-89": (2, 64 + 128),
            "90-119": (3, 256 + 512 + 7_000),
            "120+": (3, 1_024 + 2_048 + 20_000),
        }
        over = {b["bucket"]: (b["charged_off_count"], b["charged_off_amount"]) for b in body["buckets"]}
        assert over["120+"] == (1, 20_000) and sum(c for c, _ in over.values()) == 1
        total = body["total"]
        assert (total["count"], total["amount"]) == (14, 4_095 + 7_000 + 20_000)
        assert (total["charged_off_count"], total["charged_off_amount"]) == (1, 20_000)
        assert [(b["min_days"], b["max_days"]) for b in body["buckets"]] == [
            (0, 0), (1, 29), (30, 59), (60, 89), (90, 119), (120, None)
        ]  # fmt: skip

    async def test_a_due_date_on_a_bank_holiday_is_current_until_the_next_business_day(self, client, db, tenant_a):
        order = await live_order(client, tenant_a)
        await save(db, invoice(order, base=HOLIDAY, principal=700))
        on_grace_day = await report(client, tenant_a, "ar-aging", as_of="2026-11-24")
        assert by_bucket(on_grace_day)["current"] == (1, 700)
        # Late from the due date itself once the grace has passed: two calendar days.
        after = await report(client, tenant_a, "ar-aging", as_of="2026-11-25")
        assert by_bucket(after)["1-29"] == (1, 700)

    async def test_an_invoice_from_checkout_ages_with_its_balance(self, client, db, tenant_a):
        # 16:00 UTC on 10 November is 01:00 on 11 November in Japan: issued 11/11, due 11/25 (JST dates).
        with freeze_time("2026-11-10 16:00:00", real_asyncio=True):
            order = await authorized(client, tenant_a)
            r = await post(client, tenant_a, f"/v1/orders/{order['id']}/captures", capture_body())
            assert r.status_code == 201, r.text
            # as_of defaults to today in Japan
            today = await report(client, tenant_a, "ar-aging")
        assert today["as_of"] == "2026-11-11"
        [inv] = (await client.get(f"/v1/orders/{order['id']}/invoices", headers=bearer(tenant_a.merchant_key))).json()
        assert inv["due_date"] == "2026-11-25"
        owed = inv["balance"]
        assert owed == order["amount"] + inv["fee"] > 0
        assert by_bucket(today)["current"] == (1, owed)
        await simulate_payment(db, tenant_a.id, inv["id"], 800)
        month_late = await report(client, tenant_a, "ar-aging", as_of="2026-12-25")
        assert by_bucket(month_late)["30-59"] == (1, owed - 800)

    async def test_csv_for_excel(self, client, db, tenant_a):
        order = await live_order(client, tenant_a)
        await save(db, invoice(order, base=ago(30), principal=1_500))
        r = await client.get(
            "/admin/v1/reports/ar-aging",
            headers=bearer(tenant_a.finance_key),
            params={"as_of": "2026-11-25", "format": "csv"},
        )
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"] == 'attachment; filename="ar-aging-2026-11-25.csv"'
        rows = read_csv(r.content)
        assert rows[0] == [
            "as_of", "bucket", "min_days", "max_days", "count", "amount", "charged_off_count", "charged_off_amount"
        ]  # fmt: skip
        assert rows[1] == ["2026-11-25", "current", "0", "0", "0", "0", "0", "0"]
        assert rows[3] == ["2026-11-25", "30-59", "30", "59", "1", "1500", "0", "0"]
        assert rows[6][1:4] == ["120+", "120", ""]
        assert rows[7] == ["2026-11-25", "total", "0", "", "1", "1500", "0", "0"]
        assert r.content.count(b"\r\n") == 8


class TestCollectionOutcomes:
    async def test_each_chain_counts_once_in_its_stage(self, client, db, tenant_a):
        order = await live_order(client, tenant_a)
        sandbox = await sandbox_order(client, tenant_a)
        base = d("2026-09-01")  # a Tuesday
        rows: list[Any] = []
        pays: list[Payment] = []

        def paid_on(inv: Invoice, day: dt.date) -> Invoice:
            pays.append(
                payment(tenant_a.id, value_date=day, amount=inv.paid_amount, status="applied", invoice_id=inv.id)
            )
            return inv

        def chain(*, rebills: int, status: str, **kw: Any) -> Invoice:
            """A chain re-billed ``rebills`` times: the earlier invoices are superseded (rebilled)."""
            head = invoice(order, base=base, status="rebilled" if rebills else status, **({} if rebills else kw))
            rows.append(head)
            for n in range(1, rebills + 1):
                last = n == rebills
                nxt = invoice(
                    order,
                    base=base,
                    status=status if last else "rebilled",
                    rebill=n,
                    chain_of=head,
                    supersedes=rows[-1],
                    **(kw if last else {}),
                )
                rows.append(nxt)
            return rows[-1]

        # paid on the due date (the bank's value date counts, not when the file was reconciled)
        paid_on(chain(rebills=0, status="paid", paid=1_000), base)
        # paid on the next business day after a due date on a holiday: still on time
        on_grace = invoice(order, base=HOLIDAY, status="paid", paid=1_000)
        rows.append(on_grace)
        paid_on(on_grace, d("2026-11-24"))
        # paid a week late, before any re-bill
        paid_on(chain(rebills=0, status="paid", paid=1_000), base + dt.timedelta(days=7))
        # paid after re-bill 1 and after re-bill 2 (the re-bill fee paid too)
        paid_on(chain(rebills=1, status="paid", late_fee=297, paid=1_297), base + dt.timedelta(days=20))
        paid_on(chain(rebills=2, status="paid", late_fee=594, paid=1_594), base + dt.timedelta(days=35))
        # handed to collection, then paid
        in_coll_paid = chain(rebills=3, status="paid", late_fee=891, paid=1_891)
        paid_on(in_coll_paid, base + dt.timedelta(days=100))
        action = DunningAction(
            tenant_id=tenant_a.id,
            id=new_id("dun"),
            chain_id=in_coll_paid.chain_id,
            invoice_id=in_coll_paid.id,
            base_date=base,
            step=8,
            action="collection",
            as_of=base + dt.timedelta(days=90),
            result={},
        )
        # still open, in collection, charged off, recovered after charge-off
        chain(rebills=1, status="overdue", late_fee=297, paid=300)
        chain(rebills=3, status="in_collection", late_fee=891)
        chain(rebills=3, status="charged_off", late_fee=891, charged_off=1_891)
        chain(rebills=3, status="recovered", late_fee=891, paid=1_891, charged_off=1_891, recovered=1_891)
        # cancelled after issue
        chain(rebills=0, status="voided")
        # changed before the due date: the old invoice is replaced by a new chain (counted once, as the new one)
        old = chain(rebills=0, status="voided")
        rows.append(invoice(order, base=base + dt.timedelta(days=3), supersedes=old, principal=900))
        # not counted: due outside the range, a sandbox order's
        rows.append(invoice(order, base=d("2026-11-30"), status="overdue"))
        rows.append(invoice(sandbox, base=base, status="paid", paid=1_000))
        await save(db, *rows, *pays, action)

        body = await report(client, tenant_a, "collection-outcomes", **{"from": "2026-09-01", "to": "2026-11-25"})

        assert body["from_date"] == "2026-09-01" and body["to_date"] == "2026-11-25"
        got = {
            (s["stage"], s["rebill"]): (s["count"], s["amount"], s["paid_amount"], s["balance"]) for s in body["stages"]
        }
        assert got == {
            ("paid_by_due", None): (2, 2_000, 2_000, 0),
            ("paid_after_notices", None): (1, 1_000, 1_000, 0),
            ("paid_after_rebill", 1): (1, 1_000, 1_297, 0),
            ("paid_after_rebill", 2): (1, 1_000, 1_594, 0),
            ("paid_after_rebill", 3): (0, 0, 0, 0),
            ("paid_in_collection", None): (1, 1_000, 1_891, 0),
            ("recovered", None): (1, 1_000, 1_891, 0),
            ("open", None): (2, 1_900, 300, 997 + 900),
            ("in_collection", None): (1, 1_000, 0, 1_891),
            ("charged_off", None): (1, 1_000, 0, 1_891),
            ("cancelled", None): (1, 1_000, 0, 0),
        }
        assert [s["stage"] for s in body["stages"]][:5] == [
            "paid_by_due", "paid_after_notices", "paid_after_rebill", "paid_after_rebill", "paid_after_rebill"
        ]  # fmt: skip
        charged = next(s for s in body["stages"] if s["stage"] == "charged_off")
        recovered = next(s for s in body["stages"] if s["stage"] == "recovered")
        assert (charged["charged_off_amount"], recovered["recovered_amount"]) == (1_891, 1_891)
        assert body["total"]["count"] == 12

    async def test_csv_columns(self, client, db, tenant_a):
        r = await client.get(
            "/admin/v1/reports/collection-outcomes",
            headers=bearer(tenant_a.admin_key),
            params={"from": "2026-09-01", "to": "2026-09-30", "format": "csv"},
        )
        assert r.status_code == 200
        rows = read_csv(r.content)
        assert rows[0][:4] == ["from_date", "to_date", "stage", "rebill"]
        assert rows[1] == ["2026-09-01", "2026-09-30", "paid_by_due", "", "0", "0", "0", "0", "0", "0"]
        assert rows[-1][2] == "total" and len(rows) == 1 + 11 + 1

    async def test_default_range_is_the_90_days_to_today(self, client, tenant_a):
        with freeze_time("2026-11-24 15:30:00", real_asyncio=True):  # 00:30 on 11/25 in Japan
            body = await report(client, tenant_a, "collection-outcomes")
        assert (body["from_date"], body["to_date"]) == ("2026-08-28", "2026-11-25")


class TestSuspenseAging:
    async def test_held_money_by_days_since_value_date(self, client, db, tenant_a):
        order = await live_order(client, tenant_a)
        sandbox = await sandbox_order(client, tenant_a)
        on_sandbox = invoice(sandbox, base=ago(10), status="paid", paid=1_000)
        on_live = invoice(order, base=ago(10), status="paid", paid=1_000)
        rows: list[Any] = [on_sandbox, on_live]

        def held(days: int, amount: int, open_amount: int, status: str = "unmatched", **kw: Any) -> Payment:
            return payment(
                tenant_a.id, value_date=ago(days), amount=amount, status=status, open_amount=open_amount, **kw
            )

        for days, amount in [(0, 1), (6, 2), (7, 4), (29, 8), (30, 16), (89, 32), (90, 64), (400, 128)]:
            rows.append(
                payment(tenant_a.id, value_date=ago(days), amount=amount, status="unmatched", open_amount=amount)
            )
        rows += [
            # part of a payment still held after a manual match took the rest
            payment(tenant_a.id, value_date=ago(3), amount=5_000, status="unmatched", open_amount=256),
            payment(
                tenant_a.id, value_date=ago(8), amount=1_500, status="overpaid", open_amount=500, invoice_id=on_live.id
            ),
            payment(
                tenant_a.id,
                value_date=ago(100),
                amount=1_300,
                status="overpaid",
                open_amount=300,
                invoice_id=on_live.id,
            ),
            # not held: applied, refunded, a value date after as_of, an overpayment on a sandbox order
            payment(tenant_a.id, value_date=ago(3), amount=1_000, status="applied", invoice_id=on_live.id),
            payment(tenant_a.id, value_date=ago(3), amount=1_000, status="refunded"),
            payment(tenant_a.id, value_date=AS_OF + dt.timedelta(days=1), amount=9, status="unmatched", open_amount=9),
            payment(
                tenant_a.id,
                value_date=ago(3),
                amount=1_200,
                status="overpaid",
                open_amount=200,
                invoice_id=on_sandbox.id,
            ),
        ]
        await save(db, *rows)

        body = await report(client, tenant_a, "suspense-aging", as_of="2026-11-25")

        assert by_bucket(body["suspense"]) == {
            "0-6": (3, 1 + 2 + 256),
            "7-29": (2, 4 + 8),
            "30-89": (2, 16 + 32),
            "90+": (2, 64 + 128),
        }
        assert (body["suspense"]["total"]["count"], body["suspense"]["total"]["amount"]) == (9, 511)
        assert by_bucket(body["overpayments"]) == {"0-6": (0, 0), "7-29": (1, 500), "30-89": (0, 0), "90+": (1, 300)}

        r = await client.get(
            "/admin/v1/reports/suspense-aging",
            headers=bearer(tenant_a.finance_key),
            params={"as_of": "2026-11-25", "format": "csv"},
        )
        rows_csv = read_csv(r.content)
        assert rows_csv[0] == ["as_of", "kind", "bucket", "min_days", "max_days", "count", "amount"]
        assert rows_csv[1] == ["2026-11-25", "suspense", "0-6", "0", "6", "3", "259"]
        assert rows_csv[5] == ["2026-11-25", "suspense", "total", "0", "", "9", "511"]
        assert rows_csv[-1] == ["2026-11-25", "overpayment", "total", "0", "", "2", "800"]


class TestUnpaidRate:
    async def test_by_month_of_issue_each_chain_once(self, client, db, tenant_a):
        order = await live_order(client, tenant_a)
        sandbox = await sandbox_order(client, tenant_a)
        oct_, nov = d("2026-10-05"), d("2026-11-02")
        rows: list[Any] = []
        # October: 4 chains billed 1,000 + 200 fee each
        rows.append(invoice(order, base=d("2026-10-19"), issued=oct_, status="paid", fee=200, paid=1_200))
        rows.append(invoice(order, base=d("2026-10-19"), issued=oct_, status="paid", fee=200, paid=1_200))
        # re-billed in November: counted once, in October, unpaid (the late fee is not in the rate's amount)
        root = invoice(order, base=d("2026-10-19"), issued=oct_, status="rebilled", fee=200)
        rebill = invoice(
            order, base=d("2026-10-19"), issued=nov, status="overdue", fee=200, late_fee=297, paid=397, rebill=1,
            chain_of=root, supersedes=root,
        )  # fmt: skip
        rows += [root, rebill]
        # changed before due: the first invoice replaced by a new chain issued the same month (counted once)
        first = invoice(order, base=d("2026-10-20"), issued=d("2026-10-06"), status="voided", fee=200)
        rows += [first, invoice(order, base=d("2026-10-24"), issued=d("2026-10-10"), supersedes=first, fee=200)]
        # cancelled: not counted
        rows.append(invoice(order, base=d("2026-10-19"), issued=oct_, status="voided", fee=200))
        # November: one chain, charged off, unpaid
        rows.append(
            invoice(order, base=d("2026-11-16"), issued=nov, status="charged_off", principal=3_000, charged_off=3_000)
        )
        # outside the range, a sandbox order's
        rows.append(invoice(order, base=d("2026-09-15"), issued=d("2026-09-01"), status="overdue"))
        rows.append(invoice(sandbox, base=d("2026-10-19"), issued=oct_, status="overdue"))
        await save(db, *rows)

        with freeze_time("2026-11-25 03:00:00", real_asyncio=True):
            body = await report(client, tenant_a, "unpaid-rate", from_month="2026-10", to_month="2026-12")

        assert body["as_of"] == "2026-11-25"
        october, november, december = body["months"]
        assert october == {
            "month": "2026-10",
            "issued_count": 4,
            "issued_amount": 4_800,
            "unpaid_count": 2,
            "unpaid_amount": (1_200 - 100) + 1_200,  # 397 paid: 297 late fee first, then 100 of the fee
            "unpaid_balance": 1_100 + 1_200,
            "unpaid_count_rate": "50.00",
            "unpaid_amount_rate": "47.92",  # 2,300 / 4,800 = 47.916…
        }
        assert (november["issued_count"], november["unpaid_amount"], november["unpaid_amount_rate"]) == (
            1,
            3_000,
            "100.00",
        )
        assert december["issued_count"] == 0 and december["unpaid_count_rate"] is None
        assert body["total"]["issued_count"] == 5 and body["total"]["unpaid_count_rate"] == "60.00"

        r = await client.get(
            "/admin/v1/reports/unpaid-rate",
            headers=bearer(tenant_a.finance_key),
            params={"from_month": "2026-10", "to_month": "2026-12", "format": "csv"},
        )
        rows_csv = read_csv(r.content)
        assert rows_csv[0] == [
            "as_of", "month", "issued_count", "issued_amount", "unpaid_count", "unpaid_amount", "unpaid_balance",
            "unpaid_count_rate", "unpaid_amount_rate",
        ]  # fmt: skip
        assert rows_csv[1][1:] == ["2026-10", "4", "4800", "2", "2300", "2300", "50.00", "47.92"]
        assert rows_csv[3][-2:] == ["", ""]

    async def test_default_is_the_last_twelve_months(self, client, tenant_a):
        with freeze_time("2026-03-10 03:00:00", real_asyncio=True):
            body = await report(client, tenant_a, "unpaid-rate")
        assert [m["month"] for m in body["months"]][0::11] == ["2025-04", "2026-03"]


class TestAccess:
    PATHS = ("ar-aging", "collection-outcomes", "suspense-aging", "unpaid-rate")

    @pytest.mark.parametrize("path", PATHS)
    async def test_a_merchant_key_is_forbidden(self, client, tenant_a, path):
        r = await client.get(f"/admin/v1/reports/{path}", headers=bearer(tenant_a.merchant_key))
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")

    async def test_another_tenant_sees_none_of_it(self, client, db, tenant_a, tenant_b):
        order = await live_order(client, tenant_a)
        inv = invoice(order, base=ago(45), status="overdue", issued=d("2026-10-01"))
        held = payment(tenant_a.id, value_date=ago(2), amount=900, status="unmatched", open_amount=900)
        await save(db, inv, held)
        queries = {
            "ar-aging": {"as_of": "2026-11-25"},
            "collection-outcomes": {"from": "2026-10-01", "to": "2026-10-31"},
            "suspense-aging": {"as_of": "2026-11-25"},
            "unpaid-rate": {"from_month": "2026-10", "to_month": "2026-10"},
        }
        mine = {p: await report(client, tenant_a, p, **q) for p, q in queries.items()}
        theirs = {p: await report(client, tenant_b, p, key=tenant_b.admin_key, **q) for p, q in queries.items()}
        assert mine["ar-aging"]["total"]["count"] == 1 and theirs["ar-aging"]["total"]["count"] == 0
        assert mine["collection-outcomes"]["total"]["count"] == 1
        assert theirs["collection-outcomes"]["total"]["count"] == 0
        assert mine["suspense-aging"]["suspense"]["total"]["amount"] == 900
        assert theirs["suspense-aging"]["suspense"]["total"]["amount"] == 0
        assert mine["unpaid-rate"]["total"]["issued_count"] == 1
        assert theirs["unpaid-rate"]["total"]["issued_count"] == 0


class TestBadParameters:
    @pytest.mark.parametrize(
        ("path", "params", "pointer"),
        [
            ("ar-aging", {"as_of": "2026-02-30"}, "query:as_of"),
            ("ar-aging", {"as_of": "yesterday"}, "query:as_of"),
            ("ar-aging", {"format": "xlsx"}, "query:format"),
            ("suspense-aging", {"as_of": "20261125"}, "query:as_of"),
            ("collection-outcomes", {"from": "2026-13-01"}, "query:from"),
            ("collection-outcomes", {"from": "2026-10-01", "to": "2026-09-30"}, "query:to"),
            ("unpaid-rate", {"from_month": "2026-13"}, "query:from_month"),
            ("unpaid-rate", {"to_month": "2026-1"}, "query:to_month"),
            ("unpaid-rate", {"from_month": "2026-11", "to_month": "2026-10"}, "query:to_month"),
            ("unpaid-rate", {"from_month": "2010-01", "to_month": "2026-10"}, "query:to_month"),
            # Dates and months are 2000 to 2999: earlier ones would reach before year 1 in the window's arithmetic.
            ("collection-outcomes", {"to": "0001-01-01"}, "query:to"),
            ("unpaid-rate", {"to_month": "0000-01"}, "query:to_month"),
            ("unpaid-rate", {"to_month": "1999-12"}, "query:to_month"),
        ],
    )
    async def test_422_names_the_parameter(self, client, tenant_a, path, params, pointer):
        r = await client.get(f"/admin/v1/reports/{path}", headers=bearer(tenant_a.finance_key), params=params)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert pointer in [e["pointer"] for e in r.json()["errors"]], r.json()
