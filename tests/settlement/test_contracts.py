"""Merchant contracts (admin API): create, read, replace; every bad input is a 422 naming its field and changes
nothing; another tenant's merchant is not found; a replayed PUT is applied once."""

from __future__ import annotations

from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from domain.kit.audit import AuditEvent
from domain.settlement.contracts import contract_of
from tests.fixtures.factories import bearer

BODY: dict[str, Any] = {
    "fee_rate_bp": 290,
    "invoice_fee_separate": 190,
    "cycle": "monthly",
    "bank_code": "0001",
    "branch_code": "001",
    "account_type": "1",
    "account_number": "1234567",
    "holder_kana": "ｶ)ﾔﾏﾀﾞｼﾖｳｼﾞ",
}
REPLACEMENT: dict[str, Any] = {
    "fee_rate_bp": 350,
    "cycle": "twice_monthly",
    "minimum_payout": 1000,
    "advance_on": "shipment",
    "bank_code": "0005",
    "branch_code": "001",
    "account_type": "2",
    "account_number": "7654321",
    "holder_kana": "ﾔﾏﾀﾞ ﾀﾛｳ",
}


def url(tenant, merchant_id: str | None = None) -> str:
    return f"/admin/v1/merchants/{merchant_id or tenant.merchant.id}/contract"


async def put(client, tenant, body: dict[str, Any], *, key: str | None = None, secret: str | None = None):
    headers = bearer(secret or tenant.admin_key) | ({"Idempotency-Key": key} if key else {})
    return await client.put(url(tenant), headers=headers, json=body)


async def audit_events(db, tenant) -> list[AuditEvent]:
    async with db.transaction() as s:
        stmt = (
            select(AuditEvent)
            .where(AuditEvent.tenant_id == tenant.id, AuditEvent.resource_type == "merchant_contract")
            .order_by(AuditEvent.id)
        )
        return list((await s.scalars(stmt)).all())


class TestPutContract:
    async def test_creates_the_contract_with_bank_names(self, client, db, tenant_a):
        with freeze_time("2026-12-01 01:00:00", real_asyncio=True):
            r = await put(client, tenant_a, BODY)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["object"] == "merchant_contract"
        assert got["merchant_id"] == tenant_a.merchant.id
        assert {k: got[k] for k in BODY} == BODY
        assert (got["invoice_fee_enclosed"], got["monthly_fee"], got["transfer_fee"], got["minimum_payout"]) == (
            0,
            0,
            0,
            0,
        )
        assert got["advance_on"] == "arrival"
        assert (got["bank_name"], got["branch_name"]) == ("ﾐｽﾞﾎ", "ﾄｳｷﾖｳ")
        assert got["updated_at"].startswith("2026-12-01T01:00:00")

    async def test_replaces_every_term(self, client, db, tenant_a):
        first = (await put(client, tenant_a, BODY)).json()
        with freeze_time("2026-12-02 03:00:00", real_asyncio=True):
            r = await put(client, tenant_a, REPLACEMENT)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["id"] == first["id"]
        assert {k: got[k] for k in REPLACEMENT} == REPLACEMENT
        assert got["invoice_fee_separate"] == 0  # omitted: back to its default, not kept from the first PUT
        assert (got["bank_name"], got["branch_name"]) == ("ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ", "ﾎﾝﾃﾝ")
        assert got["updated_at"].startswith("2026-12-02T03:00:00")
        again = await client.get(url(tenant_a), headers=bearer(tenant_a.admin_key))
        assert again.json() == got

    async def test_audits_what_changed_without_personal_data(self, client, db, tenant_a):
        await put(client, tenant_a, BODY)
        await put(client, tenant_a, {**BODY, "fee_rate_bp": 300, "account_number": "7654321", "holder_kana": "ﾔﾏﾀﾞ"})
        created, updated = await audit_events(db, tenant_a)
        assert created.action == "merchant_contract.created"
        assert created.data["terms"]["account_number"] == "****567"
        assert updated.action == "merchant_contract.updated"
        assert updated.data["fields"] == ["account_number", "fee_rate_bp", "holder_kana"]
        assert updated.data["changes"] == {
            "fee_rate_bp": {"from": 290, "to": 300},
            "account_number": {"from": "****567", "to": "****321"},
        }
        for event in (created, updated):
            text = repr(event.data)
            assert "1234567" not in text and "7654321" not in text
            assert "ﾔﾏﾀﾞ" not in text

    async def test_the_same_terms_again_change_nothing(self, client, db, tenant_a):
        with freeze_time("2026-12-01 01:00:00", real_asyncio=True):
            first = (await put(client, tenant_a, BODY)).json()
        with freeze_time("2026-12-05 01:00:00", real_asyncio=True):
            r = await put(client, tenant_a, BODY)
        assert r.status_code == 200
        assert r.json() == first
        assert [e.action for e in await audit_events(db, tenant_a)] == ["merchant_contract.created"]

    async def test_a_replayed_put_is_applied_once(self, client, db, tenant_a):
        first = await put(client, tenant_a, BODY, key="contract-1")
        again = await put(client, tenant_a, BODY, key="contract-1")
        assert again.status_code == 200
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json() == first.json()
        other = await put(client, tenant_a, REPLACEMENT, key="contract-1")
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"
        assert (await client.get(url(tenant_a), headers=bearer(tenant_a.admin_key))).json() == first.json()
        assert len(await audit_events(db, tenant_a)) == 1

    async def test_a_merchant_key_and_a_finance_key_are_forbidden(self, client, tenant_a):
        for secret in (tenant_a.merchant_key, tenant_a.finance_key):
            assert (await put(client, tenant_a, BODY, secret=secret)).status_code == 403
            assert (await client.get(url(tenant_a), headers=bearer(secret))).status_code == 403
        r = await client.get(url(tenant_a), headers=bearer(tenant_a.admin_key))
        assert r.json()["code"] == "contract_not_found"


BAD_INPUT = [
    pytest.param({"bank_code": "9999"}, "#/bank_code", "no such bank", id="unknown-bank"),
    pytest.param({"branch_code": "999"}, "#/branch_code", "no such branch", id="unknown-branch"),
    pytest.param({"bank_code": "12"}, "#/bank_code", "", id="bank-code-not-4-digits"),
    pytest.param({"branch_code": "0010"}, "#/branch_code", "", id="branch-code-not-3-digits"),
    pytest.param({"holder_kana": "山田商事"}, "#/holder_kana", "kanji need their kana reading", id="kanji"),
    pytest.param({"holder_kana": "ｼｮｳｼﾞ"}, "#/holder_kana", "'ｼﾖｳｼﾞ'", id="small-kana"),
    pytest.param({"holder_kana": "ﾔﾏﾀﾞｰ"}, "#/holder_kana", "'ﾔﾏﾀﾞ-'", id="long-vowel-mark"),
    pytest.param({"holder_kana": "ｦﾀﾞ"}, "#/holder_kana", "'ｦ'", id="wo"),
    pytest.param({"holder_kana": "ヤマダ"}, "#/holder_kana", "'ﾔﾏﾀﾞ'", id="full-width"),
    pytest.param({"holder_kana": "ｱ" * 31}, "#/holder_kana", "31 bytes", id="over-30-bytes"),
    pytest.param({"holder_kana": "   "}, "#/holder_kana", "empty", id="blank"),
    pytest.param({"fee_rate_bp": "290"}, "#/fee_rate_bp", "", id="rate-as-string"),
    pytest.param({"fee_rate_bp": 290.5}, "#/fee_rate_bp", "", id="rate-fractional"),
    pytest.param({"fee_rate_bp": -1}, "#/fee_rate_bp", "", id="rate-negative"),
    pytest.param({"fee_rate_bp": True}, "#/fee_rate_bp", "", id="rate-boolean"),
    pytest.param({"fee_rate_bp": 10_001}, "#/fee_rate_bp", "", id="rate-over-100-percent"),
    pytest.param({"monthly_fee": -1}, "#/monthly_fee", "", id="fee-negative"),
    pytest.param({"cycle": "daily"}, "#/cycle", "", id="unknown-cycle"),
    pytest.param({"account_type": 1}, "#/account_type", "", id="account-type-as-number"),
    pytest.param({"account_type": "3"}, "#/account_type", "", id="unknown-account-type"),
    pytest.param({"account_number": "123456"}, "#/account_number", "", id="account-number-not-7-digits"),
    pytest.param({"advance_on": "payment"}, "#/advance_on", "", id="unknown-advance-on"),
    pytest.param({"iban": "DE00"}, "#/iban", "", id="unknown-field"),
]


class TestBadInput:
    @pytest.mark.parametrize(("change", "pointer", "detail"), BAD_INPUT)
    async def test_is_a_422_naming_the_field_on_create(self, client, db, tenant_a, change, pointer, detail):
        r = await put(client, tenant_a, {**BODY, **change})
        assert r.status_code == 422, r.text
        errors = r.json()["errors"]
        assert [e["pointer"] for e in errors] == [pointer], errors
        assert detail in errors[0]["detail"]
        assert (await client.get(url(tenant_a), headers=bearer(tenant_a.admin_key))).status_code == 404
        assert await audit_events(db, tenant_a) == []

    @pytest.mark.parametrize(("change", "pointer", "detail"), BAD_INPUT)
    async def test_changes_nothing_on_replace(self, client, db, tenant_a, change, pointer, detail):
        before = (await put(client, tenant_a, BODY)).json()
        r = await put(client, tenant_a, {**REPLACEMENT, **change})
        assert r.status_code == 422, r.text
        assert pointer in [e["pointer"] for e in r.json()["errors"]]
        assert (await client.get(url(tenant_a), headers=bearer(tenant_a.admin_key))).json() == before
        assert len(await audit_events(db, tenant_a)) == 1

    async def test_every_bad_account_field_is_named_at_once(self, client, tenant_a):
        r = await put(client, tenant_a, {**BODY, "bank_code": "9999", "holder_kana": "山田商事"})
        assert r.status_code == 422
        assert r.json()["code"] == "invalid_bank_account"
        assert [e["pointer"] for e in r.json()["errors"]] == ["#/bank_code", "#/holder_kana"]

    @pytest.mark.parametrize("field", ["fee_rate_bp", "cycle", "bank_code", "account_number", "holder_kana"])
    async def test_a_required_field_missing_is_named(self, client, tenant_a, field):
        body = {k: v for k, v in BODY.items() if k != field}
        r = await put(client, tenant_a, body)
        assert r.status_code == 422
        assert [e["pointer"] for e in r.json()["errors"]] == [f"#/{field}"]


class TestTenancy:
    async def test_another_tenants_merchant_is_not_found(self, client, db, tenant_a, tenant_b):
        mine = (await put(client, tenant_a, BODY)).json()
        r = await client.put(url(tenant_a), headers=bearer(tenant_b.admin_key), json=REPLACEMENT)
        assert r.status_code == 404
        assert r.json()["code"] == "merchant_not_found"
        r = await client.get(url(tenant_a), headers=bearer(tenant_b.admin_key))
        assert r.status_code == 404
        assert r.json()["code"] == "merchant_not_found"
        assert (await client.get(url(tenant_a), headers=bearer(tenant_a.admin_key))).json() == mine
        assert await audit_events(db, tenant_b) == []

    async def test_an_unknown_merchant_is_not_found(self, client, tenant_a):
        r = await client.get(url(tenant_a, "mch_nope"), headers=bearer(tenant_a.admin_key))
        assert r.status_code == 404
        assert r.json()["code"] == "merchant_not_found"

    async def test_a_merchant_key_of_another_tenant_is_forbidden(self, client, tenant_a, tenant_b):
        r = await client.put(url(tenant_a), headers=bearer(tenant_b.merchant_key), json=BODY)
        assert r.status_code == 403


class TestContractOf:
    async def test_answers_the_contract_in_force_for_the_settlement_engine(self, client, db, tenant_a, tenant_b):
        async with db.transaction() as s:
            assert await contract_of(s, tenant_a.id, tenant_a.merchant.id) is None
        await put(client, tenant_a, BODY)
        await put(client, tenant_a, REPLACEMENT)
        async with db.transaction() as s:
            contract = await contract_of(s, tenant_a.id, tenant_a.merchant.id)
            assert contract is not None
            assert (contract.fee_rate_bp, contract.cycle, contract.bank_code) == (350, "twice_monthly", "0005")
            assert await contract_of(s, tenant_b.id, tenant_a.merchant.id) is None
