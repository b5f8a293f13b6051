"""An order's life through the merchant API: every transition, every illegal one (409 with its own code and
nothing changed), partial capture / release / refund arithmetic, idempotent replays, changes (PATCH) and merchant
isolation. The ledger balances after every scenario and the right accounts move."""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from billing.metering import UsageEvent
from domain.checkout.models import Capture, Order, Refund
from domain.ledger.models import JournalEntry
from tests.checkout.helpers import (
    admin_order,
    authorized,
    balances,
    capture_body,
    consumers,
    count_rows,
    create_order,
    get,
    invoices,
    ledger_ok,
    new_merchant,
    order_body,
    post,
    run_job,
)
from tests.fixtures.factories import bearer

# order_body(n): SKU-1 3,000 × 2 (8 %) + SHIP 800 × 1 (10 %) = 6,800.
TOTAL = 6_800


def review_body(n: int) -> dict:
    """An order the real engine sends to REVIEW: a disposable email, an English browser in New York (35+15+20)."""
    return order_body(
        n,
        buyer={"email": f"buyer{n}@mailinator.com"},
        device={"ip": "133.242.0.10", "accept_language": "en-US", "timezone": "America/New_York"},
    )


async def capture(client, tenant, order_id: str, n: int = 1, *, key: str | None = None, **extra):
    return await post(client, tenant, f"/v1/orders/{order_id}/captures", capture_body(n, **extra), key=key)


async def refund(client, tenant, order_id: str, body: dict | None = None, *, key: str | None = None):
    return await post(client, tenant, f"/v1/orders/{order_id}/refunds", body or {}, key=key)


async def snapshot(client, db, tenant, order_id: str) -> tuple:
    """Everything an illegal action must leave untouched."""
    r = await get(client, tenant, f"/v1/orders/{order_id}/captures")
    return (
        await admin_order(client, tenant, order_id),
        await invoices(client, tenant, order_id),
        r.json(),
        dict(await balances(client, tenant)),
        await count_rows(db, JournalEntry, tenant.id),
        sorted((c.id, c.outstanding) for c in await consumers(db, tenant.id)),
    )


# -- building an order in each state ---------------------------------------------------------------------------


async def order_in(client, db, tenant, state: str, n: int = 0) -> dict:
    if state == "in_review":
        r = await create_order(client, tenant, review_body(n))
        assert r.status_code == 201 and r.json()["status"] == "in_review", r.text
        return r.json()
    if state == "declined":
        r = await create_order(client, tenant, order_body(n, amount=60_000))  # above order_max (55,000)
        assert r.status_code == 201 and r.json()["status"] == "declined", r.text
        return r.json()
    if state == "expired":
        with freeze_time("2026-01-05 03:00:00", real_asyncio=True):
            order = await authorized(client, tenant, n)
        with freeze_time("2026-03-07 03:00:00", real_asyncio=True):
            assert await run_job(db, "checkout.expire_authorizations") == "done"
        r = await get(client, tenant, f"/v1/orders/{order['id']}")
        assert r.json()["status"] == "expired", r.json()
        return r.json()
    order = await authorized(client, tenant, n)
    if state == "authorized":
        return order
    if state == "cancelled":
        r = await post(client, tenant, f"/v1/orders/{order['id']}/cancel")
    elif state == "partially_captured":
        r = await capture(client, tenant, order["id"], n, amount=1_000)
    elif state == "captured":
        r = await capture(client, tenant, order["id"], n)
    else:
        raise AssertionError(state)
    assert r.status_code in (200, 201), r.text
    body = r.json().get("order", r.json())
    assert body["status"] == state, body
    return body


async def act(client, tenant, action: str, order_id: str):
    path = f"/v1/orders/{order_id}"
    if action == "cancel":
        return await post(client, tenant, f"{path}/cancel")
    if action == "change":
        items = [
            {"ref": "SKU-1", "name": "緑茶ギフト", "unit_price": 3000, "quantity": 1, "tax_rate": 8},
            {"ref": "SHIP", "name": "送料", "unit_price": 800, "quantity": 1, "tax_rate": 10},
        ]
        return await client.patch(path, headers=bearer(tenant.merchant_key), json={"amount": 3_800, "items": items})
    if action == "capture":
        return await capture(client, tenant, order_id, 7, amount=500)
    if action == "release":
        return await post(client, tenant, f"{path}/release")
    if action == "refund":
        return await refund(client, tenant, order_id, {"amount": 100})
    if action == "review":
        return await post(client, tenant, f"/admin/v1/orders/{order_id}/approve", {"note": "ok"}, admin=True)
    raise AssertionError(action)


ILLEGAL = [
    ("authorized", "release"),
    ("authorized", "refund"),
    ("authorized", "review"),
    ("in_review", "capture"),
    ("in_review", "release"),
    ("in_review", "refund"),
    ("partially_captured", "cancel"),
    ("partially_captured", "change"),
    ("partially_captured", "review"),
    ("captured", "cancel"),
    ("captured", "change"),
    ("captured", "capture"),
    ("captured", "release"),
    ("captured", "review"),
    *[
        (state, action)
        for state in ("declined", "cancelled", "expired")
        for action in ("cancel", "change", "capture", "release", "refund", "review")
    ],
]


class TestIllegalTransitions:
    @pytest.mark.parametrize(("state", "action"), ILLEGAL)
    async def test_is_a_409_with_the_actions_code_and_changes_nothing(self, client, db, tenant_a, state, action):
        order = await order_in(client, db, tenant_a, state)
        before = await snapshot(client, db, tenant_a, order["id"])
        r = await act(client, tenant_a, action, order["id"])
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == f"{action}_not_allowed", r.json()
        assert r.json()["status"] == 409
        assert await snapshot(client, db, tenant_a, order["id"]) == before
        await ledger_ok(db, tenant_a.id)

    async def test_arrival_before_any_shipment_is_arrival_not_allowed(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        before = await snapshot(client, db, tenant_a, order["id"])
        r = await post(client, tenant_a, f"/admin/v1/orders/{order['id']}/arrival", admin=True)
        assert r.status_code == 409 and r.json()["code"] == "arrival_not_allowed", r.text
        assert await snapshot(client, db, tenant_a, order["id"]) == before

    async def test_a_second_active_order_with_the_same_merchant_order_id_is_409(self, client, db, tenant_a):
        first = await authorized(client, tenant_a, 1)
        r = await create_order(client, tenant_a, order_body(2, merchant_order_id=first["merchant_order_id"]))
        assert r.status_code == 409 and r.json()["code"] == "merchant_order_id_taken", r.text
        assert await count_rows(db, Order, tenant_a.id) == 1
        await post(client, tenant_a, f"/v1/orders/{first['id']}/cancel")
        again = await create_order(client, tenant_a, order_body(2, merchant_order_id=first["merchant_order_id"]))
        assert again.status_code == 201 and again.json()["status"] == "authorized", again.text
        by_id = await get(client, tenant_a, f"/v1/orders/by-merchant-order-id/{first['merchant_order_id']}")
        assert by_id.json()["id"] == again.json()["id"]
        await ledger_ok(db, tenant_a.id)


class TestLegalTransitions:
    async def test_authorize_sets_exposure_deadline_and_moves_no_money(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        assert order["amount"] == TOTAL and order["guarantee"] == "none" and order["expires_at"] is not None
        admin = await admin_order(client, tenant_a, order["id"])
        assert admin["exposure"] == TOTAL and admin["credit_policy_version"] == 0
        [consumer] = await consumers(db, tenant_a.id)
        assert consumer.outstanding == TOTAL and admin["consumer_id"] == consumer.id
        assert await count_rows(db, JournalEntry, tenant_a.id) == 0
        await ledger_ok(db, tenant_a.id)

    async def test_cancel_before_shipment_frees_the_exposure(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/cancel", {"reason": "buyer changed mind"})
        assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
        assert (await admin_order(client, tenant_a, order["id"]))["exposure"] == 0
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [0]
        assert await count_rows(db, JournalEntry, tenant_a.id) == 0
        await ledger_ok(db, tenant_a.id)

    async def test_full_capture_books_receivable_against_payable(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        r = await capture(client, tenant_a, order["id"])
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["order"]["status"] == "captured" and body["order"]["captured_amount"] == TOTAL
        assert body["order"]["guarantee"] == "pending"
        assert (
            body["capture"]["amount"] == TOTAL
            and body["capture"]["tracking_number"] == capture_body(1)["tracking_number"]
        )
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == TOTAL and b["merchant_payable"] == TOTAL
        # Invoiced-not-paid still counts against the consumer's limit.
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [TOTAL]
        await ledger_ok(db, tenant_a.id)

    async def test_in_review_order_can_be_cancelled_and_its_screening_is_withdrawn(self, client, db, tenant_a):
        order = await order_in(client, db, tenant_a, "in_review")
        screening_id = (await admin_order(client, tenant_a, order["id"]))["screening_id"]
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
        s = await get(client, tenant_a, f"/admin/v1/screenings/{screening_id}", admin=True)
        assert s.json()["status"] == "withdrawn", s.json()
        queue = await get(client, tenant_a, "/admin/v1/screenings?status=in_review", admin=True)
        assert queue.json()["data"] == []
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [0]
        await ledger_ok(db, tenant_a.id)


class TestPartialCapture:
    async def test_several_captures_by_amount_add_up_and_the_last_takes_the_rest(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        first = await capture(client, tenant_a, order["id"], 1, amount=2_000)
        assert first.status_code == 201, first.text
        assert first.json()["order"]["status"] == "partially_captured"
        assert first.json()["order"]["captured_amount"] == 2_000
        second = await capture(client, tenant_a, order["id"], 2, amount=3_000)
        assert second.json()["order"]["captured_amount"] == 5_000
        assert second.json()["order"]["status"] == "partially_captured"
        last = await capture(client, tenant_a, order["id"], 3)  # no amount: everything still uncaptured
        assert last.json()["capture"]["amount"] == 1_800
        assert last.json()["order"]["status"] == "captured" and last.json()["order"]["captured_amount"] == TOTAL
        listed = await get(client, tenant_a, f"/v1/orders/{order['id']}/captures")
        assert [c["amount"] for c in listed.json()] == [2_000, 3_000, 1_800]
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == b["merchant_payable"] == TOTAL
        await ledger_ok(db, tenant_a.id)

    async def test_capture_beyond_what_is_left_is_422_and_changes_nothing(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"], 1, amount=5_000)
        before = await snapshot(client, db, tenant_a, order["id"])
        r = await capture(client, tenant_a, order["id"], 2, amount=1_801)
        assert r.status_code == 422 and r.json()["code"] == "amount_exceeds_uncaptured", r.text
        assert [e["pointer"] for e in r.json()["errors"]] == ["#/amount"]
        assert await snapshot(client, db, tenant_a, order["id"]) == before
        assert (await capture(client, tenant_a, order["id"], 2, amount=1_800)).status_code == 201
        await ledger_ok(db, tenant_a.id)

    async def test_capture_by_line_items_counts_quantities(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        r = await capture(client, tenant_a, order["id"], 1, items=[{"ref": "SKU-1", "quantity": 1}])
        assert r.status_code == 201, r.text
        assert r.json()["capture"]["amount"] == 3_000
        assert r.json()["capture"]["items"] == [{"ref": "SKU-1", "quantity": 1}]
        by_ref = {i["ref"]: i for i in r.json()["order"]["items"]}
        assert by_ref["SKU-1"]["captured_quantity"] == 1 and by_ref["SHIP"]["captured_quantity"] == 0
        before = await snapshot(client, db, tenant_a, order["id"])
        too_many = await capture(client, tenant_a, order["id"], 2, items=[{"ref": "SKU-1", "quantity": 2}])
        assert too_many.status_code == 422 and too_many.json()["code"] == "quantity_exceeds_remaining"
        assert [e["pointer"] for e in too_many.json()["errors"]] == ["#/items/0/quantity"]
        unknown = await capture(client, tenant_a, order["id"], 2, items=[{"ref": "NOPE", "quantity": 1}])
        assert unknown.status_code == 422 and [e["pointer"] for e in unknown.json()["errors"]] == ["#/items/0/ref"]
        mismatch = await capture(client, tenant_a, order["id"], 2, amount=999, items=[{"ref": "SHIP", "quantity": 1}])
        assert mismatch.status_code == 422 and mismatch.json()["code"] == "amount_mismatch"
        assert await snapshot(client, db, tenant_a, order["id"]) == before
        rest = await capture(
            client, tenant_a, order["id"], 3, items=[{"ref": "SKU-1", "quantity": 1}, {"ref": "SHIP", "quantity": 1}]
        )
        assert rest.json()["capture"]["amount"] == 3_800 and rest.json()["order"]["status"] == "captured"
        await ledger_ok(db, tenant_a.id)


class TestRelease:
    async def test_release_gives_up_the_remainder_and_its_exposure(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"], 1, amount=2_000)
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/release")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "captured" and body["released_amount"] == 4_800 and body["captured_amount"] == 2_000
        assert (await admin_order(client, tenant_a, order["id"]))["exposure"] == 2_000
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [2_000]
        b = await balances(client, tenant_a)  # releasing moves no money
        assert b["consumer_receivable"] == b["merchant_payable"] == 2_000
        again = await post(client, tenant_a, f"/v1/orders/{order['id']}/release")
        assert again.status_code == 409 and again.json()["code"] == "release_not_allowed"
        await ledger_ok(db, tenant_a.id)


class TestRefund:
    async def test_partial_refunds_by_amount_and_by_line_then_beyond_is_422(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"])
        r = await refund(client, tenant_a, order["id"], {"amount": 800, "reason": "shipping waived"})
        assert r.status_code == 201, r.text
        assert r.json()["refund"]["amount"] == 800 and r.json()["refund"]["invoice_reduction"] == 800
        assert r.json()["refund"]["consumer_refund_due"] == 0
        r = await refund(client, tenant_a, order["id"], {"items": [{"ref": "SKU-1", "quantity": 1}]})
        assert r.status_code == 201 and r.json()["refund"]["amount"] == 3_000, r.text
        assert r.json()["order"]["refunded_amount"] == 3_800
        assert {i["ref"]: i["refunded_quantity"] for i in r.json()["order"]["items"]} == {"SKU-1": 1, "SHIP": 0}
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == b["merchant_payable"] == 3_000
        before = await snapshot(client, db, tenant_a, order["id"])
        beyond = await refund(client, tenant_a, order["id"], {"amount": 3_001})
        assert beyond.status_code == 422 and beyond.json()["code"] == "amount_exceeds_refundable", beyond.text
        assert [e["pointer"] for e in beyond.json()["errors"]] == ["#/amount"]
        too_many = await refund(client, tenant_a, order["id"], {"items": [{"ref": "SKU-1", "quantity": 2}]})
        assert too_many.status_code == 422 and too_many.json()["code"] == "quantity_exceeds_remaining"
        assert await snapshot(client, db, tenant_a, order["id"]) == before
        rest = await refund(client, tenant_a, order["id"])  # no amount: all that is left
        assert rest.json()["refund"]["amount"] == 3_000 and rest.json()["order"]["refunded_amount"] == TOTAL
        listed = await get(client, tenant_a, f"/v1/orders/{order['id']}/refunds")
        assert [x["amount"] for x in listed.json()] == [800, 3_000, 3_000]
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == b["merchant_payable"] == 0
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [0]
        await ledger_ok(db, tenant_a.id)

    async def test_refund_of_a_partially_captured_order_is_limited_to_what_shipped(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"], 1, amount=2_000)
        beyond = await refund(client, tenant_a, order["id"], {"amount": 2_001})
        assert beyond.status_code == 422 and beyond.json()["code"] == "amount_exceeds_refundable"
        r = await refund(client, tenant_a, order["id"], {"amount": 2_000})
        assert r.status_code == 201 and r.json()["order"]["status"] == "partially_captured", r.text
        # The rest can still ship.
        rest = await capture(client, tenant_a, order["id"], 2)
        assert rest.json()["capture"]["amount"] == 4_800 and rest.json()["order"]["status"] == "captured"
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == b["merchant_payable"] == 4_800
        await ledger_ok(db, tenant_a.id)

    async def test_a_refund_of_zero_or_less_is_a_422(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"])
        for amount in (0, -5):
            r = await refund(client, tenant_a, order["id"], {"amount": amount})
            assert r.status_code == 422 and [e["pointer"] for e in r.json()["errors"]] == ["#/amount"], r.text
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}/refunds")).json() == []
        await ledger_ok(db, tenant_a.id)


class TestIdempotency:
    async def test_order_replay_returns_the_first_answer_and_screens_once(self, client, db, tenant_a):
        first = await create_order(client, tenant_a, order_body(1), key="ord-1")
        again = await create_order(client, tenant_a, order_body(1), key="ord-1")
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
        assert await count_rows(db, Order, tenant_a.id) == 1
        assert await count_rows(db, UsageEvent, tenant_a.id) == 1
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [TOTAL]

    async def test_same_key_with_another_body_is_422_and_writes_nothing(self, client, db, tenant_a):
        await create_order(client, tenant_a, order_body(1), key="ord-2")
        r = await create_order(client, tenant_a, order_body(2), key="ord-2")
        assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused", r.text
        assert await count_rows(db, Order, tenant_a.id) == 1

    async def test_capture_replay_captures_once(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        first = await capture(client, tenant_a, order["id"], 1, amount=1_000, key="cap-1")
        after_first = await balances(client, tenant_a)
        again = await capture(client, tenant_a, order["id"], 1, amount=1_000, key="cap-1")
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert await count_rows(db, Capture, tenant_a.id) == 1
        assert await balances(client, tenant_a) == after_first
        assert len(await invoices(client, tenant_a, order["id"])) == 1
        other = await capture(client, tenant_a, order["id"], 1, amount=2_000, key="cap-1")
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()["captured_amount"] == 1_000
        await ledger_ok(db, tenant_a.id)

    async def test_refund_replay_refunds_once(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"])
        first = await refund(client, tenant_a, order["id"], {"amount": 500}, key="rfd-1")
        after_first = await balances(client, tenant_a)
        again = await refund(client, tenant_a, order["id"], {"amount": 500}, key="rfd-1")
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert await count_rows(db, Refund, tenant_a.id) == 1
        assert await balances(client, tenant_a) == after_first
        other = await refund(client, tenant_a, order["id"], {"amount": 600}, key="rfd-1")
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
        assert await count_rows(db, Refund, tenant_a.id) == 1
        await ledger_ok(db, tenant_a.id)

    async def test_cancel_replay_answers_200_again_not_409(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        first = await post(client, tenant_a, f"/v1/orders/{order['id']}/cancel", key="cnl-1")
        again = await post(client, tenant_a, f"/v1/orders/{order['id']}/cancel", key="cnl-1")
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        fresh = await post(client, tenant_a, f"/v1/orders/{order['id']}/cancel", key="cnl-2")
        assert fresh.status_code == 409 and fresh.json()["code"] == "cancel_not_allowed"

    async def test_an_illegal_transition_is_replayed_as_the_same_409(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        first = await post(client, tenant_a, f"/v1/orders/{order['id']}/release", key="rel-1")
        again = await post(client, tenant_a, f"/v1/orders/{order['id']}/release", key="rel-1")
        assert first.status_code == again.status_code == 409
        assert again.json()["code"] == "release_not_allowed" and again.headers["idempotent-replayed"] == "true"

    async def test_patch_replay_changes_once(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        items = [{"ref": "SKU-1", "name": "緑茶ギフト", "unit_price": 3000, "quantity": 2, "tax_rate": 8}]
        h = bearer(tenant_a.merchant_key) | {"Idempotency-Key": "chg-1"}
        first = await client.patch(f"/v1/orders/{order['id']}", headers=h, json={"amount": 6_000, "items": items})
        again = await client.patch(f"/v1/orders/{order['id']}", headers=h, json={"amount": 6_000, "items": items})
        assert first.status_code == again.status_code == 200, first.text
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [6_000]


class TestChange:
    @staticmethod
    def items(sku_qty: int, *, price: int = 3000, ship: bool = True) -> tuple[int, list[dict]]:
        items = [{"ref": "SKU-1", "name": "緑茶ギフト", "unit_price": price, "quantity": sku_qty, "tax_rate": 8}]
        if ship:
            items.append({"ref": "SHIP", "name": "送料", "unit_price": 800, "quantity": 1, "tax_rate": 10})
        return sum(i["unit_price"] * i["quantity"] for i in items), items

    async def patch(self, client, tenant, order_id: str, body: dict):
        return await client.patch(f"/v1/orders/{order_id}", headers=bearer(tenant.merchant_key), json=body)

    async def test_a_decrease_applies_without_a_new_screening(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        before = await admin_order(client, tenant_a, order["id"])
        amount, items = self.items(1)
        r = await self.patch(client, tenant_a, order["id"], {"amount": amount, "items": items})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "authorized" and r.json()["amount"] == 3_800
        after = await admin_order(client, tenant_a, order["id"])
        assert after["screening_id"] == before["screening_id"]
        assert after["exposure"] == 3_800
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [3_800]
        assert await count_rows(db, UsageEvent, tenant_a.id) == 1
        await ledger_ok(db, tenant_a.id)

    async def test_an_increase_is_rescreened(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        before = await admin_order(client, tenant_a, order["id"])
        amount, items = self.items(4)
        r = await self.patch(client, tenant_a, order["id"], {"amount": amount, "items": items})
        assert r.status_code == 200 and r.json()["status"] == "authorized", r.text
        after = await admin_order(client, tenant_a, order["id"])
        assert after["screening_id"] != before["screening_id"]
        assert after["exposure"] == amount == 12_800
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [12_800]
        assert await count_rows(db, UsageEvent, tenant_a.id) == 2
        await ledger_ok(db, tenant_a.id)

    async def test_an_address_change_is_rescreened(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        before = await admin_order(client, tenant_a, order["id"])
        r = await self.patch(
            client, tenant_a, order["id"], {"shipping": {"name": "山田 花子", "address": "大阪府大阪市北区梅田1-1-1"}}
        )
        assert r.status_code == 200, r.text
        assert r.json()["shipping"]["address"] == "大阪府大阪市北区梅田1-1-1"
        after = await admin_order(client, tenant_a, order["id"])
        assert after["screening_id"] != before["screening_id"] and after["amount"] == TOTAL
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [TOTAL]

    async def test_an_increase_beyond_the_limit_declines_and_frees_the_exposure(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        amount, items = self.items(20)  # 60,800: above order_max
        r = await self.patch(client, tenant_a, order["id"], {"amount": amount, "items": items})
        assert r.status_code == 200 and r.json()["status"] == "declined", r.text
        assert r.json()["decline_reason"] == "credit"
        assert (await admin_order(client, tenant_a, order["id"]))["decline_detail"] == "order_max"
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [0]

    async def test_a_first_order_cannot_be_raised_past_the_first_order_maximum(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)  # the buyer's first order: at most 30,000
        amount, items = self.items(11)  # 33,800
        r = await self.patch(client, tenant_a, order["id"], {"amount": amount, "items": items})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "declined", r.json()
        assert (await admin_order(client, tenant_a, order["id"]))["decline_detail"] == "first_order_max"
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [0]

    async def test_a_returning_buyers_order_may_be_raised_past_the_first_order_maximum(self, client, db, tenant_a):
        with freeze_time("2026-01-01 03:00:00", real_asyncio=True):
            await authorized(client, tenant_a, 1)
        with freeze_time("2026-01-04 03:00:00", real_asyncio=True):
            second = await authorized(client, tenant_a, 1, merchant_order_id="ORDER-1b")
            amount, items = self.items(11)  # 33,800: 6,800 + 33,800 stays within 55,000
            r = await self.patch(client, tenant_a, second["id"], {"amount": amount, "items": items})
        assert r.status_code == 200 and r.json()["status"] == "authorized", r.text
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [TOTAL + amount]

    async def test_amount_without_items_is_422_and_changes_nothing(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        before = await snapshot(client, db, tenant_a, order["id"])
        r = await self.patch(client, tenant_a, order["id"], {"amount": 3_800})
        assert r.status_code == 422, r.text
        assert "#/items" in [e["pointer"] for e in r.json()["errors"]]
        _, items = self.items(1)
        r = await self.patch(client, tenant_a, order["id"], {"items": items})
        assert r.status_code == 422 and "#/amount" in [e["pointer"] for e in r.json()["errors"]]
        r = await self.patch(client, tenant_a, order["id"], {"amount": 3_801, "items": items})
        assert r.status_code == 422 and r.json()["code"] == "amount_mismatch"
        r = await self.patch(client, tenant_a, order["id"], {})
        assert r.status_code == 422
        assert await snapshot(client, db, tenant_a, order["id"]) == before

    async def test_an_in_review_order_changed_is_rescreened_and_its_old_review_withdrawn(self, client, db, tenant_a):
        order = await order_in(client, db, tenant_a, "in_review")
        old_screening = (await admin_order(client, tenant_a, order["id"]))["screening_id"]
        r = await self.patch(
            client,
            tenant_a,
            order["id"],
            {"buyer": {**order["buyer"], "email": "taro-new@example.jp"}},
        )
        assert r.status_code == 200, r.text
        s = await get(client, tenant_a, f"/admin/v1/screenings/{old_screening}", admin=True)
        assert s.json()["status"] == "withdrawn"
        assert (await admin_order(client, tenant_a, order["id"]))["screening_id"] != old_screening
        await ledger_ok(db, tenant_a.id)


class TestMerchantIsolation:
    async def test_another_merchant_of_the_same_tenant_sees_404(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        await capture(client, tenant_a, order["id"], 1, amount=1_000)
        _, other_key = await new_merchant(client, tenant_a, "Other shop")
        oid = order["id"]
        h = bearer(other_key)
        for method, path, body in [
            ("GET", f"/v1/orders/{oid}", None),
            ("GET", f"/v1/orders/{oid}/captures", None),
            ("GET", f"/v1/orders/{oid}/refunds", None),
            ("GET", f"/v1/orders/{oid}/invoices", None),
            ("GET", f"/v1/orders/{oid}/invoice-print-data", None),
            ("GET", f"/v1/orders/by-merchant-order-id/{order['merchant_order_id']}", None),
            ("PATCH", f"/v1/orders/{oid}", {"shipping": {"address": "大阪府大阪市北区梅田1-1-1"}}),
            ("POST", f"/v1/orders/{oid}/cancel", {}),
            ("POST", f"/v1/orders/{oid}/captures", capture_body(2, amount=100)),
            ("POST", f"/v1/orders/{oid}/release", {}),
            ("POST", f"/v1/orders/{oid}/refunds", {"amount": 100}),
        ]:
            r = await client.request(method, path, headers=h, json=body)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["code"] in ("order_not_found", "not_found"), r.json()
        listed = await client.get("/v1/orders", headers=h)
        assert listed.json()["data"] == []
        mine = await get(client, tenant_a, f"/v1/orders/{oid}")
        assert mine.json()["captured_amount"] == 1_000 and mine.json()["status"] == "partially_captured"
        await ledger_ok(db, tenant_a.id)

    async def test_merchant_order_ids_are_per_merchant(self, client, db, tenant_a):
        mine = await authorized(client, tenant_a, 1)
        _, other_key = await new_merchant(client, tenant_a, "Other shop")
        body = order_body(2, merchant_order_id=mine["merchant_order_id"])
        r = await client.post("/v1/orders", headers=bearer(other_key), json=body)
        assert r.status_code == 201 and r.json()["status"] == "authorized", r.text

    async def test_idempotency_keys_are_per_merchant_key(self, client, db, tenant_a):
        _, other_key = await new_merchant(client, tenant_a, "Other shop")
        mine = await create_order(client, tenant_a, order_body(1), key="shared-key")
        theirs = await client.post(
            "/v1/orders", headers=bearer(other_key) | {"Idempotency-Key": "shared-key"}, json=order_body(1)
        )
        assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers, theirs.text
        assert theirs.json()["id"] != mine.json()["id"]
        assert await count_rows(db, Order, tenant_a.id) == 2

    async def test_another_tenant_sees_404_on_admin_and_merchant_routes(self, client, db, tenant_a, tenant_b):
        order = await authorized(client, tenant_a)
        assert (await get(client, tenant_b, f"/v1/orders/{order['id']}")).status_code == 404
        assert (await get(client, tenant_b, f"/admin/v1/orders/{order['id']}", admin=True)).status_code == 404
        r = await post(client, tenant_b, f"/admin/v1/orders/{order['id']}/approve", {"note": "x"}, admin=True)
        assert r.status_code == 404
        r = await post(client, tenant_b, f"/admin/v1/orders/{order['id']}/arrival", admin=True)
        assert r.status_code == 404
        listed = await get(client, tenant_b, "/admin/v1/orders", admin=True)
        assert listed.json()["data"] == []
