"""/v1/webhook-events: list and filter, get, the delivery log with attempts, and replay; scoped to the merchant."""

from __future__ import annotations

import pytest

from app.worker.actors import webhooks as actor_module
from domain.kit.tenancy import Role
from domain.tenancy import service as tenancy
from domain.webhooks import service
from domain.webhooks.service import SendResult
from tests.fixtures.factories import bearer, create_key
from tests.webhooks.helpers import ORDER, create_endpoint, deliveries, drain, emit_order, merchant_principal


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """Every URL posted to; endpoints under https://down.example.jp answer 500, others 200."""
    urls: list[str] = []

    async def fake(url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        urls.append(url)
        return SendResult(500 if url.startswith("https://down.") else 200)

    monkeypatch.setattr(actor_module, "http_send", fake)
    return urls


async def event_ids(client, key, query: str = "") -> list[str]:
    r = await client.get(f"/v1/webhook-events{query}", headers=bearer(key))
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()["data"]]


class TestRead:
    async def test_list_get_and_filter_by_type(self, client, db, tenant_a):
        await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a, "order.authorized")
        await emit_order(db, tenant_a, "order.captured")
        key = tenant_a.merchant_key
        all_ids = await event_ids(client, key)
        assert len(all_ids) == 2 and all_ids == sorted(all_ids, reverse=True)
        [captured] = await event_ids(client, key, "?type=order.captured")
        assert captured == all_ids[0]
        assert await event_ids(client, key, "?type=invoice.issued") == []
        r = await client.get(f"/v1/webhook-events/{captured}", headers=bearer(key))
        assert r.status_code == 200
        body = r.json()
        assert (body["object"], body["id"], body["type"], body["data"]) == ("event", captured, "order.captured", ORDER)

    async def test_the_delivery_log_shows_each_delivery_with_its_attempts(self, client, db, tenant_a, sent):
        ok = await create_endpoint(db, tenant_a, url="https://up.example.jp/h")
        down = await create_endpoint(db, tenant_a, url="https://down.example.jp/h")
        await emit_order(db, tenant_a)
        await drain(db)
        [event_id] = await event_ids(client, tenant_a.merchant_key)
        r = await client.get(f"/v1/webhook-events/{event_id}/deliveries", headers=bearer(tenant_a.merchant_key))
        assert r.status_code == 200, r.text
        log = {d["endpoint_id"]: d for d in r.json()["data"]}
        assert log.keys() == {ok.id, down.id}
        assert (log[ok.id]["status"], log[ok.id]["attempt_count"], log[ok.id]["last_status_code"]) == (
            "succeeded",
            1,
            200,
        )
        assert log[ok.id]["next_attempt_at"] is None and log[ok.id]["succeeded_at"] is not None
        assert [(a["attempt"], a["status_code"], a["error"]) for a in log[ok.id]["attempts"]] == [(1, 200, None)]
        failing = log[down.id]
        assert (failing["status"], failing["attempt_count"], failing["last_error"]) == ("pending", 1, "HTTP 500")
        assert failing["next_attempt_at"] is not None
        assert [(a["attempt"], a["status_code"]) for a in failing["attempts"]] == [(1, 500)]
        assert all(d["object"] == "webhook_delivery" and d["event_id"] == event_id for d in r.json()["data"])

    async def test_unknown_event_is_404(self, client, tenant_a):
        for path in ("/v1/webhook-events/evt_nope", "/v1/webhook-events/evt_nope/deliveries"):
            r = await client.get(path, headers=bearer(tenant_a.merchant_key))
            assert r.status_code == 404 and r.json()["code"] == "webhook_event_not_found"


class TestReplay:
    async def test_to_every_subscribed_endpoint_as_new_deliveries(self, client, db, tenant_a, sent):
        first = await create_endpoint(db, tenant_a, url="https://a.example.jp/h", events=["order.authorized"])
        await emit_order(db, tenant_a)
        await drain(db)
        # Added after the event, subscribed: gets the replay. Subscribed to other types, or disabled: does not.
        later = await create_endpoint(db, tenant_a, url="https://b.example.jp/h")
        await create_endpoint(db, tenant_a, url="https://c.example.jp/h", events=["invoice.issued"])
        off = await create_endpoint(db, tenant_a, url="https://d.example.jp/h")
        async with db.transaction() as s:
            await service.update_endpoint(s, merchant_principal(tenant_a), off.id, status="disabled")
        [event_id] = await event_ids(client, tenant_a.merchant_key)

        r = await client.post(
            f"/v1/webhook-events/{event_id}/replay",
            headers={**bearer(tenant_a.merchant_key), "Idempotency-Key": "replay-1"},
            json={},
        )
        assert r.status_code == 201, r.text
        replayed = r.json()["data"]
        assert sorted(d["endpoint_id"] for d in replayed) == sorted([first.id, later.id])
        assert {(d["status"], d["attempt_count"], d["event_id"]) for d in replayed} == {("pending", 0, event_id)}
        again = await client.post(
            f"/v1/webhook-events/{event_id}/replay",
            headers={**bearer(tenant_a.merchant_key), "Idempotency-Key": "replay-1"},
            json={},
        )
        assert again.json() == r.json()  # an idempotent retry does not replay twice

        await drain(db)
        assert sorted(sent) == ["https://a.example.jp/h", "https://a.example.jp/h", "https://b.example.jp/h"]
        statuses = [(d.endpoint_id, d.status) for d in await deliveries(db)]
        assert len(statuses) == 3 and {s for _, s in statuses} == {"succeeded"}

    async def test_to_one_endpoint(self, client, db, tenant_a, sent):
        await create_endpoint(db, tenant_a, url="https://a.example.jp/h")
        other = await create_endpoint(db, tenant_a, url="https://b.example.jp/h", events=["invoice.issued"])
        await emit_order(db, tenant_a)
        [event_id] = await event_ids(client, tenant_a.merchant_key)
        r = await client.post(
            f"/v1/webhook-events/{event_id}/replay",
            headers=bearer(tenant_a.merchant_key),
            json={"endpoint_id": other.id},
        )
        assert r.status_code == 201, r.text
        assert [d["endpoint_id"] for d in r.json()["data"]] == [other.id]
        await drain(db)
        assert sorted(sent) == ["https://a.example.jp/h", "https://b.example.jp/h"]

    async def test_to_a_disabled_endpoint_is_409(self, client, db, tenant_a):
        endpoint = await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a)
        async with db.transaction() as s:
            await service.update_endpoint(s, merchant_principal(tenant_a), endpoint.id, status="disabled")
        [event_id] = await event_ids(client, tenant_a.merchant_key)
        r = await client.post(
            f"/v1/webhook-events/{event_id}/replay",
            headers=bearer(tenant_a.merchant_key),
            json={"endpoint_id": endpoint.id},
        )
        assert r.status_code == 409 and r.json()["code"] == "webhook_endpoint_disabled"
        r = await client.post(f"/v1/webhook-events/{event_id}/replay", headers=bearer(tenant_a.merchant_key), json={})
        assert r.status_code == 409 and r.json()["code"] == "no_subscribed_webhook_endpoint"

    async def test_strict_body(self, client, db, tenant_a):
        await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a)
        [event_id] = await event_ids(client, tenant_a.merchant_key)
        r = await client.post(
            f"/v1/webhook-events/{event_id}/replay", headers=bearer(tenant_a.merchant_key), json={"endpoint": "x"}
        )
        assert r.status_code == 422


class TestIsolation:
    async def test_another_tenants_merchant_gets_404_and_empty_lists(self, client, db, tenant_a, tenant_b):
        await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a)
        [event_id] = await event_ids(client, tenant_a.merchant_key)
        key = tenant_b.merchant_key
        assert await event_ids(client, key) == []
        for path in (f"/v1/webhook-events/{event_id}", f"/v1/webhook-events/{event_id}/deliveries"):
            assert (await client.get(path, headers=bearer(key))).status_code == 404
        r = await client.post(f"/v1/webhook-events/{event_id}/replay", headers=bearer(key), json={})
        assert r.status_code == 404

    async def test_a_sibling_merchant_gets_404_and_cannot_aim_a_replay_across(self, client, db, tenant_a, sent):
        async with db.transaction() as s:
            sibling = await tenancy.create_merchant(s, tenant_a.admin, name="Sibling")
        sibling_key = await create_key(db, Role.MERCHANT, tenant_a.id, sibling.id)
        sibling_endpoint = await create_endpoint(db, tenant_a, merchant_id=sibling.id, url="https://s.example.jp/h")
        await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a)
        await emit_order(db, tenant_a, merchant_id=sibling.id)
        [mine] = await event_ids(client, tenant_a.merchant_key)
        [theirs] = await event_ids(client, sibling_key)
        assert mine != theirs
        assert (await client.get(f"/v1/webhook-events/{mine}", headers=bearer(sibling_key))).status_code == 404
        r = await client.post(
            f"/v1/webhook-events/{mine}/replay",
            headers=bearer(tenant_a.merchant_key),
            json={"endpoint_id": sibling_endpoint.id},
        )
        assert r.status_code == 404 and r.json()["code"] == "webhook_endpoint_not_found"
        assert (await client.get("/v1/webhook-events", headers=bearer(tenant_a.admin_key))).status_code == 403
