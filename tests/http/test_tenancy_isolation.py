"""Tenant isolation, the cases the generated matrix does not spell out.

Every operation with a path parameter, every key kind and every list is walked by
``tests/http/test_isolation_matrix.py`` (generated from the OpenAPI); a new endpoint with a new path parameter fails
there until ``tests/fixtures/resources.py`` makes a resource for it.
"""

from __future__ import annotations

import pytest

from domain.tenancy import service
from tests.fixtures.factories import bearer
from tests.fixtures.resources import seed_api_resources


async def test_revoke_of_another_tenants_key_changes_nothing(client, db, tenant_a, tenant_b):
    r = await client.get("/admin/v1/api-keys", headers=bearer(tenant_a.admin_key))
    key_id = next(k["id"] for k in r.json()["data"] if k["role"] == "merchant")
    r = await client.post(f"/admin/v1/api-keys/{key_id}/revoke", headers=bearer(tenant_b.admin_key))
    assert r.status_code == 404
    still = await client.get("/v1/merchant", headers=bearer(tenant_a.merchant_key))
    assert still.status_code == 200


@pytest.mark.parametrize("path", ["/admin/v1/merchants", "/admin/v1/api-keys"])
async def test_lists_show_only_own_tenant(client, tenant_a, tenant_b, path):
    r = await client.get(path, headers=bearer(tenant_b.admin_key))
    assert r.status_code == 200
    owners = {item.get("operator_id", tenant_b.id) for item in r.json()["data"]}
    ids = {item["id"] for item in r.json()["data"]}
    assert owners == {tenant_b.id}
    assert tenant_a.merchant.id not in ids


async def test_ledger_accounts_show_only_own_tenant(client, db, tenant_b):
    tenant_a = (await seed_api_resources(db)).tenant
    r = await client.get("/admin/v1/ledger/accounts", headers=bearer(tenant_b.finance_key))
    assert r.status_code == 200
    assert r.json()["data"] == []
    mine = await client.get("/admin/v1/ledger/accounts", headers=bearer(tenant_a.finance_key))
    # The entry, the shipment and the unidentified payment (the CSV is not reconciled yet).
    assert {a["key"] for a in mine.json()["data"]} == {"consumer_receivable", "merchant_payable", "bank", "suspense"}


async def test_a_merchant_key_sees_only_its_own_merchant(client, db, tenant_a):
    async with db.transaction() as s:
        other = await service.create_merchant(s, tenant_a.admin, name="Sibling shop")
    r = await client.get("/v1/merchant", headers=bearer(tenant_a.merchant_key))
    assert r.json()["id"] == tenant_a.merchant.id != other.id


async def test_merchant_id_of_another_tenant_cannot_be_bound_to_a_key(client, tenant_a, tenant_b):
    r = await client.post(
        "/admin/v1/api-keys",
        headers=bearer(tenant_b.admin_key),
        json={"role": "merchant", "name": "x", "merchant_id": tenant_a.merchant.id},
    )
    assert r.status_code == 404
    assert r.json()["code"] == "merchant_not_found"
