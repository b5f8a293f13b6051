"""/v1/webhook-endpoints: create (with the secret, once), list, get, update, delete, rotate; validation problems."""

from __future__ import annotations

import pytest

from app.settings import get_settings
from domain.kit.tenancy import Role
from domain.tenancy import service as tenancy
from domain.webhooks import service
from domain.webhooks.errors import InvalidWebhookEndpoint
from domain.webhooks.signing import endpoint_secret
from tests.fixtures.factories import bearer, create_key

URL = "https://shop.example.jp/bnpl/webhooks"
BODY = {"url": URL, "enabled_events": ["order.authorized", "order.captured"], "description": "main"}


async def create(client, tenant, body=None, **headers):
    headers = {**bearer(tenant.merchant_key), **headers}
    return await client.post("/v1/webhook-endpoints", headers=headers, json=body or BODY)


class TestCreate:
    async def test_returns_the_endpoint_and_its_derived_secret(self, client, tenant_a):
        r = await create(client, tenant_a)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["object"] == "webhook_endpoint" and body["id"].startswith("we_")
        assert (body["url"], body["description"], body["status"]) == (URL, "main", "active")
        assert body["enabled_events"] == ["order.authorized", "order.captured"]
        assert body["secret"] == endpoint_secret(get_settings().secret_key, body["id"], 1)
        assert body["secret"].startswith("whsec_")

    async def test_the_secret_is_not_shown_again(self, client, tenant_a):
        created = (await create(client, tenant_a)).json()
        got = await client.get(f"/v1/webhook-endpoints/{created['id']}", headers=bearer(tenant_a.merchant_key))
        assert got.status_code == 200 and "secret" not in got.json()
        listed = await client.get("/v1/webhook-endpoints", headers=bearer(tenant_a.merchant_key))
        assert all("secret" not in e for e in listed.json()["data"])

    async def test_star_subscribes_to_everything(self, client, tenant_a):
        r = await create(client, tenant_a, {"url": URL, "enabled_events": ["order.authorized", "*"]})
        assert r.json()["enabled_events"] == ["*"]

    async def test_an_idempotent_replay_returns_the_first_response(self, client, tenant_a):
        first = await create(client, tenant_a, **{"Idempotency-Key": "we-1"})
        again = await create(client, tenant_a, **{"Idempotency-Key": "we-1"})
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json() == first.json()
        listed = await client.get("/v1/webhook-endpoints", headers=bearer(tenant_a.merchant_key))
        assert len(listed.json()["data"]) == 1

    async def test_http_to_localhost_is_allowed_outside_production(self, client, tenant_a):
        r = await create(client, tenant_a, {"url": "http://localhost:4242/hooks", "enabled_events": ["*"]})
        assert r.status_code == 201

    async def test_operator_keys_may_not(self, client, tenant_a):
        r = await client.post("/v1/webhook-endpoints", headers=bearer(tenant_a.admin_key), json=BODY)
        assert r.status_code == 403

    async def test_at_most_sixteen_per_merchant(self, client, db, tenant_a):
        for _ in range(service.MAX_ENDPOINTS_PER_MERCHANT):
            assert (await create(client, tenant_a)).status_code == 201
        r = await create(client, tenant_a)
        assert r.status_code == 409 and r.json()["code"] == "webhook_endpoint_limit_reached"


class TestValidation:
    @pytest.mark.parametrize(
        ("url", "code"),
        [
            ("http://shop.example.jp/hooks", "https_required"),
            ("ftp://shop.example.jp/hooks", "invalid_url"),
            ("shop.example.jp/hooks", "invalid_url"),
            ("https://user:pw@shop.example.jp/hooks", "invalid_url"),
            ("https://shop.example.jp/hooks#x", "invalid_url"),
            ("https://shop.example.jp:99999/hooks", "invalid_url"),
            ("https://10.0.0.5/hooks", "public_host_required"),
            ("https://169.254.169.254/latest", "public_host_required"),
            ("http://192.168.1.10/hooks", "https_required"),
        ],
    )
    async def test_refuses_urls_that_are_not_https_to_a_public_host(self, client, tenant_a, url, code):
        r = await create(client, tenant_a, {"url": url, "enabled_events": ["*"]})
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "invalid_webhook_endpoint"
        assert [(e["pointer"], e["code"]) for e in r.json()["errors"]] == [("#/url", code)]

    def test_production_refuses_http_even_to_localhost(self):
        with pytest.raises(InvalidWebhookEndpoint):
            service.validate_url("http://localhost:4242/hooks", allow_local_http=False)
        with pytest.raises(InvalidWebhookEndpoint):
            service.validate_url("https://localhost/hooks", allow_local_http=False)
        assert service.validate_url(URL, allow_local_http=False) == URL

    async def test_refuses_unknown_event_types_by_position(self, client, tenant_a):
        r = await create(client, tenant_a, {"url": URL, "enabled_events": ["order.authorized", "order.shipped"]})
        assert r.status_code == 422
        assert [(e["pointer"], e["code"]) for e in r.json()["errors"]] == [("#/enabled_events/1", "unknown_event_type")]

    @pytest.mark.parametrize(
        "body",
        [
            {"url": URL, "enabled_events": ["*"], "secret": "mine"},  # unknown field
            {"url": URL},  # missing events
            {"url": URL, "enabled_events": []},
            {"url": URL, "enabled_events": "order.authorized"},  # not a list
            {"url": 42, "enabled_events": ["*"]},
        ],
    )
    async def test_schema_violations_are_422(self, client, tenant_a, body):
        r = await create(client, tenant_a, body)
        assert r.status_code == 422 and r.json()["code"] == "validation_error"


class TestReadUpdateDelete:
    async def test_list_is_newest_first_and_paginates(self, client, tenant_a):
        ids = [(await create(client, tenant_a)).json()["id"] for _ in range(3)]
        page = (await client.get("/v1/webhook-endpoints?limit=2", headers=bearer(tenant_a.merchant_key))).json()
        assert [e["id"] for e in page["data"]] == ids[::-1][:2] and page["has_more"] is True
        rest = await client.get(
            f"/v1/webhook-endpoints?limit=2&starting_after={ids[1]}", headers=bearer(tenant_a.merchant_key)
        )
        assert [e["id"] for e in rest.json()["data"]] == [ids[0]] and rest.json()["has_more"] is False

    async def test_patch_changes_only_what_is_given(self, client, tenant_a):
        endpoint = (await create(client, tenant_a)).json()
        url = f"/v1/webhook-endpoints/{endpoint['id']}"
        r = await client.patch(url, headers=bearer(tenant_a.merchant_key), json={"status": "disabled"})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["url"], r.json()["description"]) == ("disabled", URL, "main")
        r = await client.patch(
            url,
            headers=bearer(tenant_a.merchant_key),
            json={"url": "https://b.example.jp/h", "enabled_events": ["invoice.paid"], "description": ""},
        )
        assert (r.json()["url"], r.json()["enabled_events"], r.json()["description"]) == (
            "https://b.example.jp/h",
            ["invoice.paid"],
            "",
        )
        assert r.json()["updated_at"] >= endpoint["updated_at"]

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"url": "http://shop.example.jp/h"}, "invalid_webhook_endpoint"),
            ({"enabled_events": ["nope.nope"]}, "invalid_webhook_endpoint"),
            ({"status": "paused"}, "validation_error"),
            ({"colour": "red"}, "validation_error"),
        ],
    )
    async def test_patch_validates(self, client, tenant_a, body, code):
        endpoint = (await create(client, tenant_a)).json()
        r = await client.patch(
            f"/v1/webhook-endpoints/{endpoint['id']}", headers=bearer(tenant_a.merchant_key), json=body
        )
        assert r.status_code == 422 and r.json()["code"] == code

    async def test_delete_hides_the_endpoint(self, client, tenant_a):
        endpoint = (await create(client, tenant_a)).json()
        url = f"/v1/webhook-endpoints/{endpoint['id']}"
        r = await client.delete(url, headers=bearer(tenant_a.merchant_key))
        assert r.status_code == 200
        assert r.json() == {"object": "webhook_endpoint", "id": endpoint["id"], "deleted": True}
        assert (await client.get(url, headers=bearer(tenant_a.merchant_key))).status_code == 404
        assert (await client.delete(url, headers=bearer(tenant_a.merchant_key))).status_code == 404
        listed = await client.get("/v1/webhook-endpoints", headers=bearer(tenant_a.merchant_key))
        assert listed.json()["data"] == []

    async def test_rotate_secret_returns_a_new_secret(self, client, tenant_a):
        endpoint = (await create(client, tenant_a)).json()
        r = await client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=bearer(tenant_a.merchant_key)
        )
        assert r.status_code == 200, r.text
        assert r.json()["secret"] == endpoint_secret(get_settings().secret_key, endpoint["id"], 2)
        assert r.json()["secret"] != endpoint["secret"]


class TestIsolation:
    async def test_another_tenants_merchant_sees_nothing(self, client, tenant_a, tenant_b):
        endpoint = (await create(client, tenant_a)).json()
        key = bearer(tenant_b.merchant_key)
        url = f"/v1/webhook-endpoints/{endpoint['id']}"
        assert (await client.get(url, headers=key)).status_code == 404
        assert (await client.patch(url, headers=key, json={"status": "disabled"})).status_code == 404
        assert (await client.post(f"{url}/rotate-secret", headers=key)).status_code == 404
        assert (await client.delete(url, headers=key)).status_code == 404
        assert (await client.get("/v1/webhook-endpoints", headers=key)).json()["data"] == []
        still = await client.get(url, headers=bearer(tenant_a.merchant_key))
        assert still.json()["status"] == "active"

    async def test_a_sibling_merchant_of_the_same_tenant_sees_nothing(self, client, db, tenant_a):
        async with db.transaction() as s:
            sibling = await tenancy.create_merchant(s, tenant_a.admin, name="Sibling")
        sibling_key = bearer(await create_key(db, Role.MERCHANT, tenant_a.id, sibling.id))
        endpoint = (await create(client, tenant_a)).json()
        url = f"/v1/webhook-endpoints/{endpoint['id']}"
        assert (await client.get(url, headers=sibling_key)).status_code == 404
        assert (await client.delete(url, headers=sibling_key)).status_code == 404
        assert (await client.get("/v1/webhook-endpoints", headers=sibling_key)).json()["data"] == []
