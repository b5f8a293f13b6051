"""No key of one operator can read or change another's data: every route with an id answers 404 across tenants.

The route walk covers every endpoint that exists, so a new endpoint with a new path parameter fails here until it
is given a resource of tenant A to probe.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from freezegun import freeze_time
from litestar.routes import HTTPRoute

from billing import service as billing_service
from domain.checkout import service as checkout_service
from domain.checkout.schemas import Buyer, CaptureRequest, Item, OrderRequest
from domain.collections import service as collections_service
from domain.collections.formats import IncomingPayment
from domain.collections.formats.konbini import KonbiniRow, build_konbini_csv
from domain.kit.money import Money
from domain.kit.pagination import PageRequest
from domain.kit.tenancy import Principal, Role
from domain.ledger import credit, debit, post_entry
from domain.settlement.models import MerchantContract, PayoutFile, Settlement
from domain.tenancy import service
from domain.webhooks import emit
from domain.webhooks import service as webhook_service
from fraud import service as fraud_service
from fraud.types import IdKind, OrderSnapshot
from tests.fixtures.factories import bearer

SECRET = "test-secret"
# A valid body for POSTs and PATCHes with a path id, so that the lookup (not validation) decides the answer.
VALID_BODIES = {
    "/approve": {"note": "x"},
    "/reject": {"note": "x"},
    "/outcome": {"outcome": "good"},
    "/webhook-endpoints/{endpoint_id:str}": {"description": "x"},  # PATCH
    "/captures": {"carrier": "yamato", "tracking_number": "123456789013"},
    "/refunds": {},
    "/arrival": {},
    "/cancel": {},
    "/release": {},
    "/match": {"invoice_id": "inv_x"},
    "/pair": {"payment_id": "pay_x"},
    "/refund": {},
    "/write-off": {},
    "/hold": {"dispute_hold": True},
    "/contract": {  # PUT
        "fee_rate_bp": 290,
        "cycle": "monthly",
        "bank_code": "0001",
        "branch_code": "001",
        "account_type": "1",
        "account_number": "1234567",
        "holder_kana": "ﾃｽﾄ",
    },
    "/orders/{order_id:str}": {  # PATCH: a decrease of the order below
        "amount": 1000,
        "items": [{"ref": "SKU-1", "name": "緑茶", "unit_price": 1000, "quantity": 1, "tax_rate": 8}],
    },
}

_AMOUNTS = (
    "sales",
    "refunds",
    "clawbacks",
    "unguaranteed_paid",
    "rate_fee",
    "invoice_fees",
    "invoice_count",
    "monthly_fee",
    "transfer_fee",
    "fee_tax",
    "carry_in",
    "net",
    "payout",
    "carry_out",
)
PARAM = re.compile(r"{(\w+):\w+}")
# Platform keys are above tenants by design (they manage operators); their routes are not tenant-scoped.
PLATFORM_PREFIX = "/platform/"


async def _resources_of(db, tenant):
    async with db.transaction() as s:
        keys = await service.list_keys(s, tenant.admin, PageRequest(limit=100))
        posted = await post_entry(
            s,
            tenant.id,
            kind="test.isolation",
            lines=[
                debit("consumer_receivable", Money(1000, "JPY")),
                credit("merchant_payable", Money(1000, "JPY")),
            ],
        )
        merchant = Principal(api_key_id="test", role=Role.MERCHANT, tenant_id=tenant.id, merchant_id=tenant.merchant.id)
        screening = await fraud_service.screen(
            s,
            merchant,
            order_ref="ISO-1",
            secret=SECRET,
            snapshot=OrderSnapshot(
                amount=1000,
                currency="JPY",
                buyer_name="山田太郎",
                billing_address="東京都港区赤坂4-3-2",
                phone="090-1234-5678",
            ),
        )
        listed = await fraud_service.add_list_entry(
            s, tenant.admin, list_name="block", kind=IdKind.EMAIL, value="x@example.jp", note="", secret=SECRET
        )
        external = await fraud_service.add_external_address(
            s, tenant.admin, category="hotel", address="東京都港区赤坂1-1-1", label=""
        )
        endpoint = await webhook_service.create_endpoint(
            s, merchant, url="https://shop.example.jp/hooks", enabled_events=["*"], secret_key=SECRET
        )
        await emit(s, tenant_id=tenant.id, merchant_id=tenant.merchant.id, type="order.authorized", data={})
        [event] = (await webhook_service.list_events(s, merchant, PageRequest(limit=1))).items
        order = await checkout_service.authorize(
            s,
            merchant,
            OrderRequest(
                merchant_order_id="ISO-ORDER-1",
                amount=2000,
                currency="JPY",
                items=[Item(ref="SKU-1", name="緑茶", unit_price=1000, quantity=2, tax_rate=8)],
                buyer=Buyer(name="佐藤花子", address="大阪府大阪市北区梅田1-1-1", email="hanako@example.jp"),
            ),
            secret=SECRET,
        )
        assert order.status == "authorized", (order.status, order.decline_detail)
        await checkout_service.capture(
            s, merchant, order.id, CaptureRequest(carrier="yamato", tracking_number="123456789013")
        )
        [invoice] = await checkout_service.invoices_of(s, merchant, order.id)
        finance = Principal(api_key_id="test", role=Role.OPERATOR_FINANCE, tenant_id=tenant.id)
        payment, _ = await collections_service.record_payment(
            s,
            finance,
            IncomingPayment(
                line_no=0,
                external_id="ISO-PAY-1",
                kind="payment",
                channel="bank_transfer",
                amount=500,
                value_date=dt.date(2026, 12, 1),
                payer_name="ﾌﾒｲ",
                payer_code="",
                edi="",
                account=None,
                payment_number=None,
                reverses_external_id=None,
            ),
        )
        csv_row = KonbiniRow(
            kind="payment",
            record_id="ISO-CVS-1",
            payment_number=invoice.payment_number,
            amount=100,
            paid_at=dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC),
        )
        payment_file, _ = await collections_service.import_file(s, finance, build_konbini_csv([csv_row]), "iso.csv")
        # Settlement: a contract, arrival confirmed, the statement of the next cut-off, approved, paid by a file.
        s.add(
            MerchantContract(
                tenant_id=tenant.id,
                id=f"mct_{tenant.merchant.id[4:]}",
                merchant_id=tenant.merchant.id,
                fee_rate_bp=300,
                invoice_fee_separate=0,
                invoice_fee_enclosed=0,
                monthly_fee=0,
                transfer_fee=0,
                cycle="weekly",
                minimum_payout=0,
                advance_on="arrival",
                bank_code="0001",
                branch_code="001",
                account_type="1",
                account_number="1234567",
                holder_kana="ｶ)ﾃﾞﾓ",
                updated_at=dt.datetime.now(dt.UTC),
                updated_by="test",
            )
        )
        # A statement and a payout file of tenant A (their making is tested in tests/settlement).
        today = dt.date.today()
        statement = Settlement(
            tenant_id=tenant.id,
            id=f"stl_{tenant.merchant.id[4:]}",
            number=1,
            merchant_id=tenant.merchant.id,
            cycle="weekly",
            period_start=today - dt.timedelta(days=7),
            period_end=today,
            pay_date=today + dt.timedelta(days=7),
            status="calculated",
            **dict.fromkeys(_AMOUNTS, 0),
            terms={},
            calculated_by="system",
        )
        payout_file = PayoutFile(
            tenant_id=tenant.id,
            id=f"pof_{tenant.merchant.id[4:]}",
            pay_date=today + dt.timedelta(days=7),
            status="generated",
            content=b"",
            sha256="0" * 64,
            record_count=0,
            total_amount=0,
            created_by="test",
        )
        s.add_all([statement, payout_file])
    billing_invoice, credit_note = await _platform_invoice_of(db, tenant)
    return {
        "merchant_id": tenant.merchant.id,
        "key_id": next(k.id for k in keys.items if k.role == Role.MERCHANT.value),
        "entry_id": posted.entry.id,
        "screening_id": screening.id,
        "list_entry_id": listed.id,
        "external_id": external.id,
        "endpoint_id": endpoint.endpoint.id,
        "event_id": event.id,
        "order_id": order.id,
        "merchant_order_id": order.merchant_order_id,
        "payment_id": payment.id,
        "file_id": payment_file.id,
        "invoice_id": invoice.id,
        "settlement_id": statement.id,
        "payout_file_id": payout_file.id,
        "billing_invoice_id": billing_invoice,
        "credit_note_id": credit_note,
    }


async def _platform_invoice_of(db, tenant) -> tuple[str, str]:
    """A finalized platform invoice to tenant A, with a credit note (their making is tested in tests/billing)."""
    platform = Principal(api_key_id="test", role=Role.PLATFORM)
    async with db.transaction() as s:
        if (await billing_service.BillingRepository.from_session(s).issuer()) is None:
            await billing_service.put_issuer(
                s, platform, legal_name="P", registration_number="T7123456789012", address="東京"
            )
        plan, _ = await billing_service.create_plan(
            s,
            platform,
            code=f"iso-{tenant.id[-8:].lower()}",
            name="iso",
            kind="base",
            spec=billing_service.VersionSpec("JPY", 1000, 10, []),
        )
    today = dt.datetime.now(dt.UTC).date()
    with freeze_time(dt.datetime(today.year - 1, 1, 1, tzinfo=dt.UTC), real_asyncio=True):
        async with db.transaction() as s:
            await billing_service.subscribe(s, platform, tenant_id=tenant.id, plan_id=plan.id)
    with freeze_time(dt.datetime(today.year - 1, 2, 10, tzinfo=dt.UTC), real_asyncio=True):
        async with db.transaction() as s:
            summary = await billing_service.run_billing(s, dt.date(today.year - 1, 2, 10))
            [invoice] = [i for i in summary.invoices if i.tenant_id == tenant.id]
            note = await billing_service.issue_credit_note(
                s, platform, invoice.id, reason="x", lines=[billing_service.CreditLine("x", 100, 10)]
            )
    return invoice.id, note.id


def _tenant_routes(client):
    for route in client.app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(("/schema", PLATFORM_PREFIX)):
            continue
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            yield method, route.path


async def test_every_route_with_an_id_is_404_for_another_tenant(client, db, tenant_a, tenant_b):
    resources = await _resources_of(db, tenant_a)
    probed = []
    for method, path in _tenant_routes(client):
        params = PARAM.findall(path)
        if not params:
            continue
        missing = [p for p in params if p not in resources]
        assert not missing, f"{method} {path}: add a tenant-A resource for {missing} to this test"
        url = PARAM.sub(lambda m: resources[m.group(1)], path)
        statuses = {}
        for key in (tenant_b.admin_key, tenant_b.finance_key, tenant_b.merchant_key):
            body = next((b for suffix, b in VALID_BODIES.items() if path.endswith(suffix)), {})
            sent = body if method in ("POST", "PATCH", "PUT") else None
            r = await client.request(method, url, headers=bearer(key), json=sent)
            statuses[key[:8]] = r.status_code
        # Every B key either may not call the route at all (403) or does not find A's resource (404).
        assert set(statuses.values()) <= {403, 404}, f"{method} {path}: {statuses}"
        assert 404 in statuses.values(), f"{method} {path}: no key of tenant B reached the lookup: {statuses}"
        probed.append(f"{method} {path}")
    assert len(probed) >= 9, probed


async def test_revoke_of_another_tenants_key_changes_nothing(client, db, tenant_a, tenant_b):
    resources = await _resources_of(db, tenant_a)
    r = await client.post(f"/admin/v1/api-keys/{resources['key_id']}/revoke", headers=bearer(tenant_b.admin_key))
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


async def test_ledger_accounts_show_only_own_tenant(client, db, tenant_a, tenant_b):
    await _resources_of(db, tenant_a)
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
