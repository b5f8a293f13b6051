"""Checkout under real concurrency (PostgreSQL, real commits): the credit limit, 名寄せ merges, idempotency, and
captures / refunds / cancels racing on one order.

The requests go to a real uvicorn server running the app in the test's event loop, on the ``committed_db`` pool
(the ``http`` fixture, ``tests/fixtures/app.py``), and are sent together with ``asyncio.gather``. After each race:
the ledger balances and every live consumer's ``outstanding`` is exactly the exposure of the orders that resolve to
it (merged consumers hold nothing).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from domain.checkout.models import Capture, Consumer, Order, Refund
from domain.invoicing.models import Invoice
from tests.checkout.helpers import create_order, ledger_ok, order_body, post, yamato
from tests.fixtures.factories import Tenant, bearer, create_tenant

pytestmark = pytest.mark.postgres_only

LIMIT = 55_000
INACTIVE = ("declined", "cancelled", "expired")


# -- helpers ---------------------------------------------------------------------------------------------------


async def _tenant(db, client, name: str, **policy: Any) -> Tenant:
    tenant = await create_tenant(db, name)
    # Screening is not under test: the buyers' shared IP is allow-listed, so velocity rules (one person, many
    # orders a second) do not decline them; every decision below is credit's.
    r = await client.post(
        "/admin/v1/fraud/lists",
        headers=bearer(tenant.admin_key),
        json={"list": "allow", "kind": "ip", "value": order_body()["device"]["ip"]},
    )
    assert r.status_code == 201, r.text
    if policy:
        r = await client.put(
            "/admin/v1/credit-policy", headers=bearer(tenant.admin_key), json={"policy": policy, "note": "test"}
        )
        assert r.status_code == 200, r.text
    return tenant


async def _orders(db, tenant_id: str) -> list[Order]:
    async with db.sessionmaker() as s:
        return list((await s.scalars(select(Order).where(Order.tenant_id == tenant_id))).all())


async def _consumers(db, tenant_id: str) -> dict[str, Consumer]:
    async with db.sessionmaker() as s:
        rows = (await s.scalars(select(Consumer).where(Consumer.tenant_id == tenant_id))).all()
        return {c.id: c for c in rows}


def _root(consumers: dict[str, Consumer], consumer_id: str) -> str:
    for _ in range(10):
        nxt = consumers[consumer_id].merged_into
        if nxt is None:
            return consumer_id
        consumer_id = nxt
    raise AssertionError(f"merge chain of {consumer_id} does not end")


async def invariants(db, tenant_id: str) -> dict[str, int]:
    """The ledger balances, every order's amounts are consistent, and each live consumer's outstanding is the sum
    of the exposure of the orders resolving to it. Answers {live consumer: outstanding}."""
    await ledger_ok(db, tenant_id)
    consumers = await _consumers(db, tenant_id)
    orders = await _orders(db, tenant_id)
    for c in consumers.values():
        if c.merged_into is not None:
            assert c.outstanding == 0, f"merged consumer {c.id} still holds {c.outstanding}"
    expected = {cid: 0 for cid, c in consumers.items() if c.merged_into is None}
    for o in orders:
        assert o.captured_amount + o.released_amount <= o.amount, o.id
        assert 0 <= o.refunded_amount <= o.captured_amount, o.id
        assert 0 <= o.exposure <= o.amount, o.id
        if o.status in INACTIVE:
            assert o.exposure == 0, f"{o.id} is {o.status} but holds exposure {o.exposure}"
        if o.exposure:
            assert o.consumer_id is not None, o.id
            expected[_root(consumers, o.consumer_id)] += o.exposure
    actual = {cid: consumers[cid].outstanding for cid in expected}
    assert actual == expected, f"outstanding {actual} != Σ order exposure {expected}"
    return actual


def _same_person(n: int, **overrides: Any) -> dict[str, Any]:
    """Orders of one person: the buyer of ``order_body(0)`` under the merchant order id ``P-<n>``."""
    return order_body(0, merchant_order_id=f"P-{n}", **overrides)


def _statuses(responses) -> Counter[int]:
    return Counter(r.status_code for r in responses)


def _no_server_errors(responses) -> None:
    bad = [(r.status_code, r.text[:300]) for r in responses if r.status_code >= 500]
    assert not bad, bad


# -- the credit limit ------------------------------------------------------------------------------------------


async def test_the_cumulative_limit_holds_for_a_known_consumer(http, committed_db):
    tenant = await _tenant(committed_db, http, "Limit", first_order_max=LIMIT)
    # The consumer exists (keys known, one earlier order) and holds no exposure.
    first = await create_order(http, tenant, _same_person(0, amount=10_000))
    assert first.json()["status"] == "authorized", first.text
    r = await post(http, tenant, f"/v1/orders/{first.json()['id']}/cancel")
    assert r.status_code == 200, r.text

    responses = await asyncio.gather(
        *[create_order(http, tenant, _same_person(n, amount=10_000)) for n in range(1, 13)]
    )
    _no_server_errors(responses)
    assert _statuses(responses) == {201: 12}
    outcome = Counter((r.json()["status"], r.json()["decline_reason"]) for r in responses)
    assert outcome == {("authorized", None): 5, ("declined", "credit"): 7}, outcome

    live = await invariants(committed_db, tenant.id)
    assert list(live.values()) == [50_000]
    orders = await _orders(committed_db, tenant.id)
    assert sum(o.exposure for o in orders) == 50_000
    assert {o.decline_detail for o in orders if o.status == "declined"} == {"consumer_limit"}


@pytest.mark.parametrize("round_", range(3))
async def test_the_first_orders_of_a_new_consumer_racing_respect_the_limit(http, committed_db, round_):
    """No key is known yet: every request creates a consumer and claims keys; the losers merge into one."""
    tenant = await _tenant(committed_db, http, f"First {round_}", first_order_max=LIMIT)
    responses = await asyncio.gather(*[create_order(http, tenant, _same_person(n, amount=10_000)) for n in range(12)])
    _no_server_errors(responses)
    assert _statuses(responses) == {201: 12}
    outcome = Counter((r.json()["status"], r.json()["decline_reason"]) for r in responses)
    assert outcome == {("authorized", None): 5, ("declined", "credit"): 7}, outcome

    live = await invariants(committed_db, tenant.id)
    assert list(live.values()) == [50_000], live  # one live consumer holds all the exposure
    [survivor] = live
    consumers = await _consumers(committed_db, tenant.id)
    assert all(
        c.merged_into is not None and _root(consumers, cid) == survivor
        for cid, c in consumers.items()
        if cid != survivor
    )
    # The merged consumers' history moved with them: the survivor has had the five orders that passed credit.
    assert consumers[survivor].orders_count == 5


async def test_a_merge_keeps_the_order_history_for_the_first_order_maximum(http, committed_db):
    """The survivor of a merge inherits the merged consumers' order count: a person whose oldest consumer never
    had an order (its first order was declined) but whose other identity has one is not a first-time buyer."""
    tenant = await _tenant(committed_db, http, "FirstMax", consumer_limit=LIMIT, order_max=LIMIT)
    declined = await create_order(http, tenant, order_body(400, amount=40_000))  # the older consumer: no order
    assert (declined.json()["status"], declined.json()["decline_reason"]) == ("declined", "credit")
    earlier = await create_order(http, tenant, order_body(401, amount=10_000))  # the younger: one order
    assert earlier.json()["status"] == "authorized", earlier.text
    bridge_buyer = {"email": order_body(400)["buyer"]["email"], "phone": order_body(401)["buyer"]["phone"]}
    bridge = await create_order(http, tenant, order_body(402, amount=40_000, buyer=bridge_buyer))
    assert bridge.json()["status"] == "authorized", bridge.json()
    live = await invariants(committed_db, tenant.id)
    assert list(live.values()) == [50_000]
    [survivor] = live
    assert (await _consumers(committed_db, tenant.id))[survivor].orders_count == 2


async def test_overlapping_identifiers_merge_and_conserve_exposure(http, committed_db):
    """A chain of one person's orders: each shares one identifier with the next (A: P0+E0, B: P1+E0, C: P1+E1,
    …) and has its own name and address. They all end on one live consumer holding the sum of their exposure."""
    tenant = await _tenant(committed_db, http, "Overlap")
    bodies = []
    for n in range(16):
        phone = f"080-5555-{(n + 1) // 2:04d}"
        email = f"chain{n // 2}@example.jp"
        bodies.append(order_body(200 + n, amount=2_000, buyer={"phone": phone, "email": email}))
    # Three waves: later waves find keys known to consumers the earlier ones may have merged away.
    for wave in range(3):
        wave_bodies = [{**b, "merchant_order_id": f"W{wave}-{b['merchant_order_id']}"} for b in bodies]
        responses = await asyncio.gather(*[create_order(http, tenant, b) for b in wave_bodies])
        _no_server_errors(responses)
        assert _statuses(responses) == {201: len(bodies)}
    orders = await _orders(committed_db, tenant.id)
    live = await invariants(committed_db, tenant.id)
    reserved = [o for o in orders if o.exposure]
    assert sum(live.values()) == sum(o.exposure for o in orders)
    consumers = await _consumers(committed_db, tenant.id)
    roots = {_root(consumers, o.consumer_id) for o in orders if o.consumer_id is not None}
    assert len(roots) == 1, f"one person, {len(roots)} live consumers: {roots}"
    assert reserved, [(o.status, o.decline_detail) for o in orders]


async def test_a_merge_racing_releases_of_the_merged_consumers_conserves_exposure(http, committed_db):
    """Cancels of orders of two consumers race a new order that proves they are one person."""
    tenant = await _tenant(committed_db, http, "MergeRelease")
    a = [order_body(300, amount=4_000, merchant_order_id=f"A-{n}") for n in range(3)]
    b = [order_body(301, amount=4_000, merchant_order_id=f"B-{n}") for n in range(3)]
    placed = [await create_order(http, tenant, body) for body in a + b]
    assert all(r.json()["status"] == "authorized" for r in placed), [r.json() for r in placed]
    assert len(await invariants(committed_db, tenant.id)) == 2
    bridge = order_body(
        302,
        amount=4_000,
        merchant_order_id="BRIDGE",
        buyer={"phone": a[0]["buyer"]["phone"], "email": b[0]["buyer"]["email"]},
    )
    responses = await asyncio.gather(
        create_order(http, tenant, bridge),
        *[post(http, tenant, f"/v1/orders/{r.json()['id']}/cancel") for r in placed],
    )
    _no_server_errors(responses)
    assert [r.status_code for r in responses] == [201] + [200] * 6, [r.text for r in responses]
    live = await invariants(committed_db, tenant.id)
    bridged = await _order(committed_db, responses[0].json()["id"])
    assert list(live.values()) == [bridged.exposure]  # one person now; the cancelled orders hold nothing


async def test_changes_to_a_new_identifier_racing_new_orders_with_it(http, committed_db):
    """A buyer's new email arrives twice at once: in changes (PATCH, re-screened) of their orders and in new
    orders. Both claim the new key for the same consumer; neither may deadlock, and exposure is conserved."""
    tenant = await _tenant(committed_db, http, "NewKey", first_order_max=LIMIT)
    placed = []
    for n in range(4):
        r = await create_order(http, tenant, _same_person(n, amount=5_000))
        assert r.json()["status"] == "authorized", r.text
        placed.append(r.json())
    buyer = {**placed[0]["buyer"], "email": "taro.new@example.jp"}
    responses = await asyncio.gather(
        *[
            http.patch(f"/v1/orders/{o['id']}", headers=bearer(tenant.merchant_key), json={"buyer": buyer})
            for o in placed
        ],
        *[create_order(http, tenant, _same_person(10 + n, amount=5_000, buyer=buyer)) for n in range(4)],
    )
    _no_server_errors(responses)
    assert [r.status_code for r in responses] == [200] * 4 + [201] * 4, [r.text for r in responses]
    live = await invariants(committed_db, tenant.id)
    assert list(live.values()) == [40_000]


# -- idempotency -----------------------------------------------------------------------------------------------


async def test_concurrent_duplicates_with_one_idempotency_key_create_one_order(http, committed_db):
    tenant = await _tenant(committed_db, http, "Idem")
    body = order_body(7, amount=12_000)
    responses = await asyncio.gather(*[create_order(http, tenant, body, key="same-key") for _ in range(12)])
    _no_server_errors(responses)
    statuses = _statuses(responses)
    assert set(statuses) <= {201, 409}, statuses
    assert all(r.json()["code"] == "idempotency_key_in_flight" for r in responses if r.status_code == 409)
    answers = [r.json() for r in responses if r.status_code == 201]
    assert answers and all(a == answers[0] for a in answers)
    orders = await _orders(committed_db, tenant.id)
    assert [o.id for o in orders] == [answers[0]["id"]]
    assert list((await invariants(committed_db, tenant.id)).values()) == [12_000]


# -- captures, refunds, cancel ---------------------------------------------------------------------------------


async def _authorized_order(client, tenant, n: int, amount: int = 10_000, **kw: Any) -> dict[str, Any]:
    r = await create_order(client, tenant, order_body(n, amount=amount, **kw))
    assert r.status_code == 201 and r.json()["status"] == "authorized", r.text
    return r.json()


async def _order(db, order_id: str) -> Order:
    async with db.sessionmaker() as s:
        return (await s.scalars(select(Order).where(Order.id == order_id))).one()


async def _rows(db, model, order_id: str) -> list[Any]:
    async with db.sessionmaker() as s:
        return list((await s.scalars(select(model).where(model.order_id == order_id))).all())


async def test_concurrent_captures_never_exceed_the_amount(http, committed_db):
    tenant = await _tenant(committed_db, http, "Captures")
    order = await _authorized_order(http, tenant, 1, amount=10_000)
    url = f"/v1/orders/{order['id']}/captures"
    responses = await asyncio.gather(
        *[
            post(http, tenant, url, {"carrier": "yamato", "tracking_number": yamato(n), "amount": 3_000})
            for n in range(8)
        ]
    )
    _no_server_errors(responses)
    assert _statuses(responses) == {201: 3, 422: 5}, [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"amount_exceeds_uncaptured"}
    stored = await _order(committed_db, order["id"])
    assert (stored.captured_amount, stored.status) == (9_000, "partially_captured")
    assert sum(c.amount for c in await _rows(committed_db, Capture, order["id"])) == 9_000

    # The rest, all at once by several requests: exactly one takes it, the others find it captured.
    responses = await asyncio.gather(
        *[post(http, tenant, url, {"carrier": "yamato", "tracking_number": yamato(10 + n)}) for n in range(6)]
    )
    _no_server_errors(responses)
    assert _statuses(responses) == {201: 1, 409: 5}, [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"capture_not_allowed"}
    stored = await _order(committed_db, order["id"])
    assert (stored.captured_amount, stored.status) == (10_000, "captured")
    assert sum(c.amount for c in await _rows(committed_db, Capture, order["id"])) == 10_000
    totals = await ledger_ok(committed_db, tenant.id)
    assert totals["JPY"][0] >= 10_000
    await invariants(committed_db, tenant.id)


async def test_concurrent_refunds_never_exceed_the_captured_amount(http, committed_db):
    tenant = await _tenant(committed_db, http, "Refunds")
    order = await _authorized_order(http, tenant, 2, amount=10_000)
    r = await post(
        http, tenant, f"/v1/orders/{order['id']}/captures", {"carrier": "yamato", "tracking_number": yamato(1)}
    )
    assert r.status_code == 201, r.text
    url = f"/v1/orders/{order['id']}/refunds"
    responses = await asyncio.gather(*[post(http, tenant, url, {"amount": 3_000}) for _ in range(8)])
    _no_server_errors(responses)
    assert _statuses(responses) == {201: 3, 422: 5}, [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"amount_exceeds_refundable"}
    stored = await _order(committed_db, order["id"])
    assert stored.refunded_amount == 9_000 <= stored.captured_amount == 10_000
    assert sum(x.amount for x in await _rows(committed_db, Refund, order["id"])) == 9_000
    open_invoices = [i for i in await _rows(committed_db, Invoice, order["id"]) if i.status != "voided"]
    assert sum(i.principal for i in open_invoices) == 1_000
    assert stored.exposure == 1_000
    live = await invariants(committed_db, tenant.id)
    assert list(live.values()) == [1_000]


@pytest.mark.parametrize("delivery", ["separate", "enclosed"])
async def test_cancel_racing_capture_has_exactly_one_winner(http, committed_db, delivery):
    tenant = await _tenant(committed_db, http, f"CancelCapture {delivery}")
    orders = [await _authorized_order(http, tenant, 10 + n, invoice_delivery=delivery) for n in range(6)]
    calls = []
    for n, o in enumerate(orders):
        cancel = post(http, tenant, f"/v1/orders/{o['id']}/cancel")
        capture = post(
            http, tenant, f"/v1/orders/{o['id']}/captures", {"carrier": "yamato", "tracking_number": yamato(n)}
        )
        calls += [cancel, capture] if n % 2 else [capture, cancel]
    responses = await asyncio.gather(*calls)
    _no_server_errors(responses)
    by_order: dict[str, list[tuple[str, int, str | None]]] = {}
    for r in responses:
        path = r.request.url.path
        oid, action = path.split("/")[3], path.split("/")[4]
        by_order.setdefault(oid, []).append((action, r.status_code, r.json().get("code")))
    for o in orders:
        results = dict((a, (s, c)) for a, s, c in by_order[o["id"]])
        stored = await _order(committed_db, o["id"])
        captures = await _rows(committed_db, Capture, o["id"])
        if results["cancel"][0] == 200:
            assert results["captures"] == (409, "capture_not_allowed"), results
            assert (stored.status, stored.captured_amount, stored.exposure, captures) == ("cancelled", 0, 0, [])
        else:
            assert results["cancel"] == (409, "cancel_not_allowed"), results
            assert results["captures"][0] == 201, results
            assert (stored.status, stored.captured_amount, stored.exposure) == ("captured", 10_000, 10_000)
            assert len(captures) == 1
        open_invoices = [i for i in await _rows(committed_db, Invoice, o["id"]) if i.status != "voided"]
        assert sum(i.principal for i in open_invoices) == stored.captured_amount
    await invariants(committed_db, tenant.id)


# -- one consumer, everything at once --------------------------------------------------------------------------


@pytest.mark.parametrize("delivery", ["separate", "enclosed"])
async def test_one_consumers_orders_changing_all_at_once_stay_consistent(http, committed_db, delivery):
    """New orders, captures, refunds, releases, cancels and decreases of one consumer's orders, concurrently: they
    take the order, consumer and invoice-counter locks in different paths; none may deadlock or lose an update."""
    tenant = await _tenant(committed_db, http, f"Mixed {delivery}", first_order_max=LIMIT)
    two_lines = [
        {"ref": "A", "name": "商品A", "unit_price": 2_000, "quantity": 2, "tax_rate": 10},
        {"ref": "B", "name": "商品B", "unit_price": 1_000, "quantity": 1, "tax_rate": 10},
    ]
    placed = []
    for n in range(6):
        body = _same_person(n, items=two_lines, amount=5_000, invoice_delivery=delivery)
        r = await create_order(http, tenant, body)
        assert r.json()["status"] == "authorized", r.text
        placed.append(r.json()["id"])
    captured, partly, to_cancel, to_change = placed[0:2], placed[2:4], placed[4], placed[5]
    for n, oid in enumerate(captured):
        r = await post(http, tenant, f"/v1/orders/{oid}/captures", {"carrier": "yamato", "tracking_number": yamato(n)})
        assert r.status_code == 201, r.text
    for n, oid in enumerate(partly):
        body = {"carrier": "yamato", "tracking_number": yamato(10 + n), "items": [{"ref": "A", "quantity": 1}]}
        r = await post(http, tenant, f"/v1/orders/{oid}/captures", body)
        assert r.status_code == 201, r.text
    await invariants(committed_db, tenant.id)

    headers = bearer(tenant.merchant_key)
    calls = [
        *[create_order(http, tenant, _same_person(100 + n, amount=5_000, invoice_delivery=delivery)) for n in range(4)],
        *[post(http, tenant, f"/v1/orders/{oid}/refunds", {"amount": 1_000}) for oid in captured for _ in range(2)],
        *[post(http, tenant, f"/v1/orders/{oid}/release") for oid in partly],
        *[post(http, tenant, f"/v1/orders/{oid}/refunds", {"amount": 500}) for oid in partly],
        post(http, tenant, f"/v1/orders/{to_cancel}/cancel"),
        http.patch(
            f"/v1/orders/{to_change}",
            headers=headers,
            json={"amount": 4_000, "items": [two_lines[0]]},
        ),
    ]
    _no_server_errors(await asyncio.gather(*calls))
    second_wave = [
        *[create_order(http, tenant, _same_person(200 + n, amount=5_000, invoice_delivery=delivery)) for n in range(4)],
        *[post(http, tenant, f"/v1/orders/{oid}/refunds", {"amount": 1_000}) for oid in captured + partly],
    ]
    _no_server_errors(await asyncio.gather(*second_wave))
    live = await invariants(committed_db, tenant.id)
    assert len(live) == 1 and list(live.values())[0] <= LIMIT
    for oid in placed:
        stored = await _order(committed_db, oid)
        open_invoices = [i for i in await _rows(committed_db, Invoice, oid) if i.status != "voided"]
        due = stored.amount - stored.released_amount - stored.refunded_amount
        if stored.status in INACTIVE:
            assert open_invoices == [], oid
        elif delivery == "enclosed" or stored.captured_amount:
            expected = due if delivery == "enclosed" else stored.captured_amount - stored.refunded_amount
            assert sum(i.principal for i in open_invoices) == expected, (oid, stored.status)
