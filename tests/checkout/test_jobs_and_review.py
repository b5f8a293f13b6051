"""Time-driven jobs under a frozen clock (authorization expiry, review expiry, the payment guarantee's lapse) and
the resolution of orders in review, from the order queue and from the screening queue."""

from __future__ import annotations

from freezegun import freeze_time

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

TOTAL = 6_800
T0 = "2026-01-10 03:00:00"  # 12:00 JST


def review_body(n: int = 0, **kw) -> dict:
    """REVIEW from the real engine: disposable email (35) + English browser (15) + New York timezone (20)."""
    return order_body(
        n,
        buyer={"email": f"buyer{n}@mailinator.com"},
        device={"ip": "133.242.0.10", "accept_language": "en-US", "timezone": "America/New_York"},
        **kw,
    )


async def in_review(client, tenant, n: int = 0, **kw) -> dict:
    r = await create_order(client, tenant, review_body(n, **kw))
    assert r.status_code == 201 and r.json()["status"] == "in_review", r.text
    assert r.json()["review_deadline"] is not None
    return r.json()


async def outstanding(db, tenant) -> list[int]:
    return [c.outstanding for c in await consumers(db, tenant.id)]


async def screening_of(client, tenant, order_id: str) -> dict:
    sid = (await admin_order(client, tenant, order_id))["screening_id"]
    r = await get(client, tenant, f"/admin/v1/screenings/{sid}", admin=True)
    assert r.status_code == 200, r.text
    return r.json()


class TestAuthorizationExpiry:
    async def test_an_uncaptured_authorization_expires_after_60_days(self, client, db, tenant_a):
        with freeze_time(T0, real_asyncio=True):
            order = await authorized(client, tenant_a, invoice_delivery="enclosed")
        assert order["expires_at"].startswith("2026-03-11T03:00:00")
        with freeze_time("2026-03-11 02:59:59", real_asyncio=True):
            assert await run_job(db, "checkout.expire_authorizations") == "done"
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()["status"] == "authorized"
        with freeze_time("2026-03-11 03:00:01", real_asyncio=True):
            assert await run_job(db, "checkout.expire_authorizations") == "done"
        after = await admin_order(client, tenant_a, order["id"])
        assert after["status"] == "expired" and after["released_amount"] == TOTAL and after["exposure"] == 0
        assert await outstanding(db, tenant_a) == [0]
        assert [i["status"] for i in await invoices(client, tenant_a, order["id"])] == ["voided"]
        assert await count_rows(db, JournalEntry, tenant_a.id) == 0
        # The merchant order id is free again.
        again = await create_order(client, tenant_a, order_body(0))
        assert again.status_code == 201 and again.json()["status"] == "authorized", again.text
        await ledger_ok(db, tenant_a.id)

    async def test_a_partially_captured_order_keeps_what_shipped_and_releases_the_rest(self, client, db, tenant_a):
        with freeze_time(T0, real_asyncio=True):
            order = await authorized(client, tenant_a)
        with freeze_time("2026-01-20 03:00:00", real_asyncio=True):
            r = await post(client, tenant_a, f"/v1/orders/{order['id']}/captures", capture_body(1, amount=2_000))
            assert r.status_code == 201, r.text
            await post(client, tenant_a, f"/admin/v1/orders/{order['id']}/arrival", admin=True)
        with freeze_time("2026-03-12 00:00:00", real_asyncio=True):
            assert await run_job(db, "checkout.expire_authorizations") == "done"
        after = await admin_order(client, tenant_a, order["id"])
        assert after["status"] == "captured"
        assert (after["captured_amount"], after["released_amount"], after["exposure"]) == (2_000, 4_800, 2_000)
        assert await outstanding(db, tenant_a) == [2_000]
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == b["merchant_payable"] == 2_000
        # Captured now: nothing more can ship.
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/captures", capture_body(2, amount=100))
        assert r.status_code == 409 and r.json()["code"] == "capture_not_allowed"
        await ledger_ok(db, tenant_a.id)

    async def test_running_the_job_twice_changes_nothing_more(self, client, db, tenant_a):
        with freeze_time(T0, real_asyncio=True):
            order = await authorized(client, tenant_a)
        with freeze_time("2026-04-01 00:00:00", real_asyncio=True):
            await run_job(db, "checkout.expire_authorizations")
            first = await admin_order(client, tenant_a, order["id"])
            await run_job(db, "checkout.expire_authorizations")
        assert await admin_order(client, tenant_a, order["id"]) == first
        assert await outstanding(db, tenant_a) == [0]

    async def test_the_policys_authorization_days_apply(self, client, db, tenant_a):
        r = await client.put(
            "/admin/v1/credit-policy", headers=bearer(tenant_a.admin_key), json={"policy": {"authorization_days": 7}}
        )
        assert r.status_code == 200, r.text
        with freeze_time(T0, real_asyncio=True):
            order = await authorized(client, tenant_a)
        assert order["expires_at"].startswith("2026-01-17T03:00:00")
        with freeze_time("2026-01-17 03:00:01", real_asyncio=True):
            await run_job(db, "checkout.expire_authorizations")
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()["status"] == "expired"


class TestGuarantee:
    async def captured_at_t0(self, client, tenant) -> dict:
        with freeze_time(T0, real_asyncio=True):
            order = await authorized(client, tenant)
            r = await post(client, tenant, f"/v1/orders/{order['id']}/captures", capture_body(1))
            assert r.status_code == 201 and r.json()["order"]["guarantee"] == "pending", r.text
        return r.json()["order"]

    async def test_no_arrival_in_30_days_claws_the_advance_back(self, client, db, tenant_a):
        order = await self.captured_at_t0(client, tenant_a)
        with freeze_time("2026-02-09 02:59:59", real_asyncio=True):
            assert await run_job(db, "checkout.lapse_guarantees") == "done"
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()["guarantee"] == "pending"
        with freeze_time("2026-02-09 03:00:01", real_asyncio=True):
            assert await run_job(db, "checkout.lapse_guarantees") == "done"
            assert await run_job(db, "checkout.lapse_guarantees") == "done"  # a second run claws nothing more
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()["guarantee"] == "unguaranteed"
        b = await balances(client, tenant_a)
        assert b["merchant_payable"] == 0 and b["unguaranteed_payable"] == TOTAL
        assert b["consumer_receivable"] == TOTAL
        late = await post(client, tenant_a, f"/admin/v1/orders/{order['id']}/arrival", admin=True)
        assert late.status_code == 409 and late.json()["code"] == "guarantee_lapsed", late.text
        await ledger_ok(db, tenant_a.id)

    async def test_a_refund_after_the_lapse_comes_off_the_unguaranteed_payable(self, client, db, tenant_a):
        order = await self.captured_at_t0(client, tenant_a)
        with freeze_time("2026-03-01 00:00:00", real_asyncio=True):
            await run_job(db, "checkout.lapse_guarantees")
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/refunds", {"amount": 800})
        assert r.status_code == 201, r.text
        b = await balances(client, tenant_a)
        assert b["merchant_payable"] == 0 and b["unguaranteed_payable"] == 6_000
        assert b["consumer_receivable"] == 6_000
        await ledger_ok(db, tenant_a.id)

    async def test_arrival_in_time_keeps_the_guarantee(self, client, db, tenant_a):
        order = await self.captured_at_t0(client, tenant_a)
        with freeze_time("2026-01-15 00:00:00", real_asyncio=True):
            r = await post(client, tenant_a, f"/admin/v1/orders/{order['id']}/arrival", admin=True)
        assert r.status_code == 200 and r.json()["guarantee"] == "guaranteed", r.text
        assert r.json()["arrival_confirmed_at"].startswith("2026-01-15")
        again = await post(client, tenant_a, f"/admin/v1/orders/{order['id']}/arrival", admin=True)
        assert again.status_code == 200 and again.json() == r.json()
        with freeze_time("2026-03-01 00:00:00", real_asyncio=True):
            await run_job(db, "checkout.lapse_guarantees")
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()["guarantee"] == "guaranteed"
        b = await balances(client, tenant_a)
        assert b["merchant_payable"] == TOTAL and b["unguaranteed_payable"] == 0
        await ledger_ok(db, tenant_a.id)

    async def test_the_deadline_runs_from_the_first_shipment(self, client, db, tenant_a):
        with freeze_time(T0, real_asyncio=True):
            order = await authorized(client, tenant_a)
            await post(client, tenant_a, f"/v1/orders/{order['id']}/captures", capture_body(1, amount=1_000))
        with freeze_time("2026-02-01 00:00:00", real_asyncio=True):
            await post(client, tenant_a, f"/v1/orders/{order['id']}/captures", capture_body(2))
        with freeze_time("2026-02-09 03:00:01", real_asyncio=True):
            await run_job(db, "checkout.lapse_guarantees")
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()["guarantee"] == "unguaranteed"
        assert (await balances(client, tenant_a))["unguaranteed_payable"] == TOTAL
        await ledger_ok(db, tenant_a.id)

    async def test_an_order_that_never_shipped_does_not_lapse(self, client, db, tenant_a):
        with freeze_time(T0, real_asyncio=True):
            order = await authorized(client, tenant_a)
        with freeze_time("2026-03-01 00:00:00", real_asyncio=True):
            await run_job(db, "checkout.lapse_guarantees")
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()["guarantee"] == "none"
        assert await count_rows(db, JournalEntry, tenant_a.id) == 0


class TestReviewFromTheOrderQueue:
    async def test_the_queue_lists_orders_in_review_with_their_exposure_reserved(self, client, db, tenant_a):
        order = await in_review(client, tenant_a)
        queue = await get(client, tenant_a, "/admin/v1/orders?status=in_review", admin=True)
        assert [o["id"] for o in queue.json()["data"]] == [order["id"]]
        assert queue.json()["data"][0]["exposure"] == TOTAL
        assert await outstanding(db, tenant_a) == [TOTAL]

    async def test_approve_authorizes(self, client, db, tenant_a):
        order = await in_review(client, tenant_a)
        r = await post(client, tenant_a, f"/admin/v1/orders/{order['id']}/approve", {"note": "called"}, admin=True)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "authorized" and body["expires_at"] is not None and body["review_deadline"] is None
        assert body["exposure"] == TOTAL
        assert (await screening_of(client, tenant_a, order["id"]))["status"] == "approved"
        ship = await post(client, tenant_a, f"/v1/orders/{order['id']}/captures", capture_body(1))
        assert ship.status_code == 201, ship.text
        again = await post(client, tenant_a, f"/admin/v1/orders/{order['id']}/approve", {"note": "x"}, admin=True)
        assert again.status_code == 409 and again.json()["code"] == "review_not_allowed"
        await ledger_ok(db, tenant_a.id)

    async def test_reject_declines_and_frees_the_exposure(self, client, db, tenant_a):
        order = await in_review(client, tenant_a)
        r = await post(client, tenant_a, f"/admin/v1/orders/{order['id']}/reject", {"note": "fraud"}, admin=True)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "declined" and body["decline_reason"] == "review"
        assert body["decline_detail"] == "review_rejected" and body["exposure"] == 0
        assert (await screening_of(client, tenant_a, order["id"]))["status"] == "rejected"
        assert await outstanding(db, tenant_a) == [0]
        merchant_view = (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()
        assert merchant_view["decline_reason"] == "review" and "decline_detail" not in merchant_view
        await ledger_ok(db, tenant_a.id)


class TestReviewFromTheScreeningQueue:
    async def test_approving_the_screening_authorizes_its_order(self, client, db, tenant_a):
        order = await in_review(client, tenant_a)
        sid = (await admin_order(client, tenant_a, order["id"]))["screening_id"]
        r = await post(client, tenant_a, f"/admin/v1/screenings/{sid}/approve", {"note": "ok"}, admin=True)
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text
        after = await admin_order(client, tenant_a, order["id"])
        assert after["status"] == "authorized" and after["exposure"] == TOTAL and after["expires_at"] is not None

    async def test_rejecting_the_screening_declines_its_order(self, client, db, tenant_a):
        order = await in_review(client, tenant_a)
        sid = (await admin_order(client, tenant_a, order["id"]))["screening_id"]
        r = await post(client, tenant_a, f"/admin/v1/screenings/{sid}/reject", {"note": "fraud"}, admin=True)
        assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
        after = await admin_order(client, tenant_a, order["id"])
        assert (after["status"], after["decline_reason"], after["exposure"]) == ("declined", "review", 0)
        assert await outstanding(db, tenant_a) == [0]
        # The order route now refuses a second decision.
        again = await post(client, tenant_a, f"/admin/v1/orders/{order['id']}/approve", {"note": "x"}, admin=True)
        assert again.status_code == 409 and again.json()["code"] == "review_not_allowed"


class TestReviewExpiry:
    async def test_an_unresolved_review_declines_the_order_at_its_deadline(self, client, db, tenant_a):
        with freeze_time(T0, real_asyncio=True):
            order = await in_review(client, tenant_a)
        assert order["review_deadline"].startswith("2026-01-11T03:00:00")
        with freeze_time("2026-01-10 15:00:00", real_asyncio=True):
            assert await run_job(db, "fraud.expire_reviews") == "done"
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()["status"] == "in_review"
        with freeze_time("2026-01-11 03:00:01", real_asyncio=True):
            assert await run_job(db, "fraud.expire_reviews") == "done"
        after = await admin_order(client, tenant_a, order["id"])
        assert (after["status"], after["decline_reason"], after["decline_detail"]) == (
            "declined",
            "review",
            "review_expired",
        )
        assert after["exposure"] == 0 and await outstanding(db, tenant_a) == [0]
        assert (await screening_of(client, tenant_a, order["id"]))["status"] == "expired"
        late = await post(client, tenant_a, f"/admin/v1/orders/{order['id']}/approve", {"note": "late"}, admin=True)
        assert late.status_code == 409 and late.json()["code"] == "review_not_allowed"
        await ledger_ok(db, tenant_a.id)


class TestRealEngineDecline:
    async def test_a_blocked_email_is_declined_for_screening_with_no_exposure(self, client, db, tenant_a):
        r = await post(
            client,
            tenant_a,
            "/admin/v1/fraud/lists",
            {"list": "block", "kind": "email", "value": "Taro5@Example.jp"},
            admin=True,
        )
        assert r.status_code == 201, r.text
        order = await create_order(client, tenant_a, order_body(5))
        assert order.status_code == 201, order.text
        assert order.json()["status"] == "declined" and order.json()["decline_reason"] == "screening"
        admin = await admin_order(client, tenant_a, order.json()["id"])
        assert admin["decline_detail"] == "screening_ng" and admin["exposure"] == 0
        assert (await screening_of(client, tenant_a, order.json()["id"]))["verdict"] == "NG"
        assert await outstanding(db, tenant_a) == []  # no credit decision, no consumer
        # Another buyer is unaffected.
        assert (await create_order(client, tenant_a, order_body(6))).json()["status"] == "authorized"
        await ledger_ok(db, tenant_a.id)


class TestApprovalAfterExpiry:
    async def test_an_approval_past_the_old_expiry_gives_a_capturable_authorization(self, client, db, tenant_a):
        """Authorized, then changed into review (a sandbox buyer now writes from review@), and approved only
        after the original expiry: the approval must not hand back an authorization that is already dead."""
        _, key = await new_merchant(client, tenant_a, "Sandbox", test_mode=True)
        headers = bearer(key)
        with freeze_time("2026-01-01 03:00:00", real_asyncio=True):
            body = order_body(3, buyer={"email": "ok@example.jp"})
            order = (await client.post("/v1/orders", headers=headers, json=body)).json()
            assert order["status"] == "authorized", order
            buyer = {**order["buyer"], "email": "review@example.jp"}
            r = await client.patch(f"/v1/orders/{order['id']}", headers=headers, json={"buyer": buyer})
            assert r.json()["status"] == "in_review", r.text
        with freeze_time("2026-03-05 03:00:00", real_asyncio=True):  # 63 days on: the old expiry has passed
            r = await client.post(
                f"/admin/v1/orders/{order['id']}/approve", headers=bearer(tenant_a.admin_key), json={"note": "ok"}
            )
            assert r.status_code == 200 and r.json()["status"] == "authorized", r.text
            assert r.json()["expires_at"] > "2026-03-05"
            r = await client.post(f"/v1/orders/{order['id']}/captures", headers=headers, json=capture_body(1))
            assert r.status_code == 201, r.text
