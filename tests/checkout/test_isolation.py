"""Orders are seen and changed only by their own operator and merchant.

Per endpoint of ``app/http/checkout/orders.py`` and ``app/http/admin/orders.py``: another operator's keys get 404
for an order (and nothing changes), a second merchant of the same operator gets 404 for the first merchant's orders
and does not list them, the operator's admin sees every merchant's orders, and a key of the wrong role gets 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from domain.kit.tenancy import Role
from tests.checkout.helpers import create_order, order_body, post, yamato
from tests.fixtures.factories import Tenant, bearer, create_key

DECREASE = {  # a valid change of order_body(n): one line fewer (the shipping line dropped)
    "amount": 6_000,
    "items": [{"ref": "SKU-1", "name": "緑茶ギフト", "unit_price": 3000, "quantity": 2, "tax_rate": 8}],
}

# (method, path, which of tenant A's orders, body): every call would succeed for tenant A's own merchant or admin,
# so only the lookup can refuse it.
MERCHANT_CALLS = [
    ("GET", "/v1/orders/{id}", "authorized", None),
    ("PATCH", "/v1/orders/{id}", "authorized", DECREASE),
    ("POST", "/v1/orders/{id}/cancel", "authorized", {}),
    ("POST", "/v1/orders/{id}/captures", "authorized", {"carrier": "yamato", "tracking_number": yamato(7)}),
    ("GET", "/v1/orders/{id}/captures", "shipping", None),
    ("POST", "/v1/orders/{id}/release", "shipping", {}),
    ("POST", "/v1/orders/{id}/refunds", "shipping", {"amount": 100}),
    ("GET", "/v1/orders/{id}/refunds", "shipping", None),
    ("GET", "/v1/orders/{id}/invoices", "shipping", None),
    ("GET", "/v1/orders/{id}/invoice-print-data", "shipping", None),
    ("GET", "/v1/orders/by-merchant-order-id/{merchant_order_id}", "authorized", None),
]
ADMIN_CALLS = [
    ("GET", "/admin/v1/orders/{id}", "shipping", None),
    ("GET", "/admin/v1/orders/{id}/captures", "shipping", None),
    ("GET", "/admin/v1/orders/{id}/refunds", "shipping", None),
    ("GET", "/admin/v1/orders/{id}/invoices", "shipping", None),
    ("POST", "/admin/v1/orders/{id}/approve", "in_review", {"note": "x"}),
    ("POST", "/admin/v1/orders/{id}/reject", "in_review", {"note": "x"}),
    ("POST", "/admin/v1/orders/{id}/arrival", "shipping", {}),
]


@dataclass
class World:
    """Tenant A: merchant 1 with an authorized order and a partly shipped enclosed (同梱) one; merchant 2 (a
    sandbox merchant of the same operator) with an order in review."""

    a: Tenant
    merchant2_id: str
    merchant2_key: str
    orders: dict[str, dict[str, Any]]

    def url(self, path: str, which: str) -> str:
        order = self.orders[which]
        return path.format(id=order["id"], merchant_order_id=order["merchant_order_id"])


@pytest.fixture
async def world(client, db, tenant_a) -> World:
    r = await client.post(
        "/admin/v1/merchants", headers=bearer(tenant_a.admin_key), json={"name": "Sandbox shop", "test_mode": True}
    )
    assert r.status_code == 201, r.text
    merchant2_id = r.json()["id"]
    merchant2_key = await create_key(db, Role.MERCHANT, tenant_a.id, merchant2_id)

    authorized = await create_order(client, tenant_a, order_body(1))
    shipping = await create_order(client, tenant_a, order_body(2, invoice_delivery="enclosed"))
    for r in (authorized, shipping):
        assert r.status_code == 201 and r.json()["status"] == "authorized", r.text
    capture = {"carrier": "yamato", "tracking_number": yamato(1), "items": [{"ref": "SKU-1", "quantity": 1}]}
    r = await post(client, tenant_a, f"/v1/orders/{shipping.json()['id']}/captures", capture)
    assert r.status_code == 201 and r.json()["order"]["status"] == "partially_captured", r.text
    review = await client.post(
        "/v1/orders",
        headers=bearer(merchant2_key),
        json=order_body(3, buyer={"email": "review@example.jp"}),
    )
    assert review.status_code == 201 and review.json()["status"] == "in_review", review.text
    orders = {"authorized": authorized.json(), "shipping": r.json()["order"], "in_review": review.json()}
    return World(tenant_a, merchant2_id, merchant2_key, orders)


async def _snapshot(client, world: World) -> dict[str, Any]:
    """Everything tenant A's admin can see of its orders, and its credit policy."""
    h = bearer(world.a.admin_key)
    seen: dict[str, Any] = {"policy": (await client.get("/admin/v1/credit-policy", headers=h)).json()}
    for which, order in world.orders.items():
        for suffix in ("", "/captures", "/refunds", "/invoices"):
            r = await client.get(f"/admin/v1/orders/{order['id']}{suffix}", headers=h)
            assert r.status_code == 200, r.text
            seen[f"{which}{suffix}"] = r.json()
    return seen


async def _call(client, key: str, method: str, url: str, body: Any):
    return await client.request(method, url, headers=bearer(key), json=body if method in ("POST", "PATCH") else None)


# -- the owner (the control: each probed call succeeds for tenant A itself) ------------------------------------


@pytest.mark.parametrize(("method", "path", "which", "body"), [*MERCHANT_CALLS, *ADMIN_CALLS], ids=lambda v: str(v))
async def test_the_owner_may_make_every_probed_call(client, world, method, path, which, body):
    key = world.a.admin_key if path.startswith("/admin/") else world.a.merchant_key
    if which == "in_review" and not path.startswith("/admin/"):
        key = world.merchant2_key
    r = await _call(client, key, method, world.url(path, which), body)
    assert r.status_code in (200, 201), r.text


# -- another operator ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "which", "body"), MERCHANT_CALLS, ids=lambda v: str(v))
async def test_another_operators_merchant_gets_404_and_changes_nothing(
    client, world, tenant_b, method, path, which, body
):
    before = await _snapshot(client, world)
    r = await _call(client, tenant_b.merchant_key, method, world.url(path, which), body)
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "order_not_found"
    assert await _snapshot(client, world) == before


@pytest.mark.parametrize(("method", "path", "which", "body"), ADMIN_CALLS, ids=lambda v: str(v))
async def test_another_operators_admin_gets_404_and_changes_nothing(client, world, tenant_b, method, path, which, body):
    before = await _snapshot(client, world)
    r = await _call(client, tenant_b.admin_key, method, world.url(path, which), body)
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "order_not_found"
    assert await _snapshot(client, world) == before


async def test_another_operators_lists_and_policy_are_its_own(client, world, tenant_b):
    for url, key in (("/v1/orders", tenant_b.merchant_key), ("/admin/v1/orders", tenant_b.admin_key)):
        r = await client.get(url, headers=bearer(key))
        assert r.status_code == 200 and r.json()["data"] == [], r.text
    mine = world.orders["authorized"]["merchant_order_id"]
    r = await client.get(
        "/admin/v1/orders", headers=bearer(tenant_b.admin_key), params={"merchant_id": world.a.merchant.id}
    )
    assert r.json()["data"] == []
    r = await client.get("/v1/orders", headers=bearer(tenant_b.merchant_key), params={"merchant_order_id": mine})
    assert r.json()["data"] == []

    before = await _snapshot(client, world)
    r = await client.put(
        "/admin/v1/credit-policy",
        headers=bearer(tenant_b.admin_key),
        json={"policy": {"consumer_limit": 10_000, "order_max": 10_000, "first_order_max": 10_000}},
    )
    assert r.status_code == 200, r.text
    assert await _snapshot(client, world) == before  # A's policy (and everything else) unchanged
    r = await client.get("/admin/v1/credit-policy/versions", headers=bearer(world.a.admin_key))
    assert r.json() == []
    # B's merchant may use A's merchant order id: the ids are per merchant.
    r = await create_order(client, tenant_b, order_body(1))
    assert r.status_code == 201 and r.json()["id"] != world.orders["authorized"]["id"], r.text


# -- another merchant of the same operator ---------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "which", "body"), MERCHANT_CALLS, ids=lambda v: str(v))
async def test_a_sibling_merchant_gets_404_and_changes_nothing(client, world, method, path, which, body):
    before = await _snapshot(client, world)
    r = await _call(client, world.merchant2_key, method, world.url(path, which), body)
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "order_not_found"
    assert await _snapshot(client, world) == before


async def test_each_merchant_lists_only_its_own_orders_and_the_admin_sees_all(client, world):
    merchant1 = {o["id"] for o in (await client.get("/v1/orders", headers=bearer(world.a.merchant_key))).json()["data"]}
    merchant2 = {o["id"] for o in (await client.get("/v1/orders", headers=bearer(world.merchant2_key))).json()["data"]}
    assert merchant1 == {world.orders["authorized"]["id"], world.orders["shipping"]["id"]}
    assert merchant2 == {world.orders["in_review"]["id"]}

    h = bearer(world.a.admin_key)
    admin = (await client.get("/admin/v1/orders", headers=h)).json()["data"]
    assert {o["id"] for o in admin} == merchant1 | merchant2
    assert {o["merchant_id"] for o in admin} == {world.a.merchant.id, world.merchant2_id}
    only2 = (await client.get("/admin/v1/orders", headers=h, params={"merchant_id": world.merchant2_id})).json()
    assert {o["id"] for o in only2["data"]} == merchant2
    for order in world.orders.values():
        assert (await client.get(f"/admin/v1/orders/{order['id']}", headers=h)).status_code == 200

    # Merchant 2 may reuse merchant 1's order id; looking it up finds its own order only.
    mine = world.orders["authorized"]["merchant_order_id"]
    r = await client.get(f"/v1/orders/by-merchant-order-id/{mine}", headers=bearer(world.merchant2_key))
    assert r.status_code == 404
    r = await client.post("/v1/orders", headers=bearer(world.merchant2_key), json=order_body(4, merchant_order_id=mine))
    assert r.status_code == 201, r.text
    r = await client.get(f"/v1/orders/by-merchant-order-id/{mine}", headers=bearer(world.merchant2_key))
    assert r.status_code == 200 and r.json()["id"] != world.orders["authorized"]["id"]


async def test_the_operators_admin_acts_on_every_merchants_orders(client, world):
    r = await post(client, world.a, world.url("/admin/v1/orders/{id}/approve", "in_review"), {"note": "ok"}, admin=True)
    assert r.status_code == 200 and r.json()["status"] == "authorized", r.text
    r = await post(client, world.a, world.url("/admin/v1/orders/{id}/arrival", "shipping"), admin=True)
    assert r.status_code == 200 and r.json()["guarantee"] == "guaranteed", r.text


# -- roles -----------------------------------------------------------------------------------------------------


WRONG_ROLES = [
    ("finance", "GET", "/admin/v1/orders"),
    ("finance", "GET", "/admin/v1/orders/{id}"),
    ("finance", "POST", "/admin/v1/orders/{id}/arrival"),
    ("finance", "GET", "/admin/v1/credit-policy"),
    ("finance", "GET", "/v1/orders"),
    ("merchant", "GET", "/admin/v1/orders"),
    ("merchant", "GET", "/admin/v1/orders/{id}"),
    ("merchant", "POST", "/admin/v1/orders/{id}/approve"),
    ("merchant", "GET", "/admin/v1/credit-policy"),
    ("merchant", "PUT", "/admin/v1/credit-policy"),
    ("merchant", "GET", "/admin/v1/credit-policy/versions"),
    ("admin", "GET", "/v1/orders"),
    ("admin", "POST", "/v1/orders"),
    ("admin", "GET", "/v1/orders/{id}"),
    ("admin", "POST", "/v1/orders/{id}/cancel"),
    ("admin", "POST", "/v1/orders/{id}/captures"),
]


@pytest.mark.parametrize(("role", "method", "path"), WRONG_ROLES, ids=lambda v: str(v))
async def test_a_key_of_the_wrong_role_gets_403(client, world, role, method, path):
    key = {"finance": world.a.finance_key, "merchant": world.a.merchant_key, "admin": world.a.admin_key}[role]
    bodies = {
        "/admin/v1/credit-policy": {"policy": {}},
        "/v1/orders": order_body(9),
        "/v1/orders/{id}/captures": {"carrier": "yamato", "tracking_number": yamato(9)},
        "/admin/v1/orders/{id}/approve": {"note": "x"},
    }
    before = await _snapshot(client, world)
    r = await _call(client, key, method, world.url(path, "authorized"), bodies.get(path, {}))
    assert r.status_code == 403, r.text
    assert await _snapshot(client, world) == before
