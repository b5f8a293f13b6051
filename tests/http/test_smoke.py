from tests.fixtures.factories import bearer


async def test_own_merchant(client, tenant_a):
    r = await client.get("/v1/merchant", headers=bearer(tenant_a.merchant_key))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == tenant_a.merchant.id
