"""Bad input is a 422 problem naming the field (JSON pointers into the body), and nothing is written: no order,
no screening, no usage event, no consumer, no ledger entry, no capture, no refund."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from billing.metering import UsageEvent
from domain.checkout.models import Capture, Consumer, Order, Refund
from domain.ledger.models import JournalEntry
from fraud.models import Screening
from tests.checkout.helpers import (
    authorized,
    capture_body,
    count_rows,
    create_order,
    get,
    ledger_ok,
    order_body,
    post,
    yamato,
)
from tests.fixtures.factories import bearer


def pointers(r) -> list[str]:
    return [e["pointer"] for e in r.json().get("errors", [])]


def with_(path: str, value: Any, *, base: dict | None = None) -> dict:
    """order_body(1) with one value set at a slash path (``items/0/unit_price``); ``...`` deletes it."""
    body = copy.deepcopy(base or order_body(1))
    *parents, last = path.split("/")
    node: Any = body
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    key: Any = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return body


async def nothing_written(db, tenant_id: str) -> None:
    for model in (Order, Screening, UsageEvent, Consumer, JournalEntry):
        assert await count_rows(db, model, tenant_id) == 0, model.__name__
    await ledger_ok(db, tenant_id)


ORDER_CASES = [
    # (id, body, pointer, code or None)
    ("amount_not_sum_of_items", with_("amount", 6_801), "#/amount", "amount_mismatch"),
    ("zero_amount", with_("amount", 0), "#/amount", None),
    ("negative_amount", with_("amount", -6_800), "#/amount", None),
    ("string_amount", with_("amount", "12"), "#/amount", None),
    ("float_amount", with_("amount", 6800.5), "#/amount", None),
    ("false_as_price", with_("items/0/unit_price", False), "#/items/0/unit_price", None),
    ("string_price", with_("items/0/unit_price", "3000"), "#/items/0/unit_price", None),
    ("negative_price", with_("items/0/unit_price", -1), "#/items/0/unit_price", None),
    ("zero_quantity", with_("items/1/quantity", 0), "#/items/1/quantity", None),
    ("unknown_tax_rate", with_("items/0/tax_rate", 5), "#/items/0/tax_rate", None),
    ("no_items", with_("items", []), "#/items", None),
    ("unsupported_currency", with_("currency", "USD"), "#/currency", None),
    ("lowercase_currency", with_("currency", "jpy"), "#/currency", None),
    ("impossible_date", with_("ordered_at", "2026-02-30T00:00:00+09:00"), "#/ordered_at", None),
    ("not_a_date", with_("ordered_at", "yesterday"), "#/ordered_at", None),
    ("unknown_field", with_("surprise", 1), "#/surprise", None),
    ("unknown_buyer_field", with_("buyer/age", 30), "#/buyer/age", None),
    ("unknown_item_field", with_("items/0/color", "green"), "#/items/0/color", None),
    ("missing_address", with_("buyer/address", ...), "#/buyer/address", None),
    ("empty_merchant_order_id", with_("merchant_order_id", ""), "#/merchant_order_id", None),
    ("unknown_invoice_delivery", with_("invoice_delivery", "email"), "#/invoice_delivery", None),
    ("bad_ip", with_("device/ip", "999.1.1.1"), "#/device/ip", None),
]


class TestOrderBody:
    @pytest.mark.parametrize(("body", "pointer", "code"), [c[1:] for c in ORDER_CASES], ids=[c[0] for c in ORDER_CASES])
    async def test_is_a_422_naming_the_field_and_writes_nothing(self, client, db, tenant_a, body, pointer, code):
        r = await create_order(client, tenant_a, body)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert pointer in pointers(r), problem
        assert problem["code"] == (code or "validation_error"), problem
        assert problem["status"] == 422 and problem["request_id"]
        await nothing_written(db, tenant_a.id)

    async def test_duplicate_item_refs_are_422(self, client, db, tenant_a):
        body = order_body(1)
        body["items"][1]["ref"] = "SKU-1"
        r = await create_order(client, tenant_a, body)
        assert r.status_code == 422, r.text
        assert any(p.startswith("#/items/") and p.endswith("/ref") for p in pointers(r)), r.json()
        await nothing_written(db, tenant_a.id)

    async def test_malformed_json_is_400(self, client, db, tenant_a):
        r = await client.post(
            "/v1/orders",
            headers=bearer(tenant_a.merchant_key) | {"content-type": "application/json"},
            content=b'{"amount": 6800,',
        )
        assert r.status_code == 400 and r.json()["code"] == "malformed_json", r.text
        await nothing_written(db, tenant_a.id)

    async def test_a_real_date_and_a_valid_body_pass(self, client, db, tenant_a):
        r = await create_order(client, tenant_a, with_("ordered_at", "2026-02-28T23:59:59+09:00"))
        assert r.status_code == 201 and r.json()["status"] == "authorized", r.text

    async def test_a_rejected_replay_key_stays_unused(self, client, db, tenant_a):
        bad = await create_order(client, tenant_a, with_("amount", 1), key="bad-1")
        assert bad.status_code == 422
        again = await create_order(client, tenant_a, with_("amount", 1), key="bad-1")
        assert again.status_code == 422
        await nothing_written(db, tenant_a.id)


CAPTURE_CASES = [
    ("unknown_carrier", capture_body(1, carrier="kuroneko"), "#/carrier", "unknown_carrier"),
    ("yamato_bad_check_digit", {"carrier": "yamato", "tracking_number": "123456789016"}, "#/tracking_number", None),
    ("yamato_too_short", {"carrier": "yamato", "tracking_number": "12345"}, "#/tracking_number", None),
    ("yamato_letters", {"carrier": "yamato", "tracking_number": "12345678901A"}, "#/tracking_number", None),
    ("sagawa_bad_check_digit", {"carrier": "sagawa", "tracking_number": "512547514335"}, "#/tracking_number", None),
    ("japanpost_s10_bad", {"carrier": "japanpost", "tracking_number": "EJ123456786JP"}, "#/tracking_number", None),
    ("other_too_short", {"carrier": "other", "tracking_number": "AB12"}, "#/tracking_number", None),
    ("empty_tracking_number", {"carrier": "yamato", "tracking_number": ""}, "#/tracking_number", "validation_error"),
    ("missing_carrier", {"tracking_number": yamato(1)}, "#/carrier", "validation_error"),
    ("zero_amount", capture_body(1, amount=0), "#/amount", "validation_error"),
    ("negative_amount", capture_body(1, amount=-1), "#/amount", "validation_error"),
    ("string_amount", capture_body(1, amount="100"), "#/amount", "validation_error"),
    ("zero_quantity", capture_body(1, items=[{"ref": "SKU-1", "quantity": 0}]), "#/items/0/quantity", None),
    ("impossible_shipped_at", capture_body(1, shipped_at="2026-13-01T00:00:00Z"), "#/shipped_at", None),
    ("unknown_field", capture_body(1, box="large"), "#/box", "validation_error"),
]


class TestCaptureBody:
    @pytest.mark.parametrize(
        ("body", "pointer", "code"), [c[1:] for c in CAPTURE_CASES], ids=[c[0] for c in CAPTURE_CASES]
    )
    async def test_is_a_422_naming_the_field_and_captures_nothing(self, client, db, tenant_a, body, pointer, code):
        order = await authorized(client, tenant_a)
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/captures", body)
        assert r.status_code == 422, r.text
        assert pointer in pointers(r), r.json()
        if code is None and pointer == "#/tracking_number":
            code = "invalid_tracking_number"
        if code is not None:
            assert r.json()["code"] == code, r.json()
        assert await count_rows(db, Capture, tenant_a.id) == 0
        assert await count_rows(db, JournalEntry, tenant_a.id) == 0
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()["status"] == "authorized"
        await ledger_ok(db, tenant_a.id)

    async def test_tracking_numbers_are_normalised_not_rejected(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        number = yamato(1)
        typed = "－".join([number[:4], number[4:8], number[8:]]).translate(
            str.maketrans("0123456789", "０１２３４５６７８９")
        )
        r = await post(
            client, tenant_a, f"/v1/orders/{order['id']}/captures", {"carrier": "yamato", "tracking_number": typed}
        )
        assert r.status_code == 201, r.text
        assert r.json()["capture"]["tracking_number"] == number
        await ledger_ok(db, tenant_a.id)


REFUND_CASES = [
    ("zero_amount", {"amount": 0}, "#/amount"),
    ("negative_amount", {"amount": -100}, "#/amount"),
    ("string_amount", {"amount": "100"}, "#/amount"),
    ("false_amount", {"amount": False}, "#/amount"),
    ("unknown_field", {"amount": 100, "note": "x"}, "#/note"),
    ("unknown_line", {"items": [{"ref": "NOPE", "quantity": 1}]}, "#/items/0/ref"),
    ("negative_quantity", {"items": [{"ref": "SKU-1", "quantity": -1}]}, "#/items/0/quantity"),
]


class TestRefundBody:
    @pytest.mark.parametrize(("body", "pointer"), [c[1:] for c in REFUND_CASES], ids=[c[0] for c in REFUND_CASES])
    async def test_is_a_422_naming_the_field_and_refunds_nothing(self, client, db, tenant_a, body, pointer):
        order = await authorized(client, tenant_a)
        await post(client, tenant_a, f"/v1/orders/{order['id']}/captures", capture_body(1))
        entries = await count_rows(db, JournalEntry, tenant_a.id)
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/refunds", body)
        assert r.status_code == 422, r.text
        assert pointer in pointers(r), r.json()
        assert await count_rows(db, Refund, tenant_a.id) == 0
        assert await count_rows(db, JournalEntry, tenant_a.id) == entries
        assert (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()["refunded_amount"] == 0
        await ledger_ok(db, tenant_a.id)


PATCH_CASES = [
    ("unknown_field", {"note": "x"}, "#/note"),
    ("string_amount", {"amount": "3800"}, "#/amount"),
    ("zero_amount", {"amount": 0}, "#/amount"),
    (
        "bad_item",
        {"amount": 3000, "items": [{"ref": "SKU-1", "name": "x", "unit_price": True, "quantity": 1, "tax_rate": 8}]},
        "#/items/0/unit_price",
    ),
    ("empty_address", {"shipping": {"address": ""}}, "#/shipping/address"),
]


class TestPatchBody:
    @pytest.mark.parametrize(("body", "pointer"), [c[1:] for c in PATCH_CASES], ids=[c[0] for c in PATCH_CASES])
    async def test_is_a_422_naming_the_field_and_changes_nothing(self, client, db, tenant_a, body, pointer):
        order = await authorized(client, tenant_a)
        r = await client.patch(f"/v1/orders/{order['id']}", headers=bearer(tenant_a.merchant_key), json=body)
        assert r.status_code == 422, r.text
        assert pointer in pointers(r), r.json()
        after = (await get(client, tenant_a, f"/v1/orders/{order['id']}")).json()
        assert after == order
        assert await count_rows(db, Screening, tenant_a.id) == 1


class TestFoundInReview:
    async def test_a_naive_ordered_at_is_a_422_naming_it(self, client, db, tenant_a):
        r = await create_order(client, tenant_a, with_("ordered_at", "2026-01-05T10:00:00"))
        assert r.status_code == 422, r.text
        assert "#/ordered_at" in pointers(r)
        await nothing_written(db, tenant_a.id)

    async def test_a_naive_shipped_at_is_a_422_and_nothing_ships(self, client, db, tenant_a):
        order = await authorized(client, tenant_a)
        r = await post(
            client, tenant_a, f"/v1/orders/{order['id']}/captures", capture_body(1, shipped_at="2026-01-05T10:00:00")
        )
        assert r.status_code == 422, r.text
        assert "#/shipped_at" in pointers(r)
        assert await count_rows(db, Capture, tenant_a.id) == 0

    async def test_capturing_only_free_lines_is_a_422_not_a_500(self, client, db, tenant_a):
        items = [
            {"ref": "SKU-1", "name": "商品", "unit_price": 5_000, "quantity": 1, "tax_rate": 10},
            {"ref": "FREE", "name": "おまけ", "unit_price": 0, "quantity": 1, "tax_rate": 10},
        ]
        r = await create_order(
            client, tenant_a, order_body(7, items=items, amount=None) | {"items": items, "amount": 5_000}
        )
        assert r.status_code == 201 and r.json()["status"] == "authorized", r.text
        order = r.json()
        body = capture_body(1, items=[{"ref": "FREE", "quantity": 1}])
        r = await post(client, tenant_a, f"/v1/orders/{order['id']}/captures", body)
        assert r.status_code == 422 and r.json()["code"] == "amount_not_positive", r.text
        assert await count_rows(db, Capture, tenant_a.id) == 0
        await ledger_ok(db, tenant_a.id)
