"""Reconciliation of single payment notifications: every matching key, every outcome, the manual queue, 速報 and
reversals, with the invoice, the consumer's credit and the ledger after each scenario."""

from __future__ import annotations

from freezegun import freeze_time
from sqlalchemy import select

from domain.kit.audit import AuditEvent
from tests.checkout.helpers import (
    authorized,
    balances,
    capture_body,
    consumers,
    get,
    invoices,
    ledger_ok,
    new_merchant,
    order_body,
    post,
    set_consumer_fee,
)
from tests.fixtures.factories import bearer

TOTAL = 6_800  # order_body(n): 3,000 × 2 + 800


async def shipped(client, tenant, n: int = 1, **kw) -> tuple[dict, dict]:
    order = await authorized(client, tenant, n, **kw)
    r = await post(client, tenant, f"/v1/orders/{order['id']}/captures", capture_body(n))
    assert r.status_code == 201, r.text
    return order, (await invoices(client, tenant, order["id"]))[-1]


async def pay(client, tenant, external_id: str, amount: int, *, expect: int = 201, **fields) -> dict:
    body = {"external_id": external_id, "amount": amount, "value_date": "2026-12-01", **fields}
    r = await client.post("/admin/v1/payments", headers=bearer(tenant.finance_key), json=body)
    assert r.status_code == expect, r.text
    return r.json()


async def invoice_of(client, tenant, order_id: str) -> dict:
    return (await invoices(client, tenant, order_id))[-1]


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_exact_payment_by_virtual_account_closes_the_invoice_and_frees_the_credit(client, tenant_a, db):
    order, invoice = await shipped(client, tenant_a)
    assert (await consumers(db, tenant_a.id))[0].outstanding == TOTAL

    payment = await pay(client, tenant_a, "bank:1", TOTAL, account=invoice["virtual_account"], payer_name="ﾔﾏﾀﾞ ﾀﾛｳ")

    assert (payment["status"], payment["outcome"], payment["match_method"]) == ("applied", "exact", "virtual_account")
    after = await invoice_of(client, tenant_a, order["id"])
    assert (after["status"], after["paid_amount"], after["balance"]) == ("paid", TOTAL, 0)
    assert (await consumers(db, tenant_a.id))[0].outstanding == 0
    money = await balances(client, tenant_a)
    assert (money["bank"], money["consumer_receivable"]) == (TOTAL, 0)
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_the_same_notification_twice_is_applied_once_and_changed_details_are_refused(client, tenant_a, db):
    _, invoice = await shipped(client, tenant_a)
    first = await pay(client, tenant_a, "bank:dup", TOTAL, account=invoice["virtual_account"])
    again = await pay(client, tenant_a, "bank:dup", TOTAL, account=invoice["virtual_account"])
    assert again["id"] == first["id"] and again["status"] == "applied"
    async with db.sessionmaker() as s:
        [event] = (
            await s.scalars(
                select(AuditEvent).where(AuditEvent.tenant_id == tenant_a.id, AuditEvent.action == "payment.recorded")
            )
        ).all()
    assert event.resource_id == first["id"] and event.actor != "system"
    assert event.data["request_id"].startswith("req_")  # the API request it came in
    refused = await pay(client, tenant_a, "bank:dup", TOTAL + 1, account=invoice["virtual_account"], expect=409)
    assert refused["code"] == "external_id_reused"
    assert (await balances(client, tenant_a))["bank"] == TOTAL
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_payment_number_of_a_superseded_slip_pays_the_invoice_that_replaced_it(client, tenant_a, db):
    order, old = await shipped(client, tenant_a)
    r = await post(client, tenant_a, f"/v1/orders/{order['id']}/refunds", {"amount": 800})
    assert r.status_code == 201, r.text
    new = await invoice_of(client, tenant_a, order["id"])
    assert new["id"] != old["id"] and new["principal"] == TOTAL - 800

    payment = await pay(
        client, tenant_a, "cvs:1", TOTAL - 800, payment_number=old["payment_number"], channel="convenience_store"
    )

    assert (payment["invoice_id"], payment["outcome"], payment["match_method"]) == (
        new["id"],
        "exact",
        "payment_number",
    )
    money = await balances(client, tenant_a)
    assert money["agent_collections_in_transit"] == TOTAL - 800 and money["consumer_receivable"] == 0
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_a_transfer_reference_in_the_remitter_name_identifies_the_invoice(client, tenant_a, db):
    order, invoice = await shipped(client, tenant_a)
    payment = await pay(client, tenant_a, "bank:ref", TOTAL, payer_name=f"{invoice['transfer_reference']} ﾔﾏﾀﾞ ﾀﾛｳ")
    assert (payment["match_method"], payment["outcome"]) == ("reference", "exact")
    assert (await invoice_of(client, tenant_a, order["id"]))["status"] == "paid"


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_kana_name_and_exact_amount_match_only_when_one_open_invoice_fits(client, tenant_a, db):
    order1, _ = await shipped(client, tenant_a, 1)
    await shipped(client, tenant_a, 2, amount=5_000)
    # ヤマダ タロウ owes 6,800 on one invoice and 5,000 on another: the amount decides.
    payment = await pay(client, tenant_a, "bank:name", TOTAL, payer_name="ﾔﾏﾀﾞ ﾀﾛｳ")
    assert (payment["match_method"], payment["invoice_id"]) == (
        "name_amount",
        (await invoice_of(client, tenant_a, order1["id"]))["id"],
    )
    # Two open invoices of the same amount and name: nobody can tell which, so it waits in suspense.
    await shipped(client, tenant_a, 3, amount=5_000)
    unsure = await pay(client, tenant_a, "bank:name2", 5_000, payer_name="ﾔﾏﾀﾞ ﾀﾛｳ")
    assert (unsure["status"], unsure["outcome"]) == ("unmatched", "unidentified")
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_waterfall_partial_then_rest_pays_the_fee_first(client, tenant_a, db):
    await set_consumer_fee(client, tenant_a, tenant_a.merchant.id, 330)
    order, invoice = await shipped(client, tenant_a)
    assert invoice["total"] == TOTAL + 330

    partial = await pay(client, tenant_a, "bank:p1", 1_000, account=invoice["virtual_account"])
    assert (partial["status"], partial["outcome"]) == ("applied", "partial")
    after = await invoice_of(client, tenant_a, order["id"])
    assert (after["status"], after["paid_amount"], after["balance"]) == ("partially_paid", 1_000, TOTAL + 330 - 1_000)
    # The fee was paid first: of the credit exposure only the 670 of principal paid was released.
    assert (await consumers(db, tenant_a.id))[0].outstanding == TOTAL - 670

    rest = await pay(client, tenant_a, "bank:p2", TOTAL + 330 - 1_000, account=invoice["virtual_account"])
    assert rest["outcome"] == "exact"
    assert (await invoice_of(client, tenant_a, order["id"]))["status"] == "paid"
    assert (await consumers(db, tenant_a.id))[0].outstanding == 0
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_overpayment_is_owed_back_and_a_small_one_is_kept_as_income(client, tenant_a, db):
    _, first = await shipped(client, tenant_a, 1)
    _, second = await shipped(client, tenant_a, 2)
    big = await pay(client, tenant_a, "bank:o1", TOTAL + 1_000, account=first["virtual_account"])
    assert (big["status"], big["outcome"], big["open_amount"]) == ("overpaid", "over", 1_000)
    small = await pay(client, tenant_a, "bank:o2", TOTAL + 100, account=second["virtual_account"])
    assert (small["status"], small["outcome"], small["open_amount"]) == ("applied", "over", 0)
    money = await balances(client, tenant_a)
    assert (money["consumer_overpayments"], money["misc_income"]) == (1_000, 100)

    queue = (await client.get("/admin/v1/payments?held=true", headers=bearer(tenant_a.finance_key))).json()["data"]
    assert [p["id"] for p in queue] == [big["id"]]
    r = await client.post(f"/admin/v1/payments/{big['id']}/refund", headers=bearer(tenant_a.finance_key), json={})
    assert r.status_code == 200 and r.json()["status"] == "refunded", r.text
    money = await balances(client, tenant_a)
    assert (money["consumer_overpayments"], money["bank"]) == (0, 2 * TOTAL + 100)
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_payment_for_a_cancelled_order_is_owed_back(client, tenant_a, db):
    order = await authorized(client, tenant_a, 1, invoice_delivery="enclosed")
    invoice = await invoice_of(client, tenant_a, order["id"])
    r = await post(client, tenant_a, f"/v1/orders/{order['id']}/cancel")
    assert r.status_code == 200, r.text
    payment = await pay(client, tenant_a, "bank:c", TOTAL, account=invoice["virtual_account"])
    assert (payment["status"], payment["outcome"], payment["open_amount"]) == ("overpaid", "after_close", TOTAL)
    assert (await balances(client, tenant_a))["consumer_overpayments"] == TOTAL
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_unidentified_payment_waits_in_suspense_until_matched_by_hand(client, tenant_a, db):
    order, invoice = await shipped(client, tenant_a)
    payment = await pay(client, tenant_a, "bank:u", TOTAL, payer_name="ｽｽﾞｷ ﾊﾅｺ")
    assert (payment["status"], payment["outcome"]) == ("unmatched", "unidentified")
    assert (await balances(client, tenant_a))["suspense"] == TOTAL

    r = await client.post(
        f"/admin/v1/payments/{payment['id']}/match",
        headers=bearer(tenant_a.finance_key),
        json={"invoice_id": invoice["id"], "note": "daughter paid"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["match_method"], r.json()["open_amount"]) == ("applied", "manual", 0)
    money = await balances(client, tenant_a)
    assert (money["suspense"], money["consumer_receivable"], money["bank"]) == (0, 0, TOTAL)
    assert (await invoice_of(client, tenant_a, order["id"]))["status"] == "paid"
    # Matched already: a second match is refused, nothing moves.
    again = await client.post(
        f"/admin/v1/payments/{payment['id']}/match",
        headers=bearer(tenant_a.finance_key),
        json={"invoice_id": invoice["id"]},
    )
    assert again.status_code == 409 and again.json()["code"] == "payment_not_in_queue"
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_suspense_written_to_income(client, tenant_a, db):
    payment = await pay(client, tenant_a, "bank:w", 500, payer_name="ﾌﾒｲ")
    r = await client.post(
        f"/admin/v1/payments/{payment['id']}/write-off", headers=bearer(tenant_a.finance_key), json={"note": "no payer"}
    )
    assert r.status_code == 200 and r.json()["status"] == "written_off", r.text
    money = await balances(client, tenant_a)
    assert (money["suspense"], money["misc_income"]) == (0, 500)
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_reversal_undoes_the_payment_and_reopens_the_invoice(client, tenant_a, db):
    order, invoice = await shipped(client, tenant_a)
    await pay(client, tenant_a, "bank:r", TOTAL, account=invoice["virtual_account"])
    reversal = await pay(client, tenant_a, "bank:r:cancel", TOTAL, kind="reversal", reverses_external_id="bank:r")
    assert (reversal["status"], reversal["outcome"]) == ("recorded", "reversed")
    original = (await client.get("/admin/v1/payments?status=reversed", headers=bearer(tenant_a.finance_key))).json()
    assert [p["external_id"] for p in original["data"]] == ["bank:r"]
    after = await invoice_of(client, tenant_a, order["id"])
    assert (after["status"], after["paid_amount"], after["balance"]) == ("issued", 0, TOTAL)
    assert (await consumers(db, tenant_a.id))[0].outstanding == TOTAL
    money = await balances(client, tenant_a)
    assert (money["bank"], money["consumer_receivable"]) == (0, TOTAL)
    # The same reversal again does nothing.
    again = await pay(client, tenant_a, "bank:r:cancel2", TOTAL, kind="reversal", reverses_external_id="bank:r")
    assert again["outcome"] == "duplicate"
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_convenience_store_preliminary_pauses_then_cancel_restores(client, tenant_a, db):
    order, invoice = await shipped(client, tenant_a)
    number = invoice["payment_number"]
    sokuho = await pay(
        client, tenant_a, "cvs:s1", TOTAL, kind="preliminary", channel="convenience_store", payment_number=number
    )
    assert sokuho["status"] == "pending"
    assert (await invoice_of(client, tenant_a, order["id"]))["status"] == "payment_pending"
    assert (await balances(client, tenant_a))["agent_collections_in_transit"] == 0  # nothing booked on 速報

    await pay(
        client,
        tenant_a,
        "cvs:s1:cancel",
        TOTAL,
        kind="preliminary_cancel",
        channel="convenience_store",
        payment_number=number,
        reverses_external_id="cvs:s1",
    )
    assert (await invoice_of(client, tenant_a, order["id"]))["status"] == "issued"

    await pay(client, tenant_a, "cvs:s2", TOTAL, kind="preliminary", channel="convenience_store", payment_number=number)
    final = await pay(client, tenant_a, "cvs:k2", TOTAL, channel="convenience_store", payment_number=number)
    assert final["outcome"] == "exact"
    assert (await invoice_of(client, tenant_a, order["id"]))["status"] == "paid"
    confirmed = await client.get("/admin/v1/payments?status=confirmed", headers=bearer(tenant_a.finance_key))
    assert [p["external_id"] for p in confirmed.json()["data"]] == ["cvs:s2"]
    assert (await balances(client, tenant_a))["agent_collections_in_transit"] == TOTAL
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_a_cancel_that_arrives_before_its_preliminary_voids_it_on_arrival(client, tenant_a, db):
    """Out of order (ops/faults notifications): the 速報取消 comes in an earlier file than its 速報. The 速報 then
    pauses nothing: the invoice stays issued and dunning goes on."""
    order, invoice = await shipped(client, tenant_a)
    number = invoice["payment_number"]
    cancel = await pay(
        client,
        tenant_a,
        "cvs:s9:cancel",
        TOTAL,
        kind="preliminary_cancel",
        channel="convenience_store",
        payment_number=number,
        reverses_external_id="cvs:s9",
    )
    assert cancel["outcome"] == "cancel_unmatched"
    sokuho = await pay(
        client, tenant_a, "cvs:s9", TOTAL, kind="preliminary", channel="convenience_store", payment_number=number
    )
    assert (sokuho["status"], sokuho["reversed_by_id"]) == ("cancelled", cancel["id"])
    after = await invoice_of(client, tenant_a, order["id"])
    assert after["status"] == "issued"
    paired = (await client.get(f"/admin/v1/payments/{cancel['id']}", headers=bearer(tenant_a.finance_key))).json()
    assert (paired["outcome"], paired["invoice_id"]) == ("preliminary_cancel", invoice["id"])
    await ledger_ok(db, tenant_a.id)


async def test_strict_validation_names_the_field(client, tenant_a):
    for body, field in (
        ({"external_id": "x", "amount": "6800", "value_date": "2026-12-01"}, "amount"),
        ({"external_id": "x", "amount": False, "value_date": "2026-12-01"}, "amount"),
        ({"external_id": "x", "amount": 0, "value_date": "2026-12-01"}, "amount"),
        ({"external_id": "x", "amount": 1, "value_date": "2026-12-01", "surprise": 1}, "surprise"),
        ({"external_id": "x", "amount": 1, "value_date": "2026-12-01", "account": "123"}, "account"),
    ):
        r = await client.post("/admin/v1/payments", headers=bearer(tenant_a.finance_key), json=body)
        assert r.status_code in (400, 422), (body, r.text)
        assert field in r.text, r.text


async def test_payments_are_the_operators_own(client, tenant_a, tenant_b):
    payment = await pay(client, tenant_a, "bank:iso", 1_000, payer_name="ﾌﾒｲ")
    r = await get(client, tenant_b, f"/admin/v1/payments/{payment['id']}", secret=tenant_b.finance_key)
    assert r.status_code == 404
    r = await client.post(f"/admin/v1/payments/{payment['id']}/refund", headers=bearer(tenant_b.finance_key), json={})
    assert r.status_code == 404
    listed = (await client.get("/admin/v1/payments", headers=bearer(tenant_b.finance_key))).json()["data"]
    assert listed == []
    # A merchant key may not see the operator's payments at all.
    assert (await client.get("/admin/v1/payments", headers=bearer(tenant_a.merchant_key))).status_code == 403
    # The same external id is another operator's own business.
    other = await pay(client, tenant_b, "bank:iso", 1_000, payer_name="ﾌﾒｲ")
    assert other["id"] != payment["id"]


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_reversals_that_do_not_fit_book_only_what_really_happened(client, tenant_a, db):
    _, invoice = await shipped(client, tenant_a)
    await pay(client, tenant_a, "bank:x", TOTAL, account=invoice["virtual_account"])
    # Another amount than the payment it names: not that payment's reversal.
    odd = await pay(client, tenant_a, "bank:x:c", 1, kind="reversal", reverses_external_id="bank:x")
    assert (odd["status"], odd["outcome"]) == ("unmatched", "reversal_mismatch")
    # A reversal of something we never received.
    ghost = await pay(client, tenant_a, "bank:ghost:c", 5_000, kind="reversal", reverses_external_id="bank:ghost")
    assert (ghost["status"], ghost["outcome"]) == ("unmatched", "reversal_unmatched")
    money = await balances(client, tenant_a)
    # The invoice stays paid; the bank really lost 5,001, which waits in suspense (a debit) for a person.
    assert (money["bank"], money["suspense"], money["consumer_receivable"]) == (TOTAL - 5_001, -5_001, 0)
    for action in ("refund", "write-off"):
        r = await client.post(
            f"/admin/v1/payments/{ghost['id']}/{action}", headers=bearer(tenant_a.finance_key), json={}
        )
        assert r.status_code == 409 and r.json()["code"] == "reversal_not_resolvable_here", r.text
    # A reversal naming a convenience-store notice reverses no money.
    await pay(
        client,
        tenant_a,
        "cvs:n1",
        TOTAL,
        kind="preliminary",
        channel="convenience_store",
        payment_number=invoice["payment_number"],
    )
    notice = await pay(client, tenant_a, "cvs:n1:c", TOTAL, kind="reversal", reverses_external_id="cvs:n1")
    assert (notice["status"], notice["outcome"]) == ("recorded", "reversal_of_notice")
    assert (await balances(client, tenant_a))["bank"] == TOTAL - 5_001
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_a_cancel_of_an_unknown_preliminary_is_recorded_not_an_error(client, tenant_a, db):
    cancel = await pay(
        client,
        tenant_a,
        "cvs:zz:c",
        1_000,
        kind="preliminary_cancel",
        channel="convenience_store",
        reverses_external_id="cvs:zz",
    )
    assert (cancel["status"], cancel["outcome"]) == ("recorded", "cancel_unmatched")


async def test_control_characters_and_impossible_notices_are_422s(client, tenant_a):
    base = {"external_id": "x", "amount": 1, "value_date": "2026-12-01"}
    for extra, field in (
        ({"payer_name": "ﾔﾏﾀﾞ\x00"}, "payer_name"),
        ({"edi": "a\nb"}, "edi"),
        ({"value_date": "0001-01-01"}, "value_date"),
        ({"kind": "preliminary"}, "convenience_store"),  # a 速報 is a convenience-store notice
        ({"kind": "reversal"}, "reverses_external_id"),  # a reversal names what it reverses
    ):
        r = await client.post("/admin/v1/payments", headers=bearer(tenant_a.finance_key), json=base | extra)
        assert r.status_code == 422, (extra, r.text)
        assert field in r.text, r.text


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_suspense_money_cannot_pay_a_sandbox_invoice(client, tenant_a, db):
    merchant_id, secret = await new_merchant(client, tenant_a, "Sandbox shop", test_mode=True)
    r = await client.post("/v1/orders", headers=bearer(secret), json=order_body(1))
    assert r.status_code == 201 and r.json()["status"] == "authorized", r.text
    order = r.json()
    r = await client.post(f"/v1/orders/{order['id']}/captures", headers=bearer(secret), json=capture_body(1))
    assert r.status_code == 201, r.text
    invoice = (await client.get(f"/v1/orders/{order['id']}/invoices", headers=bearer(secret))).json()[-1]
    held = await pay(client, tenant_a, "bank:sbx", TOTAL, payer_name="ﾌﾒｲ")
    r = await client.post(
        f"/admin/v1/payments/{held['id']}/match",
        headers=bearer(tenant_a.finance_key),
        json={"invoice_id": invoice["id"]},
    )
    assert r.status_code == 409 and r.json()["code"] == "invoice_is_sandbox"
    assert (await balances(client, tenant_a))["suspense"] == TOTAL
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_a_reversal_the_bank_did_not_name_is_paired_by_hand(client, tenant_a, db):
    order, invoice = await shipped(client, tenant_a)
    paid = await pay(client, tenant_a, "bank:0001", TOTAL, account=invoice["virtual_account"])
    # The bank's cancel record carries its own reference, not the transfer's: it matches nothing.
    returned = await pay(client, tenant_a, "bank:0099:c", TOTAL, kind="reversal", reverses_external_id="bank:0099")
    assert (returned["status"], returned["outcome"]) == ("unmatched", "reversal_unmatched")
    assert (await balances(client, tenant_a))["suspense"] == -TOTAL

    finance = bearer(tenant_a.finance_key)
    r = await client.post(f"/admin/v1/payments/{returned['id']}/pair", headers=finance, json={"payment_id": paid["id"]})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["outcome"], r.json()["open_amount"]) == ("recorded", "reversed", 0)
    original = (await client.get(f"/admin/v1/payments/{paid['id']}", headers=finance)).json()
    assert (original["status"], original["reversed_by_id"]) == ("reversed", returned["id"])
    after = await invoice_of(client, tenant_a, order["id"])
    assert (after["status"], after["balance"]) == ("issued", TOTAL)
    money = await balances(client, tenant_a)
    assert (money["suspense"], money["bank"], money["consumer_receivable"]) == (0, 0, TOTAL)
    # Paired already, or with a payment of another amount: refused, nothing moves.
    again = await client.post(
        f"/admin/v1/payments/{returned['id']}/pair", headers=finance, json={"payment_id": paid["id"]}
    )
    assert again.status_code == 409
    other = await pay(client, tenant_a, "bank:0100:c", 1_000, kind="reversal", reverses_external_id="bank:0100")
    wrong = await client.post(
        f"/admin/v1/payments/{other['id']}/pair", headers=finance, json={"payment_id": paid["id"]}
    )
    assert wrong.status_code == 409 and wrong.json()["code"] == "reversal_mismatch"
    await ledger_ok(db, tenant_a.id)
