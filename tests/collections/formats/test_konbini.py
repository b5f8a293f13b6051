"""The convenience-store payment CSV: golden files (UTF-8 with BOM, CP932), payments, every rejection, round trip."""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.collections.formats import FileRejected, IncomingPayment, LineIssue, detect_and_parse, parse_konbini_csv
from domain.collections.formats.konbini import HEADER, KonbiniRow, build_konbini_csv, read_konbini_csv
from domain.invoicing.keys import gs1_128_barcode_data, payment_number
from domain.kit.clock import JST

GOLDEN = pathlib.Path(__file__).parent / "golden"
NOV18, NOV20 = dt.date(2026, 11, 18), dt.date(2026, 11, 20)
SLIP = "219420000000037554301"  # payment_number("21942", 375_543)
SLIP_2 = "219420000000037554400"  # payment_number("21942", 375_544)
BARCODE_2 = "91929023219420000000037554400026120900049808"  # its barcode: due 2026-12-09, ¥4,980
SLIP_3 = "219420000000037554516"  # payment_number("21942", 375_545, reissue=1)
HEAD = ",".join(HEADER) + "\r\n"

ROWS_UTF8 = [
    KonbiniRow(
        kind="preliminary",
        record_id="SK-0001",
        payment_number=SLIP,
        amount=12_345,
        paid_at=dt.datetime(2026, 11, 20, 10, 15, tzinfo=JST),
        store="ローソン 渋谷店",
    ),
    KonbiniRow(
        kind="preliminary_cancel",
        record_id="SK-0002",
        payment_number=SLIP,
        amount=12_345,
        paid_at=dt.datetime(2026, 11, 20, 10, 20, tzinfo=JST),
        store="ローソン 渋谷店",
        original_record_id="SK-0001",
    ),
    KonbiniRow(
        kind="preliminary",
        record_id="SK-0003",
        payment_number=SLIP,
        amount=12_345,
        paid_at=dt.datetime(2026, 11, 20, 10, 22, tzinfo=JST),
        store="ローソン 渋谷店",
    ),
    KonbiniRow(
        kind="payment",
        record_id="KH-0001",
        payment_number=BARCODE_2,
        amount=4_980,
        paid_at=dt.datetime(2026, 11, 19, 15, 30, tzinfo=dt.UTC),  # 00:30 on 11-20 in Japan
        store="セブン-イレブン",
    ),
    KonbiniRow(
        kind="payment",
        record_id="KH-0002",
        payment_number=SLIP,
        amount=12_345,
        paid_at=dt.datetime(2026, 11, 20, 10, 22, tzinfo=JST),
        store="ファミリーマート 新宿,南口",
    ),
]

PAYMENTS_UTF8 = [
    IncomingPayment(2, "cvs:SK-0001", "preliminary", "convenience_store", 12_345, NOV20, "", "", "", None, SLIP, None),
    IncomingPayment(
        3, "cvs:SK-0002", "preliminary_cancel", "convenience_store", 12_345, NOV20, "", "", "", None, SLIP,
        "cvs:SK-0001",
    ),
    IncomingPayment(4, "cvs:SK-0003", "preliminary", "convenience_store", 12_345, NOV20, "", "", "", None, SLIP, None),
    IncomingPayment(5, "cvs:KH-0001", "payment", "convenience_store", 4_980, NOV20, "", "", "", None, SLIP_2, None),
    IncomingPayment(6, "cvs:KH-0002", "payment", "convenience_store", 12_345, NOV20, "", "", "", None, SLIP, None),
]  # fmt: skip

# Naive timestamps: the file says JST by leaving the offset out.
ROWS_CP932 = [
    KonbiniRow(
        kind="payment",
        record_id="R-100",
        payment_number=SLIP_2,
        amount=4_980,
        paid_at=dt.datetime(2026, 11, 18, 9, 0),
        store="ﾐﾆｽﾄｯﾌﾟ 横浜",
    ),
    KonbiniRow(
        kind="preliminary",
        record_id="R-101",
        payment_number=SLIP_3,
        amount=2_200,
        paid_at=dt.datetime(2026, 11, 20, 23, 59, 59),
        store="デイリーヤマザキ",
    ),
]


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def csv_file(*rows: str, encoding: str = "utf-8") -> bytes:
    return (HEAD + "".join(row + "\r\n" for row in rows)).encode(encoding)


def row(**overrides: str) -> str:
    fields = {
        "record_type": "確報",
        "record_id": "R-1",
        "payment_number": SLIP,
        "amount": "12345",
        "paid_at": "2026-11-20T10:15:00+09:00",
        "store": "ローソン",
        "original_record_id": "",
    }
    fields.update(overrides)
    return ",".join(fields[name] for name in HEADER)


def rejection(data: bytes) -> list[LineIssue]:
    with pytest.raises(FileRejected) as caught:
        parse_konbini_csv(data)
    return caught.value.issues


def where(issues: list[LineIssue]) -> list[tuple[int, str]]:
    return [(issue.line, issue.field) for issue in issues]


class TestBuildKonbiniCsv:
    def test_utf8_with_bom_matches_the_golden_file(self):
        assert build_konbini_csv(ROWS_UTF8) == golden("konbini_utf8_bom.csv")

    def test_cp932_matches_the_golden_file(self):
        assert build_konbini_csv(ROWS_CP932, encoding="cp932") == golden("konbini_cp932.csv")

    def test_refuses_an_unknown_encoding(self):
        with pytest.raises(ValueError, match="encoding"):
            build_konbini_csv(ROWS_UTF8, encoding="latin-1")


class TestParseKonbiniCsv:
    def test_utf8_golden_file(self):
        parsed = parse_konbini_csv(golden("konbini_utf8_bom.csv"))
        assert parsed.kind == "konbini_csv"
        assert parsed.payments == PAYMENTS_UTF8
        assert parsed.record_count == 6
        assert parsed.total_amount == 4_980 + 12_345  # 確報 only
        assert parsed.created_on is None

    def test_cp932_golden_file(self):
        assert parse_konbini_csv(golden("konbini_cp932.csv")).payments == [
            IncomingPayment(
                2, "cvs:R-100", "payment", "convenience_store", 4_980, NOV18, "", "", "", None, SLIP_2, None
            ),
            IncomingPayment(
                3, "cvs:R-101", "preliminary", "convenience_store", 2_200, NOV20, "", "", "", None, SLIP_3, None
            ),
        ]

    def test_read_gives_back_the_rows(self):
        assert read_konbini_csv(golden("konbini_utf8_bom.csv")) == ROWS_UTF8

    def test_naive_times_read_back_as_jst(self):
        assert read_konbini_csv(golden("konbini_cp932.csv")) == [
            KonbiniRow(**{**_fields(r), "paid_at": r.paid_at.replace(tzinfo=JST)}) for r in ROWS_CP932
        ]

    def test_value_date_is_the_jst_date(self):
        data = csv_file(row(paid_at="2026-11-20T14:59:59Z"), row(record_id="R-2", paid_at="2026-11-20T15:00:00Z"))
        assert [p.value_date for p in parse_konbini_csv(data).payments] == [NOV20, dt.date(2026, 11, 21)]

    def test_utf8_without_bom_and_lf_line_ends(self):
        data = golden("konbini_utf8_bom.csv").removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n")
        assert parse_konbini_csv(data).payments == PAYMENTS_UTF8

    def test_english_record_types(self):
        data = csv_file(
            row(record_type="preliminary", record_id="A"),
            row(record_type="preliminary_cancel", record_id="B", original_record_id="A"),
            row(record_type="final", record_id="C"),
        )
        assert [p.kind for p in parse_konbini_csv(data).payments] == ["preliminary", "preliminary_cancel", "payment"]

    def test_a_cancel_of_a_速報_in_an_earlier_file(self):
        data = csv_file(row(record_type="速報取消", original_record_id="OLD-9"))
        assert parse_konbini_csv(data).payments[0].reverses_external_id == "cvs:OLD-9"

    def test_blank_lines_are_skipped_and_lines_stay_physical(self):
        data = (HEAD + "\r\n" + row() + "\r\n\r\n" + row(record_id="R-2") + "\r\n").encode()
        assert [p.line_no for p in parse_konbini_csv(data).payments] == [3, 5]

    def test_a_quoted_line_break_keeps_line_numbers_physical(self):
        data = csv_file(row(store='"ローソン\r\n渋谷"'), row(record_id="R-2", amount="12.0"))
        assert where(rejection(data)) == [(4, "amount")]

    def test_detect_and_parse(self):
        assert detect_and_parse(golden("konbini_utf8_bom.csv")).payments == PAYMENTS_UTF8
        assert detect_and_parse(golden("konbini_cp932.csv")).kind == "konbini_csv"

    def test_detect_by_file_name(self):
        assert where(_rejected(lambda: detect_and_parse(b"record;type\r\n", "payments.csv"))) == [(1, "header")]
        assert where(_rejected(lambda: detect_and_parse(b"hello\r\n", "payments.txt"))) == [(1, "file")]


class TestRejections:
    def test_bad_header(self):
        data = (
            "record_type,record_id,payment_no,amount,paid_at,store,original_record_id\r\n" + row() + "\r\n"
        ).encode()
        issues = rejection(data)
        assert where(issues) == [(1, "header")]
        assert ",".join(HEADER) in issues[0].message

    def test_header_in_another_order(self):
        data = b"record_id,record_type,payment_number,amount,paid_at,store,original_record_id\r\n"
        assert where(rejection(data)) == [(1, "header")]

    @pytest.mark.parametrize("amount", ["12.0", "+5", "-5", "1,000", "１２", " 12", "", "0", "1000000"])
    def test_bad_amount(self, amount):
        quoted = f'"{amount}"' if "," in amount else amount
        assert where(rejection(csv_file(row(amount=quoted)))) == [(2, "amount")]

    def test_bad_check_digit(self):
        issues = rejection(csv_file(row(payment_number=SLIP[:-1] + "2")))
        assert where(issues) == [(2, "payment_number")]
        assert "check digit" in issues[0].message

    def test_bad_barcode_check_digit(self):
        assert where(rejection(csv_file(row(payment_number=BARCODE_2[:-1] + "9", amount="4980")))) == [
            (2, "payment_number")
        ]

    @pytest.mark.parametrize("number", [SLIP[:-1], SLIP + "0", f"{SLIP[:5]}-{SLIP[5:]}", ""])
    def test_payment_number_of_the_wrong_shape(self, number):
        assert where(rejection(csv_file(row(payment_number=number)))) == [(2, "payment_number")]

    def test_barcode_amount_differs_from_the_row(self):
        issues = rejection(csv_file(row(payment_number=BARCODE_2, amount="4981")))
        assert where(issues) == [(2, "amount")]
        assert "4,980" in issues[0].message

    def test_missing_original_record_id(self):
        data = csv_file(row(record_type="速報", record_id="A"), row(record_type="速報取消", record_id="B"))
        assert where(rejection(data)) == [(3, "original_record_id")]

    def test_original_record_id_on_a_確報(self):
        assert where(rejection(csv_file(row(original_record_id="A")))) == [(2, "original_record_id")]

    def test_cancel_of_something_that_is_not_a_速報(self):
        data = csv_file(row(record_id="A"), row(record_type="速報取消", record_id="B", original_record_id="A"))
        assert where(rejection(data)) == [(3, "original_record_id")]

    def test_cancel_of_another_slip(self):
        other = payment_number("21942", 9)
        data = csv_file(
            row(record_type="速報", record_id="A"),
            row(record_type="速報取消", record_id="B", original_record_id="A", payment_number=other),
        )
        assert where(rejection(data)) == [(3, "payment_number")]

    def test_duplicate_record_id(self):
        issues = rejection(csv_file(row(record_id="A"), row(record_id="A", amount="2")))
        assert where(issues) == [(3, "record_id")]
        assert "line 2" in issues[0].message

    @pytest.mark.parametrize("record_id", ["", "has space", "ｱｲｳ", "x" * 65])
    def test_bad_record_id(self, record_id):
        assert (2, "record_id") in where(rejection(csv_file(row(record_id=record_id))))

    def test_unknown_record_type(self):
        assert where(rejection(csv_file(row(record_type="入金")))) == [(2, "record_type")]

    @pytest.mark.parametrize(
        "paid_at", ["2026-11-20T10:15:00", "2026-11-20", "2026/11/20 10:15:00", "2026-11-31 10:15:00", "yesterday"]
    )
    def test_bad_paid_at(self, paid_at):
        assert where(rejection(csv_file(row(paid_at=paid_at)))) == [(2, "paid_at")]

    def test_wrong_number_of_fields(self):
        assert where(rejection(csv_file(row() + ",extra"))) == [(2, "row")]

    def test_every_problem_is_reported(self):
        data = csv_file(
            row(amount="+5"), row(record_id="R-2"), row(record_id="R-3", paid_at="now"), row(record_id="R-2")
        )
        assert where(rejection(data)) == [(2, "amount"), (4, "paid_at"), (5, "record_id")]

    def test_empty_file(self):
        issues = rejection(b"")
        assert where(issues) == [(0, "file")]
        assert "no records" in issues[0].message

    def test_header_only(self):
        issues = rejection(HEAD.encode())
        assert where(issues) == [(0, "file")]
        assert "no records" in issues[0].message

    def test_neither_utf8_nor_cp932(self):
        data = HEAD.encode() + row().encode("cp932").replace("ローソン".encode("cp932"), b"\x82 ") + b"\r\n"
        assert where(rejection(data)) == [(2, "encoding")]

    def test_bom_but_not_utf8(self):
        data = b"\xef\xbb\xbf" + HEAD.encode() + row().encode("cp932") + b"\r\n"
        assert where(rejection(data)) == [(2, "encoding")]


amounts = st.integers(min_value=1, max_value=999_999)
record_ids = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
stores = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
instants = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 12, 31), timezones=st.sampled_from([JST, dt.UTC])
)


@st.composite
def konbini_rows(draw):
    rows = []
    ids = draw(st.lists(record_ids, min_size=1, max_size=8, unique=True))
    for index, record_id in enumerate(ids):
        amount = draw(amounts)
        seq = draw(st.integers(min_value=1, max_value=10**8))
        number = draw(
            st.sampled_from(
                [
                    payment_number("21942", seq),
                    gs1_128_barcode_data(
                        company_code="929023", issuer_code="21942", seq=seq, due_date=NOV20, amount=amount
                    ),
                ]
            )
        )
        kind = draw(st.sampled_from(["preliminary", "payment", "preliminary_cancel"]))
        rows.append(
            KonbiniRow(
                kind=kind,
                record_id=record_id,
                payment_number=number,
                amount=amount,
                paid_at=draw(instants),
                store=draw(stores).replace("\r", ""),
                original_record_id=f"EARLIER-{index}" if kind == "preliminary_cancel" else "",
            )
        )
    return rows


class TestRoundTrip:
    @given(konbini_rows(), st.sampled_from(["utf-8-sig", "utf-8"]), st.booleans())
    def test_build_then_read(self, rows, encoding, crlf):
        data = build_konbini_csv(rows, encoding=encoding, crlf=crlf)
        assert read_konbini_csv(data) == rows
        parsed = parse_konbini_csv(data)
        assert [p.external_id for p in parsed.payments] == [f"cvs:{r.record_id}" for r in rows]
        assert all(len(p.payment_number) == 21 for p in parsed.payments)


def _rejected(call) -> list[LineIssue]:
    with pytest.raises(FileRejected) as caught:
        call()
    return caught.value.issues


def _fields(row: KonbiniRow) -> dict:
    return {name: getattr(row, name) for name in KonbiniRow.__dataclass_fields__}
