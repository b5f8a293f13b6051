"""API keys: bearer auth, roles, revocation, suspended tenants, hashed storage."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from domain.tenancy.models import ApiKey, Operator
from tests.fixtures.factories import bearer


class TestAuthentication:
    async def test_missing_header_is_401_problem(self, client):
        r = await client.get("/admin/v1/merchants")
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["code"] == "unauthenticated"

    async def test_wrong_scheme_is_401(self, client, tenant_a):
        r = await client.get("/admin/v1/merchants", headers={"Authorization": f"Basic {tenant_a.admin_key}"})
        assert r.status_code == 401

    async def test_unknown_key_is_401(self, client, tenant_a):
        r = await client.get("/admin/v1/merchants", headers=bearer(tenant_a.admin_key + "x"))
        assert r.status_code == 401

    async def test_valid_key_is_accepted(self, client, tenant_a):
        r = await client.get("/admin/v1/merchants", headers=bearer(tenant_a.admin_key))
        assert r.status_code == 200

    async def test_suspended_operator_keys_stop_working(self, client, db, tenant_a):
        async with db.transaction() as s:
            await s.execute(update(Operator).where(Operator.id == tenant_a.id).values(status="suspended"))
        r = await client.get("/admin/v1/merchants", headers=bearer(tenant_a.admin_key))
        assert r.status_code == 401


class TestRoles:
    async def test_merchant_key_cannot_call_admin_api(self, client, tenant_a):
        r = await client.get("/admin/v1/merchants", headers=bearer(tenant_a.merchant_key))
        assert r.status_code == 403
        assert r.json()["code"] == "forbidden"

    async def test_finance_key_reads_ledger_but_not_merchants(self, client, tenant_a):
        assert (await client.get("/admin/v1/ledger/accounts", headers=bearer(tenant_a.finance_key))).status_code == 200
        assert (await client.get("/admin/v1/merchants", headers=bearer(tenant_a.finance_key))).status_code == 403

    async def test_admin_key_cannot_call_platform_api(self, client, tenant_a):
        assert (await client.get("/platform/v1/operators", headers=bearer(tenant_a.admin_key))).status_code == 403

    async def test_admin_key_cannot_call_checkout_api(self, client, tenant_a):
        assert (await client.get("/v1/merchant", headers=bearer(tenant_a.admin_key))).status_code == 403

    @pytest.mark.parametrize("path", ["/admin/v1/merchants", "/v1/orders/ord_x", "/platform/v1/operators"])
    async def test_options_is_answered_without_a_key(self, client, path):
        """Authentication skips OPTIONS (a CORS preflight carries no key), and so do the role guards."""
        r = await client.options(path)
        assert r.status_code == 204
        assert "OPTIONS" in r.headers["allow"]

    async def test_key_prefix_shows_role(self, tenant_a, platform_key):
        assert tenant_a.admin_key.startswith("sk_admin_")
        assert tenant_a.finance_key.startswith("sk_fin_")
        assert tenant_a.merchant_key.startswith("sk_mch_")
        assert platform_key.startswith("sk_plat_")


class TestKeyLifecycle:
    async def test_issue_shows_secret_once_and_stores_only_a_hash(self, client, db, tenant_a):
        r = await client.post(
            "/admin/v1/api-keys",
            headers=bearer(tenant_a.admin_key),
            json={"role": "operator_finance", "name": "accounting"},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        secret = body["secret"]
        assert secret.startswith("sk_fin_") and body["display_prefix"] == secret[:11]
        async with db.sessionmaker() as s:
            stored = (await s.scalars(select(ApiKey).where(ApiKey.id == body["id"]))).one()
        assert secret not in (stored.secret_hash, stored.display_prefix) and len(stored.secret_hash) == 64
        listed = await client.get(f"/admin/v1/api-keys/{body['id']}", headers=bearer(tenant_a.admin_key))
        assert "secret" not in listed.json()
        assert (await client.get("/admin/v1/ledger/accounts", headers=bearer(secret))).status_code == 200

    async def test_revoked_key_is_refused_immediately(self, client, tenant_a):
        created = await client.post(
            "/admin/v1/api-keys",
            headers=bearer(tenant_a.admin_key),
            json={"role": "merchant", "name": "pos", "merchant_id": tenant_a.merchant.id},
        )
        key = created.json()
        assert (await client.get("/v1/merchant", headers=bearer(key["secret"]))).status_code == 200
        r = await client.post(f"/admin/v1/api-keys/{key['id']}/revoke", headers=bearer(tenant_a.admin_key))
        assert r.status_code == 200 and r.json()["revoked_at"] is not None
        assert (await client.get("/v1/merchant", headers=bearer(key["secret"]))).status_code == 401

    async def test_revoking_twice_is_a_409_state_conflict(self, client, tenant_a):
        key = (
            await client.post(
                "/admin/v1/api-keys", headers=bearer(tenant_a.admin_key), json={"role": "operator_finance", "name": "x"}
            )
        ).json()
        await client.post(f"/admin/v1/api-keys/{key['id']}/revoke", headers=bearer(tenant_a.admin_key))
        r = await client.post(f"/admin/v1/api-keys/{key['id']}/revoke", headers=bearer(tenant_a.admin_key))
        assert r.status_code == 409
        assert r.json()["code"] == "api_key_already_revoked"

    async def test_merchant_key_requires_merchant_id(self, client, tenant_a):
        r = await client.post(
            "/admin/v1/api-keys", headers=bearer(tenant_a.admin_key), json={"role": "merchant", "name": "x"}
        )
        assert r.status_code == 422
        assert r.json()["code"] == "merchant_id_required"

    async def test_admin_cannot_issue_platform_keys(self, client, tenant_a):
        r = await client.post(
            "/admin/v1/api-keys", headers=bearer(tenant_a.admin_key), json={"role": "platform", "name": "x"}
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["pointer"] == "#/role"


class TestPlatform:
    async def test_create_operator_returns_admin_key_that_works(self, client, platform_key):
        r = await client.post("/platform/v1/operators", headers=bearer(platform_key), json={"name": "Gamma"})
        assert r.status_code == 201, r.text
        admin = r.json()["admin_key"]["secret"]
        assert admin.startswith("sk_admin_")
        own = await client.get("/admin/v1/operator", headers=bearer(admin))
        assert own.json()["id"] == r.json()["operator"]["id"]

    async def test_list_and_get_operators(self, client, platform_key, tenant_a):
        listed = await client.get("/platform/v1/operators", headers=bearer(platform_key))
        assert tenant_a.id in {o["id"] for o in listed.json()["data"]}
        one = await client.get(f"/platform/v1/operators/{tenant_a.id}", headers=bearer(platform_key))
        assert one.json()["name"] == "Alpha BNPL"
        missing = await client.get("/platform/v1/operators/opr_nope", headers=bearer(platform_key))
        assert missing.status_code == 404
