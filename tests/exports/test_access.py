"""Who may export what, and bad parameters refused with a 422 naming the parameter before anything is streamed."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import OperationalError

from domain.kit.errors import PermissionDenied
from domain.kit.tenancy import Principal, Role
from domain.ledger.export import JournalExportRepository, stream_entries
from tests.exports.conftest import NOVEMBER, add_statements, golden, post_fixed_journal, rows_of
from tests.fixtures.factories import bearer

PATHS = ["/admin/v1/exports/journal", "/admin/v1/exports/settlements"]


@pytest.mark.parametrize("preset", ["generic", "yayoi", "mf", "freee"])
async def test_another_tenants_finance_key_never_sees_the_journal(client, db, tenant_a, tenant_b, preset):
    journal_a = await post_fixed_journal(db, tenant_a)
    journal_b = await post_fixed_journal(db, tenant_b)
    r = await client.get(f"{PATHS[0]}?preset={preset}&{NOVEMBER}", headers=bearer(tenant_b.finance_key))
    assert r.status_code == 200
    for real in journal_a.names:
        assert real.encode() not in r.content
    # Exactly tenant B's own two entries: the golden file, with B's ids.
    name = {"generic": "journal_generic_ja_utf-8-bom.csv"}.get(preset, f"journal_{preset}_cp932.csv")
    assert journal_b.normalise(r.content) == golden(name)


async def test_another_tenants_key_never_sees_the_statements(client, db, tenant_a, tenant_b):
    await add_statements(db, tenant_a)
    r = await client.get(f"{PATHS[1]}?{NOVEMBER}", headers=bearer(tenant_b.finance_key))
    assert r.status_code == 200
    assert rows_of(r.content, "utf-8-sig")[1:] == []
    assert b"stl_golden" not in r.content


@pytest.mark.parametrize("path", PATHS)
async def test_merchant_keys_may_not_export(client, tenant_a, path):
    r = await client.get(f"{path}?{NOVEMBER}", headers=bearer(tenant_a.merchant_key))
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("path", PATHS)
async def test_no_key_no_export(client, path):
    assert (await client.get(f"{path}?{NOVEMBER}")).status_code == 401


async def test_the_journal_is_not_a_merchants_even_in_the_domain(db, tenant_a):
    merchant = Principal(api_key_id="x", role=Role.MERCHANT, tenant_id=tenant_a.id, merchant_id=tenant_a.merchant.id)
    async with db.transaction() as s:
        with pytest.raises(PermissionDenied):
            async for _ in stream_entries(s, merchant, dt.date(2026, 11, 1), dt.date(2026, 11, 30)):
                pass


@pytest.mark.parametrize(
    ("query", "pointer", "code"),
    [
        ("preset=sage&from=2026-11-01&to=2026-11-30", "query:preset", "enum"),
        ("from=2026-11-30&to=2026-11-01", "query:to", "range"),
        ("from=2026-01-01&to=2027-01-02", "query:to", "too_long"),
        ("from=2026-13-01&to=2026-12-31", "query:from", "invalid"),
        ("from=2026-11-01&to=2026-02-30", "query:to", "invalid"),
        ("from=20261101&to=2026-11-30", "query:from", "invalid"),
        ("to=2026-11-30", "query:from", "missing"),
        ("from=2026-11-01", "query:to", "missing"),
        ("from=2026-11-01&to=2026-11-30&format=pdf", "query:format", "enum"),
        ("from=2026-11-01&to=2026-11-30&encoding=latin-1", "query:encoding", "enum"),
        ("from=2026-11-01&to=2026-11-30&preset=yayoi&encoding=utf-8-bom", "query:encoding", "enum"),
        ("from=2026-11-01&to=2026-11-30&preset=mf&encoding=utf-8-bom", "query:encoding", "enum"),
        ("from=2026-11-01&to=2026-11-30&preset=yayoi&header=ja", "query:header", "enum"),
        ("from=2026-11-01&to=2026-11-30&header=none", "query:header", "enum"),
        ("from=2026-11-01&to=2026-11-30&format=xlsx&encoding=cp932", "query:encoding", "enum"),
        ("from=2026-11-01&to=2026-11-30&format=xlsx&header=key", "query:header", "enum"),
    ],
)
async def test_bad_journal_parameters_are_422_naming_the_parameter(client, tenant_a, query, pointer, code):
    r = await client.get(f"{PATHS[0]}?{query}", headers=bearer(tenant_a.finance_key))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "validation_error"
    assert [(e["pointer"], e["code"]) for e in body["errors"]] == [(pointer, code)]


@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        ("from=2026-11-30&to=2026-11-29", "query:to"),
        ("from=2025-11-30&to=2026-12-01", "query:to"),
        ("from=x&to=2026-11-30", "query:from"),
        ("from=2026-11-01&to=2026-11-30&encoding=sjis", "query:encoding"),
        ("from=2026-11-01&to=2026-11-30&format=json", "query:format"),
    ],
)
async def test_bad_settlement_parameters_are_422_naming_the_parameter(client, tenant_a, query, pointer):
    r = await client.get(f"{PATHS[1]}?{query}", headers=bearer(tenant_a.admin_key))
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == [pointer]


async def test_a_leap_year_is_the_longest_range(client, tenant_a):
    r = await client.get(f"{PATHS[0]}?from=2028-01-01&to=2028-12-31", headers=bearer(tenant_a.finance_key))
    assert r.status_code == 200  # 366 days


async def test_a_failure_before_the_first_byte_is_a_problem_not_a_truncated_file(client, tenant_a, monkeypatch):
    async def unavailable(self, *args, **kwargs):
        raise OperationalError("SELECT …", {}, ConnectionError("connection refused"))
        yield  # an async generator, like the real one

    monkeypatch.setattr(JournalExportRepository, "stream", unavailable)
    r = await client.get(f"{PATHS[0]}?{NOVEMBER}", headers=bearer(tenant_a.finance_key))
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "connection refused" not in r.text
