"""Cursor pagination: newest first, limit, starting_after, has_more, time filters."""

from __future__ import annotations

from freezegun import freeze_time

from domain.tenancy import service
from tests.fixtures.factories import bearer


async def test_walks_all_pages_newest_first(client, db, tenant_a):
    async with db.transaction() as s:
        for i in range(5):
            await service.create_merchant(s, tenant_a.admin, name=f"Shop {i}")
    seen, cursor = [], None
    while True:
        url = "/admin/v1/merchants?limit=2" + (f"&starting_after={cursor}" if cursor else "")
        page = (await client.get(url, headers=bearer(tenant_a.admin_key))).json()
        seen += [m["id"] for m in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert len(seen) == 6  # five plus the fixture's shop
    assert seen == sorted(seen, reverse=True)


async def test_created_filters(client, db, tenant_a):
    with freeze_time("2026-01-10 00:00:00", real_asyncio=True):
        async with db.transaction() as s:
            old = await service.create_merchant(s, tenant_a.admin, name="Old")
    r = await client.get(
        "/admin/v1/merchants?created_lt=2026-02-01T00:00:00%2B09:00", headers=bearer(tenant_a.admin_key)
    )
    assert [m["id"] for m in r.json()["data"]] == [old.id]
    r = await client.get("/admin/v1/merchants?created_gte=2026-02-01T00:00:00Z", headers=bearer(tenant_a.admin_key))
    assert old.id not in [m["id"] for m in r.json()["data"]]
