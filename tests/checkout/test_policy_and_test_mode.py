"""Credit: the cumulative per-consumer limit, the first-order and per-order maxima, 名寄せ (one person however
their address or email is written), the operator's versioned credit policy, and the sandbox (test mode)."""

from __future__ import annotations

from typing import Any

from freezegun import freeze_time

from billing.metering import UsageEvent
from domain.checkout.models import Consumer
from tests.checkout.helpers import (
    admin_order,
    authorized,
    balances,
    capture_body,
    consumers,
    count_rows,
    create_order,
    get,
    ledger_ok,
    new_merchant,
    order_body,
    post,
)
from tests.fixtures.factories import bearer

HANAKO = {
    "name": "佐藤 花子",
    "name_kana": "サトウ ハナコ",
    "email": "hanako@example.jp",
    "phone": "080-2222-3333",
    "postal_code": "107-0052",
    "address": "東京都港区赤坂4丁目3番地2号",
}


def day(n: int):
    """Orders of one buyer a few days apart, so that no velocity rule of the screening fires."""
    return freeze_time(f"2026-01-{n:02d} 03:00:00", real_asyncio=True)


def buyer_order(ref: str, amount: int, **buyer: Any) -> dict[str, Any]:
    return order_body(0, amount=amount, merchant_order_id=ref, buyer={**HANAKO, **buyer})


async def place(client, tenant, body: dict, *, secret: str | None = None) -> dict:
    headers = bearer(secret or tenant.merchant_key)
    r = await client.post("/v1/orders", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def live_consumers(db, tenant) -> list:
    return [c for c in await consumers(db, tenant.id) if c.merged_into is None]


async def put_policy(client, tenant, policy: dict, note: str = ""):
    return await client.put(
        "/admin/v1/credit-policy", headers=bearer(tenant.admin_key), json={"policy": policy, "note": note}
    )


class TestConsumerLimit:
    async def test_orders_of_one_buyer_accumulate_and_the_one_crossing_55000_is_declined(self, client, db, tenant_a):
        with day(1):
            first = await place(client, tenant_a, buyer_order("A-1", 30_000))
        with day(4):
            second = await place(client, tenant_a, buyer_order("A-2", 25_000))
        with day(7):
            third = await place(client, tenant_a, buyer_order("A-3", 1))
        assert (first["status"], second["status"]) == ("authorized", "authorized")
        assert third["status"] == "declined" and third["decline_reason"] == "credit"
        assert "decline_detail" not in third  # the merchant gets the coarse reason only
        admin = await admin_order(client, tenant_a, third["id"])
        assert admin["decline_detail"] == "consumer_limit" and admin["exposure"] == 0
        [consumer] = await live_consumers(db, tenant_a)
        assert consumer.outstanding == 55_000
        await ledger_ok(db, tenant_a.id)

    async def test_a_cancel_frees_the_exposure_for_the_next_order(self, client, db, tenant_a):
        with day(1):
            await place(client, tenant_a, buyer_order("A-1", 30_000))
        with day(4):
            second = await place(client, tenant_a, buyer_order("A-2", 25_000))
        with day(7):
            assert (await place(client, tenant_a, buyer_order("A-3", 5_000)))["status"] == "declined"
            await post(client, tenant_a, f"/v1/orders/{second['id']}/cancel")
            assert (await place(client, tenant_a, buyer_order("A-4", 5_000)))["status"] == "authorized"
        [consumer] = await live_consumers(db, tenant_a)
        assert consumer.outstanding == 35_000

    async def test_a_full_refund_frees_the_exposure_for_the_next_order(self, client, db, tenant_a):
        with day(1):
            first = await place(client, tenant_a, buyer_order("A-1", 30_000))
        with day(4):
            await place(client, tenant_a, buyer_order("A-2", 25_000))
        with day(5):
            r = await post(client, tenant_a, f"/v1/orders/{first['id']}/captures", capture_body(1))
            assert r.status_code == 201, r.text
        with day(7):
            assert (await place(client, tenant_a, buyer_order("A-3", 10_000)))["status"] == "declined"
            r = await post(client, tenant_a, f"/v1/orders/{first['id']}/refunds", {})
            assert r.status_code == 201, r.text
            assert (await place(client, tenant_a, buyer_order("A-4", 10_000)))["status"] == "authorized"
        [consumer] = await live_consumers(db, tenant_a)
        assert consumer.outstanding == 35_000
        b = await balances(client, tenant_a)
        assert b["consumer_receivable"] == b["merchant_payable"] == 0
        await ledger_ok(db, tenant_a.id)

    async def test_a_first_time_buyer_may_order_at_most_30000(self, client, db, tenant_a):
        with day(1):
            over = await place(client, tenant_a, buyer_order("A-1", 30_001))
        assert over["status"] == "declined" and over["decline_reason"] == "credit"
        assert (await admin_order(client, tenant_a, over["id"]))["decline_detail"] == "first_order_max"
        with day(2):
            assert (await place(client, tenant_a, buyer_order("A-2", 10_000)))["status"] == "authorized"
        with day(5):  # a returning buyer: up to the cumulative limit
            assert (await place(client, tenant_a, buyer_order("A-3", 40_000)))["status"] == "authorized"

    async def test_no_single_order_above_order_max(self, client, db, tenant_a):
        r = await place(client, tenant_a, buyer_order("A-1", 55_001))
        assert r["status"] == "declined" and r["decline_reason"] == "credit"
        assert (await admin_order(client, tenant_a, r["id"]))["decline_detail"] == "order_max"

    async def test_the_limit_spans_the_tenants_merchants_but_not_tenants(self, client, db, tenant_a, tenant_b):
        _, other_key = await new_merchant(client, tenant_a, "Sister shop")
        with day(1):
            await place(client, tenant_a, buyer_order("A-1", 30_000))
        with day(4):
            await place(client, tenant_a, buyer_order("B-1", 25_000), secret=other_key)
        with day(7):
            assert (await place(client, tenant_a, buyer_order("A-2", 100)))["status"] == "declined"
            assert (await place(client, tenant_b, buyer_order("X-1", 30_000)))["status"] == "authorized"

    async def test_a_consumer_with_an_overdue_invoice_is_declined_unless_the_policy_says_otherwise(
        self, client, db, tenant_a
    ):
        with day(1):
            await place(client, tenant_a, buyer_order("A-1", 5_000))
        [consumer] = await live_consumers(db, tenant_a)
        async with db.transaction() as s:  # collections (a later issue) keeps overdue_count
            (await s.get(Consumer, (tenant_a.id, consumer.id))).overdue_count = 1
        with day(4):
            r = await place(client, tenant_a, buyer_order("A-2", 1_000))
        assert r["status"] == "declined" and r["decline_reason"] == "credit"
        assert (await admin_order(client, tenant_a, r["id"]))["decline_detail"] == "overdue"
        assert (await put_policy(client, tenant_a, {"decline_if_overdue": False})).status_code == 200
        with day(5):
            assert (await place(client, tenant_a, buyer_order("A-3", 1_000)))["status"] == "authorized"


class TestNameMatching:
    async def test_the_same_address_written_differently_is_one_consumer(self, client, db, tenant_a):
        with day(1):
            first = await place(client, tenant_a, buyer_order("A-1", 30_000))
        other_contact = {"email": "h.sato@example.net", "phone": "070-4444-5555", "address": "東京都港区赤坂4-3-2"}
        with day(4):
            second = await place(client, tenant_a, buyer_order("A-2", 25_001, **other_contact))
        assert second["status"] == "declined", second
        assert (await admin_order(client, tenant_a, second["id"]))["decline_detail"] == "consumer_limit"
        with day(5):
            third = await place(client, tenant_a, buyer_order("A-3", 25_000, **other_contact))
        assert third["status"] == "authorized"
        ids = {(await admin_order(client, tenant_a, o["id"]))["consumer_id"] for o in (first, third)}
        assert len(ids) == 1
        assert [c.outstanding for c in await live_consumers(db, tenant_a)] == [55_000]

    async def test_another_email_with_the_same_phone_is_one_consumer(self, client, db, tenant_a):
        with day(1):
            await place(client, tenant_a, buyer_order("A-1", 30_000))
        moved = {"email": "hanako.new@example.com", "address": "大阪府大阪市北区梅田1-1-1", "postal_code": "530-0001"}
        with day(4):
            r = await place(client, tenant_a, buyer_order("A-2", 25_001, **moved))
        assert r["status"] == "declined"
        assert (await admin_order(client, tenant_a, r["id"]))["decline_detail"] == "consumer_limit"
        assert len(await live_consumers(db, tenant_a)) == 1

    async def test_an_order_linking_two_consumers_merges_them(self, client, db, tenant_a):
        with day(1):
            a = await place(client, tenant_a, buyer_order("A-1", 20_000))
        other = {
            "name": "鈴木 一郎",
            "name_kana": "スズキ イチロウ",
            "email": "ichiro@example.jp",
            "phone": "090-7777-8888",
            "address": "東京都新宿区西新宿2-8-1",
            "postal_code": "163-8001",
        }
        with day(3):
            b = await place(client, tenant_a, buyer_order("B-1", 20_000, **other))
        ca = (await admin_order(client, tenant_a, a["id"]))["consumer_id"]
        cb = (await admin_order(client, tenant_a, b["id"]))["consumer_id"]
        assert ca != cb
        # Hanako's phone with Ichiro's email: one person after all.
        link = {"email": "ichiro@example.jp", "address": "東京都渋谷区道玄坂1-2-3", "postal_code": "150-0043"}
        with day(6):
            c = await place(client, tenant_a, buyer_order("C-1", 15_001, **link))
        assert c["status"] == "declined"  # 20,000 + 20,000 + 15,001 > 55,000
        assert (await admin_order(client, tenant_a, c["id"]))["decline_detail"] == "consumer_limit"
        [survivor] = await live_consumers(db, tenant_a)
        assert survivor.id == min(ca, cb) and survivor.outstanding == 40_000
        # Releasing an order made under the merged-away consumer lands on the survivor.
        young = b if cb != survivor.id else a
        await post(client, tenant_a, f"/v1/orders/{young['id']}/cancel")
        [survivor] = await live_consumers(db, tenant_a)
        assert survivor.outstanding == 20_000
        assert all(c.outstanding == 0 for c in await consumers(db, tenant_a.id) if c.merged_into is not None)


class TestCreditPolicyApi:
    async def test_the_default_is_version_0(self, client, tenant_a):
        r = await get(client, tenant_a, "/admin/v1/credit-policy", admin=True)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["version"] == 0
        assert {k: body["policy"][k] for k in ("consumer_limit", "order_max", "first_order_max")} == {
            "consumer_limit": 55_000,
            "order_max": 55_000,
            "first_order_max": 30_000,
        }
        assert body["policy"]["authorization_days"] == 60 and body["policy"]["arrival_days"] == 30
        assert body["policy"]["invoice_due_days"] == 14
        assert (await get(client, tenant_a, "/admin/v1/credit-policy/versions", admin=True)).json() == []

    async def test_each_put_is_a_new_version(self, client, tenant_a, tenant_b):
        r1 = await put_policy(client, tenant_a, {"first_order_max": 20_000}, "cautious")
        assert r1.status_code == 200 and r1.json()["version"] == 1, r1.text
        assert r1.json()["policy"]["first_order_max"] == 20_000 and r1.json()["policy"]["consumer_limit"] == 55_000
        r2 = await put_policy(client, tenant_a, {"first_order_max": 25_000})
        assert r2.json()["version"] == 2
        current = (await get(client, tenant_a, "/admin/v1/credit-policy", admin=True)).json()
        assert current["version"] == 2 and current["policy"]["first_order_max"] == 25_000
        versions = (await get(client, tenant_a, "/admin/v1/credit-policy/versions", admin=True)).json()
        assert [(v["version"], v["note"]) for v in versions] == [(2, ""), (1, "cautious")]
        assert (await get(client, tenant_b, "/admin/v1/credit-policy", admin=True)).json()["version"] == 0

    async def test_an_invalid_policy_names_the_field_and_keeps_the_old_one(self, client, tenant_a):
        for policy, field in [
            ({"consumer_limit": 0}, "consumer_limit"),
            ({"consumer_limit": "55000"}, "consumer_limit"),
            ({"authorization_days": 0}, "authorization_days"),
            ({"invoice_due_days": 400}, "invoice_due_days"),
            ({"issuer_code": "12"}, "issuer_code"),
            ({"max_everything": 1}, "max_everything"),
        ]:
            r = await put_policy(client, tenant_a, policy)
            assert r.status_code == 422, (policy, r.text)
            assert r.json()["code"] == "invalid_credit_policy", r.json()
            assert any(e["pointer"].endswith(f"/{field}") for e in r.json()["errors"]), (policy, r.json())
        r = await put_policy(client, tenant_a, {"first_order_max": 60_000})  # above order_max
        assert r.status_code == 422 and "first_order_max" in r.text
        assert (await get(client, tenant_a, "/admin/v1/credit-policy", admin=True)).json()["version"] == 0

    async def test_only_the_operator_admin_may_change_it(self, client, tenant_a):
        for secret in (tenant_a.merchant_key, tenant_a.finance_key):
            r = await client.put("/admin/v1/credit-policy", headers=bearer(secret), json={"policy": {}})
            assert r.status_code == 403, r.text

    async def test_new_orders_use_the_new_limit_and_record_its_version(self, client, db, tenant_a):
        with day(1):
            before = await place(client, tenant_a, buyer_order("A-1", 10_000))
        r = await put_policy(
            client, tenant_a, {"consumer_limit": 20_000, "order_max": 20_000, "first_order_max": 20_000}
        )
        assert r.status_code == 200, r.text
        with day(4):
            over = await place(client, tenant_a, buyer_order("A-2", 10_001))
            under = await place(client, tenant_a, buyer_order("A-3", 10_000))
        assert over["status"] == "declined" and under["status"] == "authorized"
        assert (await admin_order(client, tenant_a, before["id"]))["credit_policy_version"] == 0
        over_admin = await admin_order(client, tenant_a, over["id"])
        assert over_admin["credit_policy_version"] == 1 and over_admin["decline_detail"] == "consumer_limit"
        assert (await admin_order(client, tenant_a, under["id"]))["credit_policy_version"] == 1
        other = await place(client, tenant_a, order_body(9, amount=20_001))
        assert (await admin_order(client, tenant_a, other["id"]))["decline_detail"] == "order_max"


class TestTestMode:
    async def sandbox(self, client, tenant) -> str:
        merchant_id, secret = await new_merchant(client, tenant, "Sandbox shop", test_mode=True)
        r = await get(client, tenant, f"/admin/v1/merchants/{merchant_id}", admin=True)
        assert r.json()["test_mode"] is True
        return secret

    async def order(self, client, tenant, secret: str, n: int, email: str) -> dict:
        return await place(client, tenant, order_body(n, buyer={"email": email}), secret=secret)

    async def test_documented_emails_force_each_outcome(self, client, db, tenant_a):
        secret = await self.sandbox(client, tenant_a)
        ok = await self.order(client, tenant_a, secret, 1, "anyone@example.jp")
        review = await self.order(client, tenant_a, secret, 2, "review@example.jp")
        tagged = await self.order(client, tenant_a, secret, 3, "Review+case7@example.jp")
        ng = await self.order(client, tenant_a, secret, 4, "ng@example.jp")
        credit_ng = await self.order(client, tenant_a, secret, 5, "credit-ng@example.jp")
        assert ok["status"] == "authorized" and ok["test_mode"] is True
        assert review["status"] == tagged["status"] == "in_review"
        assert review["review_deadline"] is not None
        assert (ng["status"], ng["decline_reason"]) == ("declined", "screening")
        assert (credit_ng["status"], credit_ng["decline_reason"]) == ("declined", "credit")
        assert (await admin_order(client, tenant_a, credit_ng["id"]))["decline_detail"] == "test_mode"

    async def test_sandbox_screenings_bill_nothing(self, client, db, tenant_a):
        secret = await self.sandbox(client, tenant_a)
        for n, email in enumerate(["a@example.jp", "review@example.jp", "ng@example.jp", "credit-ng@example.jp"]):
            await self.order(client, tenant_a, secret, n, email)
        assert await count_rows(db, UsageEvent, tenant_a.id) == 0
        await authorized(client, tenant_a, 9)  # the live merchant of the same tenant is billed
        assert await count_rows(db, UsageEvent, tenant_a.id) == 1

    async def test_a_forced_review_resolves_like_a_real_one(self, client, db, tenant_a):
        secret = await self.sandbox(client, tenant_a)
        approved = await self.order(client, tenant_a, secret, 1, "review@example.jp")
        rejected = await self.order(client, tenant_a, secret, 2, "review@example.jp")
        r = await post(client, tenant_a, f"/admin/v1/orders/{approved['id']}/approve", {"note": "t"}, admin=True)
        assert r.status_code == 200 and r.json()["status"] == "authorized", r.text
        r = await post(client, tenant_a, f"/admin/v1/orders/{rejected['id']}/reject", {"note": "t"}, admin=True)
        assert r.status_code == 200 and r.json()["status"] == "declined", r.text
        ship = await client.post(f"/v1/orders/{approved['id']}/captures", headers=bearer(secret), json=capture_body(1))
        assert ship.status_code == 201, ship.text
        await ledger_ok(db, tenant_a.id)

    async def test_a_change_is_rescreened_with_the_sandbox_rules(self, client, db, tenant_a):
        secret = await self.sandbox(client, tenant_a)
        order = await self.order(client, tenant_a, secret, 1, "anyone@example.jp")
        r = await client.patch(
            f"/v1/orders/{order['id']}",
            headers=bearer(secret),
            json={"buyer": {**order["buyer"], "email": "review@example.jp"}},
        )
        assert r.status_code == 200 and r.json()["status"] == "in_review", r.text
        r = await client.patch(
            f"/v1/orders/{order['id']}",
            headers=bearer(secret),
            json={"buyer": {**order["buyer"], "email": "ng@example.jp"}},
        )
        assert r.status_code == 200 and r.json()["status"] == "declined", r.text
        assert [c.outstanding for c in await consumers(db, tenant_a.id)] == [0]
        assert await count_rows(db, UsageEvent, tenant_a.id) == 0

    async def test_a_live_merchant_ignores_the_sandbox_emails(self, client, db, tenant_a):
        r = await create_order(client, tenant_a, order_body(1, buyer={"email": "ng@example.jp"}))
        assert r.json()["status"] == "authorized" and r.json()["test_mode"] is False
