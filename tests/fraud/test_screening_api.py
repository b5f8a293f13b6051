"""The screening API end to end on the database: verdicts, usage, review queue, outcomes, lists, policy,
external data, and the shared negative database's privacy."""

from __future__ import annotations

import datetime as dt

from freezegun import freeze_time
from sqlalchemy import func, select

from app.worker.actors.fraud import expire_reviews
from app.worker.registry import execute
from billing.metering import UsageEvent
from fraud.models import NegativeEntry, NegativeReport, Screening
from tests.fixtures.factories import bearer


def order(n: int = 0, **overrides) -> dict:
    body = {
        "order_id": f"ORDER-{n}",
        "amount": 5_800,
        "currency": "JPY",
        "buyer": {
            "name": "山田 太郎",
            "name_kana": "ヤマダ タロウ",
            "email": f"taro{n}@example.jp",
            "phone": "090-1234-5678",
            "postal_code": "107-0052",
            "address": "東京都港区赤坂4丁目3番地2号",
        },
        "device": {
            "ip": "133.242.0.10",
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
            "accept_language": "ja-JP,ja;q=0.9",
            "timezone": "Asia/Tokyo",
            "device_id": f"dev-{n}",
        },
    }
    for key, value in overrides.items():
        if key in ("buyer", "device") and isinstance(value, dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


async def screen(client, tenant, body, key: str | None = None):
    headers = bearer(tenant.merchant_key) | ({"Idempotency-Key": key} if key else {})
    return await client.post("/v1/screenings", headers=headers, json=body)


async def detail(client, tenant, screening_id):
    r = await client.get(f"/admin/v1/screenings/{screening_id}", headers=bearer(tenant.admin_key))
    assert r.status_code == 200, r.text
    return r.json()


async def usage_count(db, tenant_id) -> int:
    async with db.sessionmaker() as s:
        stmt = select(func.count()).select_from(UsageEvent).where(UsageEvent.tenant_id == tenant_id)
        return (await s.execute(stmt)).scalar_one()


class TestScreening:
    async def test_a_clean_order_is_ok_and_bills_one_screening(self, client, db, tenant_a):
        r = await screen(client, tenant_a, order())
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["verdict"] == "OK" and body["status"] == "decided" and body["order_id"] == "ORDER-0"
        assert body["reasons"] == []
        assert await usage_count(db, tenant_a.id) == 1
        full = await detail(client, tenant_a, body["id"])
        assert full["policy_version"] == 0, full  # the shipped default
        assert full["score"] == 0, full
        assert "history" in full["features"] and "signals" in full["features"]

    async def test_a_replay_returns_the_first_verdict_and_bills_nothing_more(self, client, db, tenant_a):
        first = await screen(client, tenant_a, order(), key="scr-1")
        again = await screen(client, tenant_a, order(), key="scr-1")
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert await usage_count(db, tenant_a.id) == 1

    async def test_unusable_contact_data_is_a_signal_not_an_error(self, client, tenant_a):
        r = await screen(client, tenant_a, order(buyer={"phone": "12", "email": "not-an-email", "address": "どこか"}))
        assert r.status_code == 201, r.text
        reasons = [x["code"] for x in (await detail(client, tenant_a, r.json()["id"]))["reasons"]]
        assert {"phone_invalid", "email_invalid", "address_unparseable"} <= set(reasons)

    async def test_merchants_get_one_coarse_reason_operators_the_detail(self, client, tenant_a):
        r = await screen(client, tenant_a, order(buyer={"phone": "12", "email": "x@mailinator.com"}))
        merchant_reasons = r.json()["reasons"]
        assert r.json()["verdict"] != "OK"
        assert len(merchant_reasons) == 1 and not merchant_reasons[0]["code"].startswith(("phone", "email"))
        operator_reasons = (await detail(client, tenant_a, r.json()["id"]))["reasons"]
        assert {"phone_invalid", "email_disposable"} <= {x["code"] for x in operator_reasons}

    async def test_a_ring_at_one_address_is_caught(self, client, tenant_a):
        names = ["佐藤 一郎", "鈴木 次郎", "高橋 三郎", "田中 四郎", "伊藤 五郎"]
        verdicts = []
        for i, name in enumerate(names):
            body = order(
                i,
                buyer={
                    "name": name,
                    "name_kana": None,
                    "phone": f"090-0000-000{i}",
                    "address": [
                        "東京都港区赤坂4-3-2",
                        "東京都港区赤坂４－３－２",
                        "東京都港区赤坂四丁目三番二号",
                        "東京都港区赤坂4丁目3番地2号",
                        "東京都港区赤坂 4-3-2",
                    ][i],
                },
            )
            verdicts.append((await screen(client, tenant_a, body)).json())
        last = await detail(client, tenant_a, verdicts[-1]["id"])
        assert last["verdict"] in ("REVIEW", "NG")
        assert {"velocity_address_1h", "many_names_at_address"} <= {x["code"] for x in last["reasons"]}
        assert last["features"]["history"]["address:1h"] == 4

    async def test_bad_buyer_data_is_a_422_naming_the_field(self, client, db, tenant_a):
        for body, pointer in [
            (order(buyer={"address": ""}), "#/buyer/address"),
            ({**order(), "amount": "5800"}, "#/amount"),
            ({**order(), "amount": False}, "#/amount"),
            ({**order(), "surprise": 1}, "#/surprise"),
            (order(device={"ip": "999.1.1.1"}), "#/device/ip"),
        ]:
            r = await screen(client, tenant_a, body)
            assert r.status_code == 422, (body, r.text)
            assert pointer in [e["pointer"] for e in r.json()["errors"]], r.json()["errors"]
        missing = order()
        del missing["buyer"]["address"]
        r = await screen(client, tenant_a, missing)
        assert r.status_code == 422 and "#/buyer/address" in [e["pointer"] for e in r.json()["errors"]]
        assert await usage_count(db, tenant_a.id) == 0


class TestLists:
    async def test_block_list_forces_ng_and_allow_list_passes(self, client, tenant_a):
        h = bearer(tenant_a.admin_key)
        r = await client.post(
            "/admin/v1/fraud/lists",
            headers=h,
            json={"list": "block", "kind": "phone", "value": "０９０－１２３４－５６７８"},
        )
        assert r.status_code == 201, r.text
        assert "5678" in r.json()["masked"] and "1234" not in r.json()["masked"]
        blocked = await screen(client, tenant_a, order())
        assert blocked.json()["verdict"] == "NG"
        await client.post(
            "/admin/v1/fraud/lists", headers=h, json={"list": "allow", "kind": "email", "value": "vip@example.jp"}
        )
        vip = await screen(
            client,
            tenant_a,
            order(9, buyer={"email": "VIP@example.jp", "phone": "03-1234-5678"}, device={"user_agent": "curl/8.0"}),
        )
        assert vip.json()["verdict"] == "OK"

    async def test_bulk_import_is_all_or_nothing_with_line_numbers(self, client, tenant_a):
        h = {**bearer(tenant_a.admin_key), "content-type": "text/csv"}
        bad = "list,kind,value\nblock,phone,090-1111-2222\nblock,fax,123\nallow,email,not-an-email\nnope,phone,1\n"
        r = await client.post("/admin/v1/fraud/lists/import", headers=h, content=bad.encode())
        assert r.status_code == 422, r.text
        assert [e["pointer"] for e in r.json()["errors"]] == ["line:3", "line:4", "line:5"]
        listed = await client.get("/admin/v1/fraud/lists", headers=bearer(tenant_a.admin_key))
        assert listed.json()["data"] == []
        good = "block,phone,090-1111-2222\nblock,email,bad@example.jp,chargeback 2026-11\nblock,phone,09011112222\n"
        r = await client.post("/admin/v1/fraud/lists/import", headers=h, content=good.encode())
        assert r.status_code == 200 and r.json() == {"object": "list_import", "added": 2, "unchanged": 1}

    async def test_ip_entries_match_however_the_address_is_written(self, client, tenant_a):
        h = bearer(tenant_a.admin_key)
        r = await client.post(
            "/admin/v1/fraud/lists", headers=h, json={"list": "block", "kind": "ip", "value": "::ffff:133.242.0.10"}
        )
        assert r.status_code == 201, r.text
        assert (await screen(client, tenant_a, order())).json()["verdict"] == "NG"  # the order comes from 133.242.0.10
        bad = await client.post("/admin/v1/fraud/lists", headers=h, json={"list": "block", "kind": "ip", "value": "x"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "#/value"

    async def test_lists_are_per_tenant(self, client, tenant_a, tenant_b):
        r = await client.post(
            "/admin/v1/fraud/lists",
            headers=bearer(tenant_a.admin_key),
            json={"list": "block", "kind": "phone", "value": "090-1234-5678"},
        )
        entry_id = r.json()["id"]
        assert (await screen(client, tenant_b, order())).json()["verdict"] == "OK"
        assert (await client.get("/admin/v1/fraud/lists", headers=bearer(tenant_b.admin_key))).json()["data"] == []
        r = await client.delete(f"/admin/v1/fraud/lists/{entry_id}", headers=bearer(tenant_b.admin_key))
        assert r.status_code == 404


class TestReviewQueue:
    async def _review(self, client, tenant):
        r = await screen(
            client,
            tenant,
            order(
                buyer={"email": "x@mailinator.com"}, device={"accept_language": "en-US", "timezone": "America/New_York"}
            ),
        )
        assert r.json()["verdict"] == "REVIEW", await detail(client, tenant, r.json()["id"])
        return r.json()

    async def test_queue_lists_review_items_with_deadline(self, client, tenant_a, tenant_b):
        item = await self._review(client, tenant_a)
        queue = await client.get("/admin/v1/screenings?status=in_review", headers=bearer(tenant_a.admin_key))
        assert [s["id"] for s in queue.json()["data"]] == [item["id"]]
        assert queue.json()["data"][0]["review_deadline"] is not None
        other = await client.get("/admin/v1/screenings?status=in_review", headers=bearer(tenant_b.admin_key))
        assert other.json()["data"] == []

    async def test_approve_then_a_second_decision_is_409(self, client, tenant_a, tenant_b):
        item = await self._review(client, tenant_a)
        path = f"/admin/v1/screenings/{item['id']}"
        assert (
            await client.post(f"{path}/approve", headers=bearer(tenant_b.admin_key), json={"note": "x"})
        ).status_code == 404
        r = await client.post(f"{path}/approve", headers=bearer(tenant_a.admin_key), json={"note": "called buyer"})
        assert r.status_code == 200 and r.json()["status"] == "approved"
        assert (await client.get(f"/v1/screenings/{item['id']}", headers=bearer(tenant_a.merchant_key))).json()[
            "status"
        ] == "approved"
        r = await client.post(f"{path}/reject", headers=bearer(tenant_a.admin_key), json={"note": "changed mind"})
        assert r.status_code == 409 and r.json()["code"] == "screening_not_in_review"

    async def test_a_note_is_required(self, client, tenant_a):
        item = await self._review(client, tenant_a)
        r = await client.post(f"/admin/v1/screenings/{item['id']}/approve", headers=bearer(tenant_a.admin_key), json={})
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/note"

    async def test_unresolved_reviews_expire_at_their_deadline(self, client, db, tenant_a):
        with freeze_time("2026-11-25 01:00:00", real_asyncio=True):
            item = await self._review(client, tenant_a)
        with freeze_time("2026-11-25 12:00:00", real_asyncio=True):
            assert await execute(db, "fraud.expire_reviews", "msg_exp_1", {}) == "done"
        assert (await detail(client, tenant_a, item["id"]))["status"] == "in_review"
        with freeze_time("2026-11-26 01:00:01", real_asyncio=True):
            assert await execute(db, "fraud.expire_reviews", "msg_exp_2", {}) == "done"
        assert (await detail(client, tenant_a, item["id"]))["status"] == "expired"
        assert expire_reviews is not None


class TestNegativeDatabase:
    async def test_fraud_confirmed_by_one_tenant_is_matched_for_another_without_revealing_it(
        self, client, db, tenant_a, tenant_b
    ):
        fraudulent = (await screen(client, tenant_a, order(1))).json()
        r = await client.post(
            f"/v1/screenings/{fraudulent['id']}/outcome",
            headers=bearer(tenant_a.merchant_key),
            json={"outcome": "fraud", "note": "stolen card"},
        )
        assert r.status_code == 200 and r.json()["outcome"] == "fraud"
        # The same phone at tenant B, with everything else different.
        other = order(
            2,
            buyer={
                "name": "別人 花子",
                "name_kana": None,
                "email": "hanako@example.jp",
                "address": "大阪府大阪市北区梅田1-1-1",
            },
        )
        hit = (await screen(client, tenant_b, other)).json()
        assert hit["verdict"] == "NG"
        full = await detail(client, tenant_b, hit["id"])
        assert "negative_db_hit_phone" in {x["code"] for x in full["reasons"]}
        assert full["features"]["lists"]["negative"] == ["phone"]  # which kind matched ...
        text = str(full) + str(hit)
        assert tenant_a.id not in text and fraudulent["id"] not in text  # ... never whose
        # B cannot read A's screening or reports.
        assert (
            await client.get(f"/admin/v1/screenings/{fraudulent['id']}", headers=bearer(tenant_b.admin_key))
        ).status_code == 404
        async with db.sessionmaker() as s:
            kinds = set((await s.scalars(select(NegativeEntry.kind))).all())
            reports = (await s.scalars(select(NegativeReport))).all()
        assert kinds == {"address", "phone", "email", "device"}
        assert {r.tenant_id for r in reports} == {tenant_a.id}

    async def test_the_negative_database_stores_no_identifier_in_clear(self, client, db, tenant_a):
        await client.post(
            "/admin/v1/fraud/negative-entries",
            headers=bearer(tenant_a.admin_key),
            json={"kind": "email", "value": "Fraud.Ster+shop@gmail.com"},
        )
        async with db.sessionmaker() as s:
            rows = (await s.execute(select(NegativeEntry.kind, NegativeEntry.key_hash))).all()
        assert len(rows) == 1 and "fraud" not in rows[0][1].lower() and len(rows[0][1]) == 32
        hit = await screen(client, tenant_a, order(buyer={"email": "fraudster@gmail.com"}))
        assert hit.json()["verdict"] == "NG"

    async def test_outcomes_once_then_conflict(self, client, tenant_a):
        s = (await screen(client, tenant_a, order())).json()
        path = f"/v1/screenings/{s['id']}/outcome"
        h = bearer(tenant_a.merchant_key)
        assert (await client.post(path, headers=h, json={"outcome": "good"})).status_code == 200
        assert (await client.post(path, headers=h, json={"outcome": "good"})).status_code == 200
        r = await client.post(path, headers=h, json={"outcome": "fraud"})
        assert r.status_code == 409 and r.json()["code"] == "outcome_already_reported"


class TestPolicy:
    async def test_default_then_a_new_version_is_used(self, client, db, tenant_a):
        h = bearer(tenant_a.admin_key)
        current = (await client.get("/admin/v1/fraud/policy", headers=h)).json()
        assert current["version"] == 0
        policy = current["policy"]
        policy["review_threshold"], policy["ng_threshold"] = 5, 10
        r = await client.put("/admin/v1/fraud/policy", headers=h, json={"policy": policy, "note": "strict"})
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 1
        s = (await screen(client, tenant_a, order(device={"user_agent": None}))).json()
        assert (await detail(client, tenant_a, s["id"]))["policy_version"] == 1

    async def test_an_invalid_policy_is_rejected_and_the_old_one_kept(self, client, tenant_a):
        h = bearer(tenant_a.admin_key)
        policy = (await client.get("/admin/v1/fraud/policy", headers=h)).json()["policy"]
        for broken, needle in [
            ({**policy, "rules": {**policy["rules"], "no_such_rule": {"weight": 5}}}, "no_such_rule"),
            ({**policy, "review_threshold": 100, "ng_threshold": 50}, "threshold"),
        ]:
            r = await client.put("/admin/v1/fraud/policy", headers=h, json={"policy": broken})
            assert r.status_code == 422 and r.json()["code"] == "invalid_policy"
            assert needle in r.text
        assert (await client.get("/admin/v1/fraud/policy", headers=h)).json()["version"] == 0

    async def test_policies_are_per_tenant(self, client, tenant_a, tenant_b):
        h = bearer(tenant_a.admin_key)
        policy = (await client.get("/admin/v1/fraud/policy", headers=h)).json()["policy"]
        await client.put("/admin/v1/fraud/policy", headers=h, json={"policy": policy})
        assert (await client.get("/admin/v1/fraud/policy", headers=bearer(tenant_b.admin_key))).json()["version"] == 0


class TestExternalAddresses:
    async def test_an_operators_forwarding_address_is_flagged(self, client, tenant_a, tenant_b):
        r = await client.post(
            "/admin/v1/fraud/external-addresses",
            headers=bearer(tenant_a.admin_key),
            json={"category": "forwarding", "address": "千葉県市川市塩浜２丁目１３番地", "label": "forwarder X"},
        )
        assert r.status_code == 201, r.text
        body = order(shipping={"address": "千葉県市川市塩浜2-13", "name": "山田 太郎"})
        flagged = (await screen(client, tenant_a, body)).json()
        assert "address_forwarding" in {x["code"] for x in (await detail(client, tenant_a, flagged["id"]))["reasons"]}
        other = (await screen(client, tenant_b, body)).json()
        assert "address_forwarding" not in {x["code"] for x in (await detail(client, tenant_b, other["id"]))["reasons"]}

    async def test_the_shipped_data_is_matched(self, client, tenant_a):
        body = order(shipping={"address": "千葉県市川市見本浜二丁目13番地"})
        s = (await screen(client, tenant_a, body)).json()
        assert "address_forwarding" in {x["code"] for x in (await detail(client, tenant_a, s["id"]))["reasons"]}


async def test_screenings_are_stored_with_everything_needed_to_replay(db, client, tenant_a):
    s = (await screen(client, tenant_a, order())).json()
    async with db.sessionmaker() as session:
        row = (await session.scalars(select(Screening).where(Screening.id == s["id"]))).one()
    assert row.verdict == "OK" and row.policy_version == 0 and isinstance(row.features["signals"], dict)
    assert row.created_at <= dt.datetime.now(dt.UTC)
