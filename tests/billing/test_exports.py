"""Platform-billing exports over HTTP: golden files of the invoice register (UTF-8 with BOM and CP932), every
report's rows on a hand-computed November, XLSX read back, JST edges of the usage detail, the operator's own rows
only, and bad parameters as 422s naming them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path

import openpyxl
import pytest
from freezegun import freeze_time

from billing import service
from domain.kit.tenancy import Role
from tests.billing.helpers import PLATFORM, invoice_of, issuer, jst, plan, run, subscribe, usage
from tests.fixtures.factories import bearer, create_key

GOLDEN = Path(__file__).parent / "golden"
NOV = dt.date(2026, 11, 1)


@pytest.fixture
async def billed(db, tenant_a, tenant_b):
    """November billed for A (1,350 screenings: ¥5,940) and B (none: ¥4,400); a ¥105 × 3 credit note on A's and a
    ¥3,000 payment of B's."""
    await issuer(db)
    made, _ = await plan(db)
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        await subscribe(db, tenant_a.id, made.id, NOV)
        await subscribe(db, tenant_b.id, made.id, NOV)
    await usage(db, tenant_a.id, 1_349, jst(2026, 11, 11))
    await usage(db, tenant_a.id, 1, jst(2026, 11, 30, 23, 59, 59))
    await usage(db, tenant_a.id, 4, jst(2026, 12, 1, 0, 0, 0))  # December's
    with freeze_time("2026-12-04 00:00:00", real_asyncio=True):
        await run(db, dt.date(2026, 12, 4))
    a, b = await invoice_of(db, tenant_a.id, NOV), await invoice_of(db, tenant_b.id, NOV)
    async with db.transaction() as s:
        await service.issue_credit_note(
            s,
            PLATFORM,
            a.invoice.id,
            reason="障害",
            lines=[service.CreditLine("値引き", 105, 10)] * 3,
            issue_date=dt.date(2026, 12, 10),
        )
        await service.record_payment(s, PLATFORM, b.invoice.id, amount=3_000, paid_on=dt.date(2026, 12, 20))
    return a, b


async def download(client, key: str, **params) -> bytes:
    r = await client.get("/platform/v1/exports/billing", headers=bearer(key), params=params)
    assert r.status_code == 200, r.text
    return r.content


def rows_of(body: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode(encoding), newline="")))


def normalise(body: bytes, a, b, tenant_a, tenant_b) -> bytes:
    """The generated ids replaced by stable names, so the rest compares byte for byte."""
    for old, new in (
        (a.invoice.id, "binv_A"),
        (b.invoice.id, "binv_B"),
        (tenant_a.id, "opr_A"),
        (tenant_b.id, "opr_B"),
    ):
        body = body.replace(old.encode(), new.encode())
    return body


class TestInvoiceRegister:
    @pytest.mark.parametrize(
        ("encoding", "golden"), [("utf-8-bom", "invoices_utf8_bom.csv"), ("cp932", "invoices_cp932.csv")]
    )
    async def test_golden(self, client, db, billed, platform_key, tenant_a, tenant_b, encoding, golden):
        body = await download(
            client, platform_key, report="invoices", **{"from": "2026-12-01", "to": "2026-12-31"}, encoding=encoding
        )
        assert body.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-bom")
        got = normalise(body, *billed, tenant_a, tenant_b)
        if os.environ.get("BNPL_UPDATE_GOLDEN"):  # regenerate after a deliberate change, then review the diff
            (GOLDEN / golden).write_bytes(got)
        assert got == (GOLDEN / golden).read_bytes()

    async def test_xlsx_numbers_are_numbers(self, client, db, billed, platform_key):
        body = await download(
            client, platform_key, report="invoices", format="xlsx", **{"from": "2026-12-01", "to": "2026-12-31"}
        )
        book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
        sheet = book.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == "請求書番号" and len(rows) == 3
        totals = {r[0]: (r[13], r[17]) for r in rows[1:]}  # 合計 (税込), 残高  # 合計 (税込), 残高
        assert totals == {"INV-00000001": (5_940, 5_594), "INV-00000002": (4_400, 1_400)}
        assert "条件" in book.sheetnames


class TestReports:
    async def test_lines_usage_credit_notes_revenue_aging_and_kpis(self, client, db, billed, platform_key, tenant_a):
        pfin = await create_key(db, Role.PLATFORM_FINANCE)
        period = {"from": "2026-12-01", "to": "2026-12-31"}
        lines = rows_of(await download(client, pfin, report="invoice-lines", **period))
        assert [(r[0], r[4], r[10], r[12]) for r in lines[1:]] == [
            ("INV-00000001", "月額利用料", "1", "4000"),
            ("INV-00000001", "従量料金", "350", "1400"),
            ("INV-00000002", "月額利用料", "1", "4000"),
        ]
        usage_rows = rows_of(
            await download(
                client, pfin, report="usage", operator_id=tenant_a.id, **{"from": "2026-11-30", "to": "2026-11-30"}
            )
        )
        assert [r[4] for r in usage_rows[1:]] == ["2026-11-30 23:59:59"]  # JST; 00:00 on 12-01 is not in
        assert (
            len(rows_of(await download(client, pfin, report="usage", **{"from": "2026-11-01", "to": "2026-12-31"})))
            == 1 + 1_354
        )
        notes = rows_of(await download(client, pfin, report="credit-notes", **period))
        assert [(r[0], r[2], r[3], r[6], r[7], r[14], r[15]) for r in notes[1:]] == [
            ("CN-00000001", "INV-00000001", "2026-11", "315", "31", "346", "不要 (1万円未満)")
        ]
        revenue = rows_of(await download(client, pfin, report="revenue", **period))
        assert [tuple(r) for r in revenue[1:]] == [
            ("2026-12", "月額利用料", "2", "8000", "0"),
            ("2026-12", "従量料金", "1", "1400", "0"),
            ("2026-12", "値引・返還 (返還請求書)", "1", "-315", "-31"),
            ("2026-12", "合計 (請求)", "2", "9400", "940"),
        ]
        aging = rows_of(await download(client, pfin, report="ar-aging", **{"from": "2027-01-01", "to": "2027-01-15"}))
        by_operator = {r[0]: r[2:] for r in aging[1:]}
        # Due 2026-12-31; as of 2027-01-15 both are 15 days late.
        assert by_operator[tenant_a.id] == ["1", "5594", "0", "5594", "0", "0", "0"]
        kpis = rows_of(await download(client, pfin, report="kpis", **{"from": "2026-11-01", "to": "2026-12-31"}))
        assert [(r[0], r[1], r[2], r[6], r[11]) for r in kpis[1:]] == [
            ("2026-11", "0", "8000", "8000", "1350"),
            ("2026-12", "8000", "0", "8000", "4"),
        ]


class TestTenancyAndBadInput:
    async def test_an_operator_exports_its_own_rows_only(self, client, db, billed, tenant_a, tenant_b):
        period = {"from": "2026-11-01", "to": "2026-12-31"}
        for report, expected in (("invoices", 1), ("usage", 1_354), ("credit-notes", 1)):
            r = await client.get(
                "/admin/v1/billing/exports", headers=bearer(tenant_a.finance_key), params={"report": report, **period}
            )
            assert r.status_code == 200, r.text
            assert len(rows_of(r.content)) == 1 + expected
            assert tenant_b.id.encode() not in r.content
        r = await client.get(
            "/admin/v1/billing/exports", headers=bearer(tenant_b.finance_key), params={"report": "usage", **period}
        )
        assert len(rows_of(r.content)) == 1 and tenant_a.id.encode() not in r.content
        # The platform-wide reports and the platform surface are not the operator's.
        r = await client.get(
            "/admin/v1/billing/exports", headers=bearer(tenant_a.finance_key), params={"report": "revenue", **period}
        )
        assert (r.status_code, r.json()["errors"][0]["pointer"]) == (422, "query:report")
        r = await client.get(
            "/platform/v1/exports/billing",
            headers=bearer(tenant_a.finance_key),
            params={"report": "invoices", "operator_id": tenant_b.id, **period},
        )
        assert r.status_code == 403
        r = await client.get(
            "/admin/v1/billing/exports", headers=bearer(tenant_a.merchant_key), params={"report": "usage", **period}
        )
        assert r.status_code == 403

    @pytest.mark.parametrize(
        ("params", "pointer", "status"),
        [
            ({"report": "nope"}, "query:report", 422),
            ({"report": "invoices", "from": "2026-12-31", "to": "2026-12-01"}, "query:to", 422),
            ({"report": "invoices", "to": None}, "query:to", 422),
            ({"report": "invoices", "from": "2026-13-01"}, "query:from", 422),
            ({"report": "invoices", "encoding": "latin-1"}, "query:encoding", 422),
            ({"report": "invoices", "format": "pdf"}, "query:format", 422),
            ({"report": "invoices", "from": "2025-01-01", "to": "2026-12-31"}, "query:to", 422),
        ],
    )
    async def test_bad_parameters(self, client, platform_key, params, pointer, status):
        base = {"from": "2026-12-01", "to": "2026-12-31"}
        query = {k: v for k, v in {**base, **params}.items() if v is not None}
        r = await client.get("/platform/v1/exports/billing", headers=bearer(platform_key), params=query)
        assert r.status_code == status, r.text
        assert pointer in [e["pointer"] for e in r.json()["errors"]], r.json()

    async def test_unknown_operator_is_404(self, client, platform_key):
        r = await client.get(
            "/platform/v1/exports/billing",
            headers=bearer(platform_key),
            params={"report": "invoices", "from": "2026-12-01", "to": "2026-12-31", "operator_id": "opr_nope"},
        )
        assert r.status_code == 404


async def test_bnpl_exports_billing_writes_the_same_rows_as_the_api(committed_db, tmp_path):
    """The CLI from a shell: the credit-notes report of every operator to a file, and one operator's invoices."""
    import asyncio

    from click.testing import CliRunner

    from app.cli import cli
    from tests.fixtures.factories import create_tenant

    tenant = await create_tenant(committed_db, "Gamma BNPL")
    await issuer(committed_db)
    made, _ = await plan(committed_db)
    with freeze_time("2026-11-01 00:00:00", real_asyncio=True):
        await subscribe(committed_db, tenant.id, made.id, NOV)
    with freeze_time("2026-12-04 00:00:00", real_asyncio=True):
        await run(committed_db, dt.date(2026, 12, 4))

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["exports", "billing", *args, "--from", "2026-12-01", "--to", "2026-12-31"])

    out = tmp_path / "seikyu.csv"
    result = await asyncio.to_thread(invoke, "invoices", "--operator", tenant.id, "--out", str(out))
    assert result.exit_code == 0, result.output
    [header, row] = rows_of(out.read_bytes())
    assert (header[0], row[0], row[2], row[13]) == ("請求書番号", "INV-00000001", tenant.id, "4400")
    result = await asyncio.to_thread(invoke, "invoices", "--encoding", "cp932", "--out", "-")
    assert result.exit_code == 0 and "INV-00000001" in result.stdout_bytes.decode("cp932")
    result = await asyncio.to_thread(invoke, "invoices", "--operator", "opr_nope", "--out", "-")
    assert result.exit_code != 0 and "opr_nope" in result.output


@pytest.mark.postgres_only
@pytest.mark.parametrize(("encoding", "header"), [("utf-8-bom", "ja"), ("cp932", "ja"), ("utf-8", "key")])
async def test_the_usage_copy_path_writes_the_same_bytes_as_the_rendered_rows(db, tenant_a, encoding, header):
    """On PostgreSQL the usage detail is written by COPY; it must equal the generic rendering byte for byte: JST
    seconds, the formula guard, RFC 4180 quoting, CRLF, the BOM and the header."""
    from sqlalchemy import insert

    from billing import exports
    from billing.metering import UsageEvent
    from domain.kit.tabular import csv_chunks

    await usage(db, tenant_a.id, 3, jst(2026, 11, 30, 23, 59, 59, 999_999))
    await usage(db, tenant_a.id, 2, jst(2026, 11, 1, 0, 0, 0))
    odd = ["=SUM(A1)", "+1", "-2", "@x", 'a,"b"', "plain"]
    async with db.transaction() as s:
        await s.execute(
            insert(UsageEvent),
            [
                {
                    "tenant_id": tenant_a.id,
                    "id": f"use_odd{i:02d}",
                    "kind": "omotion_check",
                    "source_id": key,
                    "occurred_at": jst(2026, 11, 15, 9, 30, i),
                    "quantity": i + 1,
                }
                for i, key in enumerate(odd)
            ],
        )
    start, end = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
    for tenant in (tenant_a.id, None):
        async with db.transaction() as s:
            copied = b"".join(
                [
                    c
                    async for c in exports.usage_csv_copy(
                        s, PLATFORM, start, end, tenant, encoding=encoding, header=header
                    )
                ]
            )
            rows = exports.usage_rows(s, PLATFORM, start, end, tenant)
            rendered = b"".join(
                [c async for c in csv_chunks(exports.USAGE.columns, rows, encoding=encoding, header=header)]
            )
        assert copied == rendered
    assert b"'=SUM(A1)" in copied and b'"a,""b"""' in copied and b",2026-11-30 23:59:59," in copied
    assert copied.count(b"\r\n") == 1 + 11 and b"\n" not in copied.replace(b"\r\n", b"")


async def test_bnpl_exports_billing_usage_counts_its_rows(committed_db, tmp_path):
    """The usage detail from a shell (COPY on PostgreSQL, rendered rows on SQLite): rows, JST, the summary line."""
    import asyncio

    from click.testing import CliRunner

    from app.cli import cli
    from tests.fixtures.factories import create_tenant

    tenant = await create_tenant(committed_db, "Delta BNPL")
    await usage(committed_db, tenant.id, 25, jst(2026, 11, 30, 23, 59, 59))
    await usage(committed_db, tenant.id, 4, jst(2026, 12, 1, 0, 0, 0))
    out = tmp_path / "riyou.csv"
    args = ["exports", "billing", "usage", "--from", "2026-11-01", "--to", "2026-11-30", "--out", str(out)]
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output
    [header, *rows] = rows_of(out.read_bytes())
    assert (header[4], len(rows), {r[4] for r in rows}) == ("発生日時 (JST)", 25, {"2026-11-30 23:59:59"})
    assert "利用明細: 25 rows" in result.stderr
