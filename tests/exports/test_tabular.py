"""The shared writer (domain/kit/tabular.py): CSV conventions, CP932 replacement, the formula guard, chunks and
flat memory, XLSX read back, the period and format checks."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import tracemalloc

import openpyxl
import pytest

from domain.kit import tabular
from domain.kit.errors import InvalidInput
from domain.kit.tabular import Column, check_period, csv_chunks, file_format, media_type, xlsx_chunks

COLUMNS = (
    Column("name", "名前"),
    Column("amount", "金額", "int"),
    Column("day", "日付", "date"),
    Column("at", "日時", "datetime"),
)


async def _csv(rows, columns=COLUMNS, **kw) -> bytes:
    return b"".join([chunk async for chunk in csv_chunks(columns, rows, **kw)])


async def _xlsx(rows, columns=COLUMNS, **kw) -> openpyxl.Workbook:
    content = b"".join([chunk async for chunk in xlsx_chunks(columns, rows, **kw)])
    return openpyxl.load_workbook(io.BytesIO(content))


async def test_rfc4180_quoting_crlf_integers_dates_and_jst_instants():
    rows = [
        ('Say "hi", twice', 1234567, dt.date(2026, 1, 5), dt.datetime(2026, 11, 30, 15, 30, 5, tzinfo=dt.UTC)),
        ("two\nlines", -5, None, None),
        ("", 0, dt.date(2026, 12, 31), dt.datetime(2026, 11, 30, 14, 59, 59)),  # naive: taken as UTC
    ]
    out = await _csv(rows, encoding="utf-8")
    assert (
        out
        == (
            "名前,金額,日付,日時\r\n"
            '"Say ""hi"", twice",1234567,2026-01-05,2026-12-01 00:30:05\r\n'
            '"two\nlines",-5,,\r\n'
            ",0,2026-12-31,2026-11-30 23:59:59\r\n"
        ).encode()
    )


async def test_an_instant_in_a_date_column_is_its_jst_date():
    columns = (Column("day", "日付", "date"),)
    out = await _csv([(dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC),)], columns, header="none", encoding="utf-8")
    assert out == b"2026-12-01\r\n"


async def test_headers_japanese_keys_or_none():
    assert (await _csv([], header="key", encoding="utf-8")) == b"name,amount,day,at\r\n"
    assert (await _csv([], header="none", encoding="utf-8")) == b""
    assert (await _csv([], header="ja", encoding="utf-8-bom")) == "\ufeff名前,金額,日付,日時\r\n".encode()


async def test_cp932_replaces_what_it_cannot_encode_with_geta_never_a_question_mark():
    columns = (Column("text", "テキスト"),)
    rows = [
        ("𠮷野家",),  # U+20BB7: not in CP932
        ("😀 ok",),
        ("髙橋 ①〜№",),  # IBM extension, circled digit, wave dash, numero: all in CP932
        ("葛\U000e0100飾",),  # an ideographic variation selector is dropped, the kanji kept
        ("1–2 — 3\u00a0•",),  # en dash, em dash, no-break space, bullet: their CP932 look-alikes
        ("Café ß",),
    ]
    out = await _csv(rows, columns, encoding="cp932", header="none")
    assert b"?" not in out
    assert out.decode("cp932").split("\r\n")[:-1] == [
        "〓野家",
        "〓 ok",
        "髙橋 ①～№",  # CP932 reads 0x8160 back as U+FF5E
        "葛飾",
        "1‐2 ― 3 ・",
        "Caf〓 〓",
    ]


async def test_the_bom_is_for_people_only_and_only_once():
    rows = [("x", 1, None, None)] * 2500
    for encoding, bom in (("utf-8-bom", True), ("utf-8", False), ("cp932", False)):
        chunks = [chunk async for chunk in csv_chunks(COLUMNS, rows, encoding=encoding, chunk_rows=1000)]
        assert len(chunks) == 3  # the header and 999 rows, 1000 rows, 501 rows
        assert chunks[0].startswith(b"\xef\xbb\xbf") is bom
        assert b"".join(chunks).count(b"\xef\xbb\xbf") == int(bom)
        assert all(chunk.endswith(b"\r\n") for chunk in chunks)


@pytest.mark.parametrize("text", ["=1+1", "+81 3", "-A1", "@SUM(A1)", "\tx", "\rx"])
async def test_formula_guard_on_text_cells(text):
    guarded = await _csv([(text, -5, None, None)], header="none", encoding="utf-8")
    assert guarded.decode().startswith(("\"'" + text[0], "'" + text[0]))
    assert b",-5," in guarded  # an integer is an integer, negative or not
    plain = await _csv([(text, -5, None, None)], header="none", encoding="utf-8", guard_formulas=False)
    assert not plain.decode().lstrip('"').startswith("'")


async def test_rows_may_be_async_and_must_match_the_columns():
    async def gen():
        yield ("a", 1, None, None)
        yield ("b", 2, None, None)

    assert (await _csv(gen(), header="none", encoding="utf-8")) == b"a,1,,\r\nb,2,,\r\n"
    with pytest.raises(ValueError, match="2 values for 4 columns"):
        await _csv([("a", 1)], header="none")


async def _peak_and_size(n: int) -> tuple[int, int, int]:
    def rows():
        for i in range(n):
            yield (f"加盟店 {i} =x", i * 1_000, dt.date(2026, 11, 1 + i % 30), None)

    size = chunks = 0
    tracemalloc.start()
    try:
        async for chunk in csv_chunks(COLUMNS, rows(), encoding="cp932"):
            size += len(chunk)
            chunks += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, size, chunks


async def test_csv_memory_is_flat_in_the_number_of_rows():
    small_peak, small_size, _ = await _peak_and_size(20_000)
    peak, size, chunks = await _peak_and_size(200_000)
    assert chunks == 201  # the header with 999 rows, then every 1000 rows, then the last row
    assert size > 7_000_000 and size > 9 * small_size
    # A chunk's worth (about 0.5 MB with the csv module's buffer), the same for ten times the rows; never the file.
    assert peak < size / 10, (peak, size)
    assert peak < small_peak * 1.5 + 64 * 1024, (peak, small_peak)


async def test_xlsx_numbers_dates_text_header_and_conditions():
    rows = [
        ('=HYPERLINK("x")', 1_234_567, dt.date(2026, 11, 2), dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC)),
        ("二行目", -5, None, None),
    ]
    book = await _xlsx(rows, sheet="一覧", conditions=[("期間", "2026-11-01 〜 2026-11-30"), ("テナント", "opr_1")])
    assert book.sheetnames == ["一覧", "条件"]
    sheet = book["一覧"]
    assert [c.value for c in sheet[1]] == ["名前", "金額", "日付", "日時"]
    assert all(c.font.b for c in sheet[1]) and sheet.freeze_panes == "A2"
    a2, b2, c2, d2 = sheet[2]
    assert a2.value == '=HYPERLINK("x")' and a2.data_type == "s"  # text stays text, never a formula
    assert b2.value == 1_234_567 and b2.data_type == "n" and b2.number_format == "#,##0"
    assert c2.value == dt.datetime(2026, 11, 2) and c2.number_format == "yyyy-mm-dd"
    assert d2.value == dt.datetime(2026, 12, 1, 0, 0) and d2.number_format == "yyyy-mm-dd hh:mm:ss"  # JST
    assert [c.value for c in sheet[3]] == ["二行目", -5, None, None]
    assert list(book["条件"].iter_rows(values_only=True)) == [
        ("項目", "値"),
        ("期間", "2026-11-01 〜 2026-11-30"),
        ("テナント", "opr_1"),
    ]


async def test_xlsx_continues_on_a_next_sheet_past_the_row_limit(monkeypatch):
    monkeypatch.setattr(tabular, "XLSX_MAX_ROWS", 3)  # two rows under the header per sheet
    book = await _xlsx([(str(i), i, None, None) for i in range(5)], sheet="明細")
    assert book.sheetnames == ["明細", "明細 (2)", "明細 (3)", "条件"]
    values = [[r[:2] for r in book[name].iter_rows(values_only=True)] for name in book.sheetnames[:3]]
    assert values == [
        [("名前", "金額"), ("0", 0), ("1", 1)],
        [("名前", "金額"), ("2", 2), ("3", 3)],
        [("名前", "金額"), ("4", 4)],
    ]


async def test_xlsx_temporary_file_is_deleted_even_when_the_rows_fail(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    await _xlsx([("a", 1, None, None)], sheet="x")
    assert list(tmp_path.glob("bnpl-export-*")) == []

    def broken():
        yield ("a", 1, None, None)
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        await _xlsx(broken(), sheet="x")
    assert list(tmp_path.glob("bnpl-export-*")) == []


def test_media_types():
    assert media_type("csv", "utf-8-bom") == "text/csv; charset=utf-8"
    assert media_type("csv", "utf-8") == "text/csv; charset=utf-8"
    assert media_type("csv", "cp932") == "text/csv; charset=Windows-31J"
    assert media_type("xlsx", "cp932") == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_period_checks():
    check_period(dt.date(2028, 1, 1), dt.date(2028, 12, 31))  # 366 days
    check_period(dt.date(2026, 11, 1), dt.date(2026, 11, 1))
    with pytest.raises(InvalidInput) as too_long:
        check_period(dt.date(2026, 1, 1), dt.date(2027, 1, 2))  # 367 days
    assert [(i.pointer, i.code) for i in too_long.value.issues] == [("query:to", "too_long")]
    with pytest.raises(InvalidInput) as backwards:
        check_period(dt.date(2026, 11, 2), dt.date(2026, 11, 1), pointers=("--from", "--to"))
    assert [(i.pointer, i.code) for i in backwards.value.issues] == [("--to", "range")]


def test_file_format_defaults_and_refusals():
    assert file_format("csv") == tabular.FileFormat("csv", "utf-8-bom", "ja")
    assert file_format("csv", None, None, encodings=("cp932", "utf-8"), headers=("ja",)).encoding == "cp932"
    assert file_format("xlsx").fmt == "xlsx"
    with pytest.raises(InvalidInput) as refused:
        file_format("csv", "utf-8-bom", encodings=("cp932",), prefix="--")
    assert refused.value.issues[0].pointer == "--encoding"
