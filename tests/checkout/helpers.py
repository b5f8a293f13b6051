"""Builders and assertions shared by the checkout tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from domain.checkout.models import Consumer
from tests.fixtures.factories import bearer
from tests.fixtures.ledger import assert_ledger_balances

# A Yamato number with a valid check digit (first 11 digits mod 7 = last digit).
YAMATO = "123456789013"


def yamato(n: int) -> str:
    """The n-th valid Yamato tracking number."""
    body = 12345678900 + n
    return f"{body}{body % 7}"


def order_body(n: int = 0, *, amount: int | None = None, **overrides: Any) -> dict[str, Any]:
    """A clean order of a distinct consumer per ``n`` (own phone, email, name and address)."""
    items = [
        {"ref": "SKU-1", "name": "緑茶ギフト", "unit_price": 3000, "quantity": 2, "tax_rate": 8},
        {"ref": "SHIP", "name": "送料", "unit_price": 800, "quantity": 1, "tax_rate": 10},
    ]
    if amount is not None:
        items = [{"ref": "SKU-1", "name": "商品", "unit_price": amount, "quantity": 1, "tax_rate": 10}]
    body: dict[str, Any] = {
        "merchant_order_id": f"ORDER-{n}",
        "amount": sum(i["unit_price"] * i["quantity"] for i in items),
        "currency": "JPY",
        "items": items,
        "buyer": {
            "name": f"山田 太郎{_kanji(n)}",
            "name_kana": "ヤマダ タロウ",
            "email": f"taro{n}@example.jp",
            "phone": f"090-{1000 + n % 9000:04d}-{n // 9000 % 10000:04d}",
            "postal_code": "107-0052",
            "address": f"東京都港区赤坂4丁目{n % 50 + 1}番地{n // 50 % 50 + 1}号",
        },
        "device": {"ip": "133.242.0.10", "accept_language": "ja-JP,ja;q=0.9", "timezone": "Asia/Tokyo"},
    }
    for key, value in overrides.items():
        if key == "buyer" and isinstance(value, dict):
            body["buyer"] = {**body["buyer"], **value}
        else:
            body[key] = value
    return body


def _kanji(n: int) -> str:
    digits = "〇一二三四五六七八九"
    return "".join(digits[int(c)] for c in str(n))


async def create_order(client, tenant, body: dict[str, Any], key: str | None = None):
    headers = bearer(tenant.merchant_key) | ({"Idempotency-Key": key} if key else {})
    return await client.post("/v1/orders", headers=headers, json=body)


async def authorized(client, tenant, n: int = 0, **kw: Any) -> dict[str, Any]:
    r = await create_order(client, tenant, order_body(n, **kw))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "authorized", r.json()
    return r.json()


async def post(client, tenant, path: str, body: Any = None, *, key: str | None = None, admin: bool = False):
    secret = tenant.admin_key if admin else tenant.merchant_key
    headers = bearer(secret) | ({"Idempotency-Key": key} if key else {})
    return await client.post(path, headers=headers, json=body if body is not None else {})


async def ledger_ok(db, tenant_id: str) -> dict[str, tuple[int, int]]:
    async with db.sessionmaker() as s:
        return await assert_ledger_balances(s, tenant_id)


async def consumers(db, tenant_id: str) -> list[Consumer]:
    async with db.sessionmaker() as s:
        return list((await s.scalars(select(Consumer).where(Consumer.tenant_id == tenant_id))).all())


# -- added for the lifecycle / invoices / jobs / policy tests ---------------------------------------------------


def capture_body(n: int = 1, **extra: Any) -> dict[str, Any]:
    """A shipment report with the n-th valid Yamato number (add amount= or items= for a partial capture)."""
    return {"carrier": "yamato", "tracking_number": yamato(n), **extra}


async def get(client, tenant, path: str, *, admin: bool = False, secret: str | None = None):
    key = secret or (tenant.admin_key if admin else tenant.merchant_key)
    return await client.get(path, headers=bearer(key))


async def admin_order(client, tenant, order_id: str) -> dict[str, Any]:
    r = await client.get(f"/admin/v1/orders/{order_id}", headers=bearer(tenant.admin_key))
    assert r.status_code == 200, r.text
    return r.json()


async def invoices(client, tenant, order_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/orders/{order_id}/invoices", headers=bearer(tenant.merchant_key))
    assert r.status_code == 200, r.text
    return r.json()


async def balances(client, tenant) -> dict[str, int]:
    """Ledger balances by account key (normal side), read through the API with the finance key; 0 if unused."""
    r = await client.get("/admin/v1/ledger/accounts", headers=bearer(tenant.finance_key))
    assert r.status_code == 200, r.text
    assert r.json()["balanced"] is True, r.json()
    out: dict[str, int] = {}
    for account in r.json()["data"]:
        out[account["key"]] = out.get(account["key"], 0) + account["balance"]
    return _ZeroDict(out)


class _ZeroDict(dict):
    def __missing__(self, key: str) -> int:
        return 0


async def new_merchant(client, tenant, name: str = "Second shop", **fields: Any) -> tuple[str, str]:
    """A merchant of ``tenant`` created through the admin API, with a merchant key: (merchant_id, secret)."""
    r = await client.post("/admin/v1/merchants", headers=bearer(tenant.admin_key), json={"name": name, **fields})
    assert r.status_code == 201, r.text
    merchant_id = r.json()["id"]
    r = await client.post(
        "/admin/v1/api-keys",
        headers=bearer(tenant.admin_key),
        json={"role": "merchant", "name": f"{name} key", "merchant_id": merchant_id},
    )
    assert r.status_code == 201, r.text
    return merchant_id, r.json()["secret"]


async def set_consumer_fee(client, tenant, merchant_id: str, fee: int) -> None:
    r = await client.patch(
        f"/admin/v1/merchants/{merchant_id}", headers=bearer(tenant.admin_key), json={"consumer_fee": fee}
    )
    assert r.status_code == 200, r.text


async def count_rows(db, model: Any, tenant_id: str) -> int:
    from sqlalchemy import func

    async with db.sessionmaker() as s:
        stmt = select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
        return (await s.execute(stmt)).scalar_one()


async def simulate_payment(db, tenant_id: str, invoice_id: str, amount: int) -> None:
    """The consumer pays ``amount`` on an invoice, bypassing reconciliation (checkout's tests need only the
    effect): the waterfall splits it and the money is booked Dr bank / Cr consumer_receivable."""
    from domain.invoicing.allocation import allocate
    from domain.invoicing.models import Invoice
    from domain.kit.money import Money
    from domain.ledger import credit, debit, post_entry

    async with db.transaction() as s:
        invoice = (
            await s.scalars(select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.id == invoice_id))
        ).one()
        allocate(invoice, amount)
        money = Money(amount, invoice.currency)
        await post_entry(
            s,
            tenant_id,
            kind="payment.received",
            lines=[debit("bank", money), credit("consumer_receivable", money)],
            source_ref=f"test-payment:{invoice_id}:{invoice.paid_amount}",
        )


_JOB_RUNS = iter(range(1, 1_000_000))


async def run_job(db, name: str) -> str:
    """Run a worker job once, now (under the test's frozen clock), with a fresh message id."""
    import uuid

    import app.worker.actors.checkout
    import app.worker.actors.fraud  # noqa: F401  (registers the actors)
    from app.worker.registry import execute

    return await execute(db, name, f"msg_t{next(_JOB_RUNS)}_{uuid.uuid4().hex[:16]}", {})
