"""The settlement statements export: golden files, the cut-off range, the merchant's statements, XLSX."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest

from domain.kit.tenancy import Principal, Role
from domain.settlement.export import SETTLEMENT_COLUMNS, settlement_rows
from tests.exports.conftest import NOVEMBER, golden, rows_of
from tests.fixtures.factories import bearer

SETTLEMENTS = "/admin/v1/exports/settlements"


@pytest.mark.parametrize(
    ("query", "name"),
    [("", "settlements_ja_utf-8-bom.csv"), ("&header=key&encoding=cp932", "settlements_key_cp932.csv")],
)
async def test_golden_files(client, tenant_a, statements_a, query, name):
    r = await client.get(f"{SETTLEMENTS}?{NOVEMBER}{query}", headers=bearer(tenant_a.finance_key))
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="settlements-2026-11-01-2026-11-30.csv"'
    assert statements_a.normalise(r.content) == golden(name)


async def test_the_range_is_of_cut_offs_both_ends_included(client, tenant_a, statements_a):
    async def numbers(query: str) -> list[str]:
        r = await client.get(f"{SETTLEMENTS}?{query}", headers=bearer(tenant_a.admin_key))
        return [row[0] for row in rows_of(r.content, "utf-8-sig")[1:]]

    assert await numbers("from=2026-11-06&to=2026-11-13") == ["1", "2"]
    assert await numbers("from=2026-11-07&to=2026-12-04") == ["2", "3"]
    assert await numbers("from=2026-11-14&to=2026-12-03") == []


async def test_a_merchant_principal_reads_only_its_own_statements(db, tenant_a, statements_a):
    merchant = Principal(api_key_id="test", role=Role.MERCHANT, tenant_id=tenant_a.id, merchant_id=tenant_a.merchant.id)
    async with db.transaction() as s:
        rows = [row async for row in settlement_rows(s, merchant, dt.date(2026, 1, 1), dt.date(2026, 12, 31))]
    assert [(row[0], row[2]) for row in rows] == [(1, tenant_a.merchant.id), (3, tenant_a.merchant.id)]
    assert all(len(row) == len(SETTLEMENT_COLUMNS) for row in rows)


async def test_xlsx(client, tenant_a, statements_a):
    r = await client.get(f"{SETTLEMENTS}?{NOVEMBER}&format=xlsx", headers=bearer(tenant_a.finance_key))
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["精算書", "条件"]
    rows = list(book["精算書"].iter_rows(values_only=True))
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    assert first["締日"] == dt.datetime(2026, 11, 6)
    assert first["振込額"] == 90_200 and first["取引件数"] == 2
    assert first["承認日時"] == dt.datetime(2026, 11, 9, 10, 0)  # JST
    second = dict(zip(header, rows[2], strict=True))
    # XLSX keeps text as text: no apostrophe needed, none added.
    assert second["加盟店名"] == "+Plus shop" and second["次回繰越"] == -330 and second["承認日時"] is None
    assert dict(list(book["条件"].iter_rows(values_only=True))[1:])["帳票"] == "加盟店精算書一覧"
