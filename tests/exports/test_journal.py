"""The journal export through the admin API: golden files per preset and encoding, 伝票 that balance, the date
range, currencies, the operator's tax model, CP932 replacement, BOMs, the formula guard and XLSX."""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict

import openpyxl
import pytest

from domain.checkout.service import set_policy
from domain.kit.money import Money
from domain.ledger import credit, debit, post_entry
from tests.exports.conftest import NOVEMBER, golden, rows_of
from tests.fixtures.factories import bearer

JOURNAL = "/admin/v1/exports/journal"


async def _get(client, tenant, query: str, *, key: str = "finance"):
    secret = tenant.finance_key if key == "finance" else tenant.admin_key
    return await client.get(f"{JOURNAL}?{query}", headers=bearer(secret))


@pytest.mark.parametrize(
    ("query", "name", "content_type"),
    [
        ("preset=generic", "journal_generic_ja_utf-8-bom.csv", "text/csv; charset=utf-8"),
        ("preset=generic&header=key&encoding=utf-8", "journal_generic_key_utf-8.csv", "text/csv; charset=utf-8"),
        ("preset=generic&encoding=cp932", "journal_generic_ja_cp932.csv", "text/csv; charset=Windows-31J"),
        ("preset=yayoi", "journal_yayoi_cp932.csv", "text/csv; charset=Windows-31J"),
        ("preset=mf", "journal_mf_cp932.csv", "text/csv; charset=Windows-31J"),
        ("preset=mf&encoding=utf-8", "journal_mf_utf-8.csv", "text/csv; charset=utf-8"),
        ("preset=freee", "journal_freee_cp932.csv", "text/csv; charset=Windows-31J"),
        ("preset=freee&encoding=utf-8", "journal_freee_utf-8.csv", "text/csv; charset=utf-8"),
    ],
)
async def test_golden_files(client, tenant_a, journal_a, query, name, content_type):
    r = await _get(client, tenant_a, f"{query}&{NOVEMBER}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == content_type
    preset = dict(p.split("=") for p in query.split("&"))["preset"]
    assert r.headers["content-disposition"] == f'attachment; filename="journal-{preset}-2026-11-01-2026-11-30.csv"'
    assert journal_a.normalise(r.content) == golden(name)


async def test_an_admin_key_exports_too_and_the_range_includes_both_ends(client, tenant_a, journal_a):
    r = await _get(client, tenant_a, "preset=generic&header=key&from=2026-11-02&to=2026-11-06", key="admin")
    assert r.status_code == 200
    ids = [row[0] for row in rows_of(journal_a.normalise(r.content), "utf-8-sig")[1:]]
    assert ids == ["jnl_E1", "jnl_E1", "jnl_E2", "jnl_E2", "jnl_E2"]
    r = await _get(client, tenant_a, "preset=generic&from=2026-10-31&to=2026-10-31")
    assert [row[0] for row in rows_of(journal_a.normalise(r.content), "utf-8-sig")[1:]] == ["jnl_BEFORE"] * 2
    r = await _get(client, tenant_a, "preset=generic&from=2026-11-03&to=2026-11-05")
    assert rows_of(r.content, "utf-8-sig")[1:] == []


async def _post_varied_journal(db, tenant_id):
    """Entries of every shape: 1/1, 1/2, 2/1, 2/2, 3/1 debits/credits, and one in dollars."""
    jpy = lambda n: Money(n, "JPY")  # noqa: E731
    shapes = [
        [debit("bank", jpy(500)), credit("consumer_receivable", jpy(500))],
        [
            debit("merchant_payable", jpy(1_100)),
            credit("merchant_fee_revenue", jpy(1_000)),
            credit("output_consumption_tax", jpy(100)),
        ],
        [debit("bank", jpy(700)), debit("fees_paid", jpy(30)), credit("consumer_receivable", jpy(730))],
        [
            debit("bank", jpy(900)),
            debit("fees_paid", jpy(100)),
            credit("consumer_receivable", jpy(950)),
            credit("misc_income", jpy(50)),
        ],
        [
            debit("bad_debt_expense", jpy(10)),
            debit("allowance_for_doubtful", jpy(20)),
            debit("fees_paid", jpy(30)),
            credit("consumer_receivable", jpy(60)),
        ],
    ]  # fmt: skip
    async with db.transaction() as s:
        for i, lines in enumerate(shapes):
            await post_entry(s, tenant_id, kind=f"test.shape{i}", effective_date=dt.date(2026, 11, 10 + i), lines=lines)
        await post_entry(
            s,
            tenant_id,
            kind="test.usd",
            effective_date=dt.date(2026, 11, 20),
            lines=[debit("bank", Money(1_999, "USD")), credit("suspense", Money(1_999, "USD"))],
        )


# (preset, slip column, debit amount column, credit amount column, debit account, credit account, header rows)
TOOL_LAYOUTS = [("yayoi", 1, 8, 14, 4, 10, 0), ("mf", 0, 8, 16, 2, 10, 1), ("freee", 0, 3, 6, 2, 5, 1)]


@pytest.mark.parametrize(("preset", "slip", "dr", "cr", "dr_account", "cr_account", "skip"), TOOL_LAYOUTS)
async def test_every_tool_preset_balances_per_slip(
    client, db, tenant_a, journal_a, preset, slip, dr, cr, dr_account, cr_account, skip
):
    await _post_varied_journal(db, tenant_a.id)
    r = await _get(client, tenant_a, f"preset={preset}&{NOVEMBER}")
    rows = rows_of(r.content, "cp932")[skip:]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        # An empty side carries no account, and no amount (yayoi writes 0, the others leave it empty).
        assert row[dr_account] or row[dr] in ("", "0"), row
        assert row[cr_account] or row[cr] in ("", "0"), row
        totals[row[slip]][0] += int(row[dr] or 0)
        totals[row[slip]][1] += int(row[cr] or 0)
    # Two fixed entries and five varied ones (the dollar entry is not for the yen-only tools).
    assert list(totals) == [str(n) for n in range(1, 8)]
    assert all(d == c for d, c in totals.values()), dict(totals)
    assert sum(d for d, _ in totals.values()) == 12_800 + 4_000 + 500 + 1_100 + 730 + 1_000 + 60
    # A slip has as many rows as its longer side: 1, 2, 2, 2, 3 for the varied entries.
    per_slip = [sum(1 for row in rows if row[slip] == str(n)) for n in range(1, 8)]
    assert per_slip == [1, 2, 1, 2, 2, 2, 3]


async def test_yayoi_flags_mark_single_and_compound_slips(client, db, tenant_a, journal_a):
    await _post_varied_journal(db, tenant_a.id)
    rows = rows_of((await _get(client, tenant_a, f"preset=yayoi&{NOVEMBER}")).content, "cp932")
    assert all(len(row) == 25 for row in rows)
    flags = [(row[1], row[0]) for row in rows]
    assert flags == [
        ("1", "2000"),
        ("2", "2110"),
        ("2", "2101"),
        ("3", "2000"),
        ("4", "2110"),
        ("4", "2101"),
        ("5", "2110"),
        ("5", "2101"),
        ("6", "2110"),
        ("6", "2101"),
        ("7", "2110"),
        ("7", "2100"),
        ("7", "2101"),
    ]
    # The 3-debit/1-credit slip: the credit on the first row, the other rows' credit side empty with amount 0.
    assert [(row[4], row[8], row[10], row[14]) for row in rows[-3:]] == [
        ("貸倒引当金", "20", "後払い債権", "60"),
        ("貸倒損失", "10", "", "0"),
        ("支払手数料", "30", "", "0"),
    ]


async def test_generic_carries_every_currency(client, db, tenant_a):
    await _post_varied_journal(db, tenant_a.id)
    r = await _get(client, tenant_a, f"preset=generic&header=key&{NOVEMBER}")
    rows = rows_of(r.content, "utf-8-sig")
    usd = [row for row in rows[1:] if row[-1] == "USD"]
    assert [(row[7], row[9], row[10]) for row in usd] == [("bank", "1999", ""), ("suspense", "", "1999")]


async def test_fee_revenue_is_taxable_under_the_payment_agency_model(client, db, tenant_a, journal_a):
    async with db.transaction() as s:
        await set_policy(s, tenant_a.admin, {"settlement": {"fee_tax_model": "payment_agency"}})
    rows = rows_of((await _get(client, tenant_a, f"preset=yayoi&{NOVEMBER}")).content, "cp932")
    assert [(row[10], row[13]) for row in rows[1:]] == [("仮受消費税", "対象外"), ("加盟店手数料収益", "課税売上10%")]


async def test_characters_cp932_lacks_become_geta_and_utf8_keeps_them(client, db, tenant_a):
    async with db.transaction() as s:
        await post_entry(
            s,
            tenant_a.id,
            kind="payment.received",
            memo="𠮷野家 😀 〜①",
            effective_date=dt.date(2026, 11, 3),
            lines=[debit("bank", Money(10, "JPY")), credit("suspense", Money(10, "JPY"))],
        )
    yayoi = (await _get(client, tenant_a, f"preset=yayoi&{NOVEMBER}")).content
    # 〜 and ① are in CP932 (〜 as 0x8160, which CP932 reads back as ～ U+FF5E); 𠮷 and 😀 are not.
    assert "payment.received 〓野家 〓 〜①".encode("cp932") in yayoi
    assert b"?" not in yayoi
    mf = (await _get(client, tenant_a, f"preset=mf&encoding=utf-8&{NOVEMBER}")).content
    assert "payment.received 𠮷野家 😀 〜①" in mf.decode("utf-8")


@pytest.mark.parametrize(
    ("query", "bom"),
    [
        ("preset=generic", True),
        ("preset=generic&encoding=utf-8", False),
        ("preset=generic&encoding=cp932", False),
        ("preset=yayoi", False),
        ("preset=mf", False),
        ("preset=mf&encoding=utf-8", False),
        ("preset=freee&encoding=utf-8", False),
    ],
)
async def test_a_bom_only_in_the_file_for_people(client, tenant_a, journal_a, query, bom):
    content = (await _get(client, tenant_a, f"{query}&{NOVEMBER}")).content
    assert content.startswith(b"\xef\xbb\xbf") is bom
    assert content.count(b"\xef\xbb\xbf") == (1 if bom else 0)


async def test_formulas_are_guarded_for_people_not_in_tool_imports(client, db, tenant_a):
    async with db.transaction() as s:
        await post_entry(
            s,
            tenant_a.id,
            kind="manual",
            memo='=HYPERLINK("http://evil.example","x")',
            effective_date=dt.date(2026, 11, 3),
            lines=[debit("bank", Money(10, "JPY")), credit("suspense", Money(10, "JPY"))],
        )
    generic = rows_of((await _get(client, tenant_a, f"preset=generic&{NOVEMBER}")).content, "utf-8-sig")
    assert generic[1][3] == '\'=HYPERLINK("http://evil.example","x")'
    yayoi = rows_of((await _get(client, tenant_a, f"preset=yayoi&{NOVEMBER}")).content, "cp932")
    assert yayoi[0][16] == 'manual =HYPERLINK("http://evil.example","x")'


async def test_xlsx_has_numbers_dates_a_frozen_bold_header_and_the_conditions(client, tenant_a, journal_a):
    r = await _get(client, tenant_a, f"preset=generic&format=xlsx&{NOVEMBER}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert r.headers["content-disposition"].endswith('filename="journal-generic-2026-11-01-2026-11-30.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["仕訳帳", "条件"]
    sheet = book["仕訳帳"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("仕訳ID", "計上日", "取引種別")
    assert sheet["A1"].font.b and sheet.freeze_panes == "A2"
    assert len(rows) == 6
    first = rows[1]
    assert first[1] == dt.datetime(2026, 11, 2) and sheet["B2"].number_format == "yyyy-mm-dd"
    assert first[9] == 12_800 and isinstance(first[9], int) and sheet["J2"].number_format == "#,##0"
    assert first[10] is None
    assert first[3] == 'payer "ﾔﾏﾀﾞ ﾀﾛｳ", ref 0001'
    conditions = dict(list(book["条件"].iter_rows(values_only=True))[1:])
    assert conditions["帳票"] == "仕訳帳 (汎用)"
    assert conditions["オペレーター"] == f"Alpha BNPL ({tenant_a.id})"
    assert conditions["期間"] == "2026-11-01 〜 2026-11-30"
    assert dt.datetime.strptime(conditions["作成日時 (JST)"], "%Y-%m-%d %H:%M:%S")


async def test_xlsx_of_a_tool_preset_keeps_its_columns(client, tenant_a, journal_a):
    r = await _get(client, tenant_a, f"preset=yayoi&format=xlsx&{NOVEMBER}")
    rows = list(openpyxl.load_workbook(io.BytesIO(r.content))["仕訳帳"].iter_rows(values_only=True))
    assert len(rows[0]) == 25 and rows[0][0] == "識別フラグ"
    assert [row[:2] for row in rows[1:]] == [(2000, 1), (2110, 2), (2101, 2)]
    assert rows[3][8] == 0 and rows[3][14] == 3_900
