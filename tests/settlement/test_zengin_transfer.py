"""Zengin 総合振込 (種別コード 21) payout files: golden files, every refusal when building, every rejection when
reading, and round trips."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib

import pytest
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.kit.calendar import is_bank_business_day
from domain.settlement.zengin_transfer import (
    MAX_ISSUES,
    RECORD_LENGTH,
    InvalidTransferFile,
    Transfer,
    TransferHeader,
    TransferIssue,
    build_transfer_file,
    parse_transfer_file,
)

GOLDEN = pathlib.Path(__file__).parent / "golden"

# golden/transfer_example*.dat: the worked example of reference/zengin_layouts.md §1. 0425 is a Friday in 2025.
EXAMPLE_DAY = dt.date(2025, 4, 25)
EXAMPLE_HEADER = TransferHeader(
    requester_code="1234567890",
    requester_name="ｶ)ｻﾝﾌﾟﾙｱﾄﾊﾞﾗｲ",
    pay_date=EXAMPLE_DAY,
    bank_code="9999",
    bank_name="ﾃｽﾄｷﾞﾝｺｳ",
    branch_code="001",
    branch_name="ﾎﾝﾃﾝ",
    account_type="1",
    account_number="1234567",
)
EXAMPLE_TRANSFERS = [
    Transfer(
        bank_code="9998",
        bank_name="ｻﾝﾌﾟﾙｷﾞﾝｺｳ",
        branch_code="123",
        branch_name="ｴｷﾏｴ",
        account_type="1",
        account_number="7654321",
        holder_name="ｶ)ﾃﾞﾓｼﾖｳｼﾞ",
        amount=97_030,
    )
]

# golden/transfer_three_crlf.dat (golden/README.md): customer codes, an EDI, no bank names, 貯蓄.
NOV30 = dt.date(2026, 11, 30)
THREE_HEADER = TransferHeader(
    requester_code="1234500001",
    requester_name="ｶ)BNPLﾍﾟｲ",
    pay_date=NOV30,
    bank_code="0005",
    bank_name="ﾐﾂﾋﾞｼUFJ",
    branch_code="001",
    branch_name="ﾎﾝﾃﾝ",
    account_type="2",
    account_number="0012345",
)
THREE_TRANSFERS = [
    Transfer(
        bank_code="0001",
        bank_name="ﾐｽﾞﾎ",
        branch_code="100",
        branch_name="ｷﾞﾝｻﾞ",
        account_type="1",
        account_number="1111111",
        holder_name="ﾔﾏﾀﾞ ﾀﾛｳ",
        amount=1_234_567,
        new_code="1",
        customer_code1="0000000042",
        customer_code2="0000202611",
    ),
    Transfer(
        bank_code="9900",
        bank_name="ﾕｳﾁﾖ",
        branch_code="019",
        branch_name="ｾﾞﾛｲﾁｷﾕｳ",
        account_type="1",
        account_number="2222222",
        holder_name="ﾕ)ｻﾝﾌﾟﾙ(ﾄｳｷﾖｳ)",
        amount=88_000,
        edi="ST-20261130-000123",
    ),
    Transfer(
        bank_code="0009",
        branch_code="205",
        account_type="4",
        account_number="3333333",
        holder_name="ﾃｽﾄ ｼﾖｳﾃﾝ",
        amount=1,
        new_code="2",
        customer_code2="9876543210",
    ),
]


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def records(data: bytes) -> list[bytes]:
    """The records of a CRLF file."""
    assert data.endswith(b"\r\n")
    return data[:-2].split(b"\r\n")


def crlf(recs: list[bytes]) -> bytes:
    return b"".join(rec + b"\r\n" for rec in recs)


def patch(data: bytes, line: int, start: int, new: bytes) -> bytes:
    """The CRLF file with bytes of record ``line`` (1-based) replaced from 0-based position ``start``."""
    recs = records(data)
    rec = recs[line - 1]
    recs[line - 1] = rec[:start] + new + rec[start + len(new) :]
    return crlf(recs)


def three() -> bytes:
    return golden("transfer_three_crlf.dat")


def rejection(data: bytes, near: dt.date = NOV30) -> list[TransferIssue]:
    with pytest.raises(InvalidTransferFile) as caught:
        parse_transfer_file(data, near=near)
    return caught.value.issues


def where(issues: list[TransferIssue]) -> list[tuple[int, str]]:
    return [(issue.line, issue.field) for issue in issues]


def build_error(header: TransferHeader = THREE_HEADER, transfers: list[Transfer] = THREE_TRANSFERS) -> str:
    with pytest.raises(ValueError) as caught:
        build_transfer_file(header, transfers)
    return str(caught.value)


def header(**changes: object) -> TransferHeader:
    return dataclasses.replace(THREE_HEADER, **changes)


def transfers_with(index: int, **changes: object) -> list[Transfer]:
    out = list(THREE_TRANSFERS)
    out[index] = dataclasses.replace(out[index], **changes)
    return out


class TestBuildTransferFile:
    def test_reproduces_the_reference_worked_example_with_crlf(self):
        assert build_transfer_file(EXAMPLE_HEADER, EXAMPLE_TRANSFERS) == golden("transfer_example_crlf.dat")

    def test_reproduces_the_reference_worked_example_without_crlf(self):
        data = build_transfer_file(EXAMPLE_HEADER, EXAMPLE_TRANSFERS, crlf=False)
        assert data == golden("transfer_example.dat")
        assert len(data) == 4 * RECORD_LENGTH

    def test_matches_the_three_transfer_golden_file(self):
        assert build_transfer_file(THREE_HEADER, THREE_TRANSFERS) == three()

    def test_every_record_is_120_cp932_bytes(self):
        recs = records(build_transfer_file(THREE_HEADER, THREE_TRANSFERS))
        assert [rec[:1] for rec in recs] == [b"1", b"2", b"2", b"2", b"8", b"9"]
        assert all(len(rec) == RECORD_LENGTH for rec in recs)

    def test_the_trailer_counts_and_sums_the_transfers(self):
        trailer = records(build_transfer_file(THREE_HEADER, THREE_TRANSFERS))[4]
        assert trailer == b"8" + b"000003" + b"000001322568" + b" " * 101

    def test_an_edi_takes_bytes_92_to_111_and_sets_the_flag(self):
        rec = records(build_transfer_file(THREE_HEADER, THREE_TRANSFERS))[2]
        assert rec[91:111] == b"ST-20261130-000123  "
        assert rec[111:113] == b"0Y"

    def test_customer_codes_without_edi_are_zero_filled_and_the_flag_is_blank(self):
        rec = records(build_transfer_file(THREE_HEADER, THREE_TRANSFERS))[3]
        assert rec[91:113] == b"0000000000" + b"9876543210" + b"0 "

    def test_the_pay_date_is_written_mmdd(self):
        rec = records(build_transfer_file(header(pay_date=dt.date(2026, 3, 2)), THREE_TRANSFERS))[0]
        assert rec[54:58] == b"0302"

    def test_names_at_their_full_length_are_accepted(self):
        holder = "ｶﾞ" * 15  # 30 bytes: each voiced kana is two
        data = build_transfer_file(THREE_HEADER, transfers_with(0, holder_name=holder))
        assert records(data)[1][50:80] == holder.encode("cp932")

    def test_the_largest_amount_fits(self):
        rec = records(build_transfer_file(THREE_HEADER, transfers_with(0, amount=9_999_999_999)))[1]
        assert rec[80:90] == b"9999999999"


class TestBuildTransferFileRefuses:
    def test_a_holder_name_in_kanji(self):
        message = build_error(transfers=transfers_with(1, holder_name="山田太郎"))
        assert message.startswith("transfers[1].holder_name (受取人名): ")
        assert "kana reading" in message

    def test_a_holder_name_with_small_kana_and_says_what_would_pass(self):
        message = build_error(transfers=transfers_with(2, holder_name="ｶ)ｼｮｳｼﾞ"))
        assert message.startswith("transfers[2].holder_name")
        assert "ｶ)ｼﾖｳｼﾞ" in message

    def test_a_long_vowel_mark(self):
        message = build_error(transfers=transfers_with(0, holder_name="ｺｰﾋｰ"))
        assert "transfers[0].holder_name" in message and "'ｰ'" in message

    def test_a_holder_name_one_byte_too_long_instead_of_cutting_it(self):
        message = build_error(transfers=transfers_with(0, holder_name="ｱ" * 29 + "ﾞ" + "ｲ"))
        assert "31 bytes" in message and "at most 30" in message

    def test_a_requester_name_over_40_bytes(self):
        message = build_error(header=header(requester_name="ｱ" * 41))
        assert message.startswith("header.requester_name (振込依頼人名): ")

    def test_an_empty_holder_name(self):
        assert "is empty" in build_error(transfers=transfers_with(0, holder_name=""))

    def test_a_name_ending_in_a_space(self):
        message = build_error(transfers=transfers_with(0, holder_name="ﾔﾏﾀﾞ "))
        assert "ends in a space" in message

    def test_a_bank_name_with_a_symbol_only_party_names_may_use(self):
        message = build_error(transfers=transfers_with(0, bank_name="ﾐｽﾞﾎ(ｶ"))
        assert message.startswith("transfers[0].bank_name (被仕向銀行名): ") and "'('" in message

    def test_a_branch_name_over_15_bytes(self):
        message = build_error(header=header(branch_name="ﾎ" * 16))
        assert message.startswith("header.branch_name (仕向支店名): ") and "at most 15" in message

    def test_a_pay_date_on_a_national_holiday(self):
        message = build_error(header=header(pay_date=dt.date(2026, 11, 23)))  # 勤労感謝の日
        assert message.startswith("header.pay_date (振込指定日): ") and "not a bank business day" in message

    def test_a_pay_date_in_the_year_end_closure(self):
        assert "not a bank business day" in build_error(header=header(pay_date=dt.date(2026, 1, 2)))

    def test_a_pay_date_on_a_saturday(self):
        assert "not a bank business day" in build_error(header=header(pay_date=dt.date(2026, 11, 28)))

    def test_a_datetime_as_pay_date(self):
        message = build_error(header=header(pay_date=dt.datetime(2026, 11, 30, 9, 0)))
        assert "must be a datetime.date" in message

    @pytest.mark.parametrize("amount", [0, -1, 10_000_000_000, True, 1.0])
    def test_an_amount_outside_the_field(self, amount):
        message = build_error(transfers=transfers_with(2, amount=amount))
        assert message.startswith("transfers[2].amount (振込金額): ")

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("bank_code", "001"),
            ("branch_code", "1000"),
            ("account_number", "123456"),
            ("account_number", "１２３４５６７"),
            ("account_type", "3"),
            ("new_code", "3"),
        ],
    )
    def test_a_wrong_code(self, field, value):
        message = build_error(transfers=transfers_with(0, **{field: value}))
        assert message.startswith(f"transfers[0].{field} ")

    def test_a_header_account_type_only_payee_accounts_have(self):
        message = build_error(header=header(account_type="4"))  # 貯蓄 is not a 依頼人 account type
        assert message.startswith("header.account_type (預金種目): ")

    def test_a_requester_code_of_nine_digits(self):
        assert build_error(header=header(requester_code="123456789")).startswith("header.requester_code ")

    def test_an_edi_together_with_customer_codes(self):
        message = build_error(transfers=transfers_with(1, customer_code1="0000000001"))
        assert message.startswith("transfers[1].edi (EDI情報): ") and "one or the other" in message

    @pytest.mark.parametrize("edi", ["st-1", "ST_1", "ST/1", "A" * 21, "STATEMENT "])
    def test_an_edi_the_field_cannot_carry(self, edi):
        assert build_error(transfers=transfers_with(1, edi=edi)).startswith("transfers[1].edi (EDI情報): ")

    def test_a_customer_code_of_all_zeros(self):
        message = build_error(transfers=transfers_with(0, customer_code1="0000000000"))
        assert "write ''" in message

    def test_a_customer_code_shorter_than_ten_digits(self):
        assert build_error(transfers=transfers_with(0, customer_code2="42")).startswith("transfers[0].customer_code2")

    def test_a_file_without_transfers(self):
        assert "at least one transfer" in build_error(transfers=[])

    def test_a_total_beyond_the_trailer_field(self):
        big = dataclasses.replace(THREE_TRANSFERS[0], amount=9_999_999_999)
        assert "合計金額" in build_error(transfers=[big] * 101)


class TestParseTransferFile:
    def test_reads_the_reference_worked_example(self):
        parsed = parse_transfer_file(golden("transfer_example_crlf.dat"), near=dt.date(2025, 4, 1))
        assert parsed == (EXAMPLE_HEADER, EXAMPLE_TRANSFERS)

    def test_reads_records_without_crlf(self):
        parsed = parse_transfer_file(golden("transfer_example.dat"), near=dt.date(2025, 4, 1))
        assert parsed == (EXAMPLE_HEADER, EXAMPLE_TRANSFERS)

    def test_reads_the_three_transfer_file(self):
        assert parse_transfer_file(three(), near=NOV30) == (THREE_HEADER, THREE_TRANSFERS)

    def test_rebuilding_what_was_read_gives_the_same_bytes(self):
        for name, crlf_ in (("transfer_example_crlf.dat", True), ("transfer_example.dat", False)):
            data = golden(name)
            assert build_transfer_file(*parse_transfer_file(data, near=EXAMPLE_DAY), crlf=crlf_) == data

    @freeze_time("2026-11-25 10:00:00+09:00")
    def test_the_pay_date_year_defaults_to_the_nearest_to_today(self):
        assert parse_transfer_file(three())[0].pay_date == NOV30

    @freeze_time("2026-12-20 10:00:00+09:00")
    def test_a_january_pay_date_read_in_december_is_next_year(self):
        data = build_transfer_file(header(pay_date=dt.date(2027, 1, 5)), THREE_TRANSFERS)
        assert parse_transfer_file(data)[0].pay_date == dt.date(2027, 1, 5)

    def test_a_29_february_is_found_in_the_nearest_leap_year(self):
        data = build_transfer_file(header(pay_date=dt.date(2028, 2, 29)), THREE_TRANSFERS)
        assert parse_transfer_file(data, near=dt.date(2026, 12, 1))[0].pay_date == dt.date(2028, 2, 29)

    def test_the_error_is_a_value_error_with_line_field_message_tuples(self):
        with pytest.raises(ValueError) as caught:
            parse_transfer_file(patch(three(), 3, 80, b"000000000A"), near=NOV30)
        error = caught.value
        assert isinstance(error, InvalidTransferFile)
        line, field, message = error.issues[0]
        assert (line, field) == (3, "振込金額") and "10 digit(s)" in message
        assert "line 3, 振込金額" in str(error)


class TestParseTransferFileRejects:
    def test_an_empty_file(self):
        assert where(rejection(b"")) == [(0, "file")]

    def test_a_record_of_the_wrong_length_naming_its_line(self):
        recs = records(three())
        recs[2] = recs[2][:-1]
        assert where(rejection(crlf(recs))) == [(3, "file")]

    def test_a_bare_lf(self):
        data = three().replace(b"\r\n", b"\n", 1)
        assert (1, "file") in where(rejection(data))

    def test_a_last_record_without_crlf(self):
        assert where(rejection(three()[:-2])) == [(6, "file")]

    def test_records_without_crlf_that_are_not_whole(self):
        assert where(rejection(golden("transfer_example.dat")[:-1])) == [(0, "file")]

    def test_a_file_that_does_not_start_with_the_header(self):
        recs = records(three())
        assert (1, "データ区分") in where(rejection(crlf(recs[1:])))

    def test_a_second_header(self):
        recs = records(three())
        assert (3, "データ区分") in where(rejection(crlf([recs[0], recs[1], recs[0], *recs[2:]])))

    def test_a_data_record_after_the_trailer(self):
        recs = records(three())
        issues = rejection(crlf([recs[0], recs[1], recs[2], recs[4], recs[3], recs[5]]))
        assert (5, "データ区分") in where(issues)

    def test_a_missing_end_record(self):
        assert (5, "データ区分") in where(rejection(crlf(records(three())[:-1])))

    def test_a_missing_trailer(self):
        recs = records(three())
        assert where(rejection(crlf([*recs[:4], recs[5]]))) == [(5, "データ区分"), (5, "データ区分")]

    def test_anything_after_the_end_record(self):
        recs = records(three())
        assert (7, "データ区分") in where(rejection(crlf([*recs, recs[5]])))

    def test_a_file_without_data_records(self):
        recs = records(three())
        issues = rejection(crlf([recs[0], b"8" + b"0" * 18 + b" " * 101, recs[5]]))
        assert where(issues) == [(0, "データ区分")]

    def test_an_unknown_record_type(self):
        assert where(rejection(patch(three(), 3, 0, b"3"))) == [(3, "データ区分")]

    def test_a_trailer_count_that_differs(self):
        issues = rejection(patch(three(), 5, 1, b"000004"))
        assert where(issues) == [(5, "合計件数")]
        assert "states 4" in issues[0].message and "3 data records" in issues[0].message

    def test_a_trailer_sum_that_differs(self):
        issues = rejection(patch(three(), 5, 7, b"000001322569"))
        assert where(issues) == [(5, "合計金額")]
        assert "1,322,569" in issues[0].message and "1,322,568" in issues[0].message

    def test_another_kind_of_file(self):
        assert where(rejection(patch(three(), 1, 1, b"11"))) == [(1, "種別コード")]

    def test_ebcdic(self):
        assert where(rejection(patch(three(), 1, 3, b"1"))) == [(1, "コード区分")]

    def test_a_pay_date_on_a_bank_holiday(self):
        issues = rejection(patch(three(), 1, 54, b"1123"))  # 2026-11-23 勤労感謝の日
        assert where(issues) == [(1, "振込指定日")] and "not a bank business day" in issues[0].message

    def test_a_pay_date_that_is_no_date(self):
        assert where(rejection(patch(three(), 1, 54, b"1332"))) == [(1, "振込指定日")]

    def test_a_holder_name_with_small_kana(self):
        issues = rejection(patch(three(), 2, 50, "ﾔﾏﾀﾞ ｼｮｳ".encode("cp932")))
        assert where(issues) == [(2, "受取人名")] and "ﾔﾏﾀﾞ ｼﾖｳ" in issues[0].message

    def test_a_blank_holder_name(self):
        assert where(rejection(patch(three(), 2, 50, b" " * 30))) == [(2, "受取人名")]

    def test_full_width_text(self):
        issues = rejection(patch(three(), 1, 14, "山田".encode("cp932")))
        assert where(issues) == [(1, "振込依頼人名")]

    def test_bytes_that_are_not_cp932(self):
        issues = rejection(patch(three(), 4, 5, b"\x81"))  # a lead byte followed by a space
        assert where(issues) == [(4, "被仕向銀行名")] and "not CP932" in issues[0].message

    def test_a_zero_amount(self):
        issues = rejection(patch(patch(three(), 4, 80, b"0000000000"), 5, 7, b"000001322567"))
        assert where(issues) == [(4, "振込金額")]

    def test_an_account_type_the_header_cannot_have(self):
        assert where(rejection(patch(three(), 1, 95, b"4"))) == [(1, "預金種目")]

    def test_a_new_code_outside_0_to_2(self):
        assert where(rejection(patch(three(), 2, 90, b"5"))) == [(2, "新規コード")]

    def test_a_clearing_house_number(self):
        assert where(rejection(patch(three(), 2, 38, b"0123"))) == [(2, "手形交換所番号")]

    def test_a_transfer_designation(self):
        assert where(rejection(patch(three(), 2, 111, b"7"))) == [(2, "振込指定区分")]

    def test_an_unknown_identification_flag(self):
        assert where(rejection(patch(three(), 2, 112, b"N"))) == [(2, "識別表示")]

    def test_a_blank_edi_flagged_y(self):
        assert where(rejection(patch(three(), 3, 91, b" " * 20))) == [(3, "EDI情報")]

    def test_an_edi_with_lower_case(self):
        assert where(rejection(patch(three(), 3, 91, b"st"))) == [(3, "EDI情報")]

    def test_customer_codes_that_are_not_digits(self):
        assert where(rejection(patch(three(), 2, 91, b"ABC"))) == [(2, "顧客コード1")]

    @pytest.mark.parametrize(("line", "start"), [(1, 110), (2, 115), (5, 60), (6, 1)])
    def test_something_in_a_blank_field(self, line, start):
        assert where(rejection(patch(three(), line, start, b"X"))) == [(line, "ダミー")]

    def test_every_problem_at_once_in_line_order(self):
        data = patch(patch(three(), 4, 50, "ｼｮｳ".encode("cp932")), 2, 42, b"3")
        assert where(rejection(data)) == [(2, "預金種目"), (4, "受取人名")]

    def test_stops_after_the_first_hundred_problems(self):
        recs = records(three())
        bad = recs[1][:80] + b"ABCDEFGHIJ" + recs[1][90:]
        with pytest.raises(InvalidTransferFile) as caught:
            parse_transfer_file(crlf([recs[0], *[bad] * 150, recs[4], recs[5]]), near=NOV30)
        assert len(caught.value.issues) == MAX_ISSUES and caught.value.truncated


# ------------------------------------------------------------------------------------------- round-trip property

_KANA = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝﾞﾟ"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PARTY = _KANA + _UPPER + "0123456789 ()-."
_BANK = _KANA + _UPPER + "0123456789 -"


def _text(alphabet: str, max_size: int, *, min_size: int = 0) -> st.SearchStrategy[str]:
    """Text that reads back as written: no trailing space, not only spaces."""
    return st.text(alphabet, min_size=min_size, max_size=max_size).map(str.rstrip).filter(lambda s: len(s) >= min_size)


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


_customer_code = st.one_of(st.just(""), _digits(10).filter(lambda s: s != "0000000000"))
_headers = st.builds(
    TransferHeader,
    requester_code=_digits(10),
    requester_name=_text(_PARTY, 40, min_size=1),
    pay_date=st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)).filter(is_bank_business_day),
    bank_code=_digits(4),
    bank_name=_text(_BANK, 15),
    branch_code=_digits(3),
    branch_name=_text(_BANK, 15),
    account_type=st.sampled_from("129"),
    account_number=_digits(7),
)
_transfers = st.builds(
    Transfer,
    bank_code=_digits(4),
    bank_name=_text(_BANK, 15),
    branch_code=_digits(3),
    branch_name=_text(_BANK, 15),
    account_type=st.sampled_from("1249"),
    account_number=_digits(7),
    holder_name=_text(_PARTY, 30, min_size=1),
    amount=st.integers(1, 9_999_999_999),
    new_code=st.sampled_from("012"),
    edi=st.one_of(st.just(""), _text(_PARTY, 20, min_size=1)),
    customer_code1=_customer_code,
    customer_code2=_customer_code,
).map(lambda t: dataclasses.replace(t, customer_code1="", customer_code2="") if t.edi else t)


class TestRoundTrip:
    @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
    @given(header=_headers, transfers=st.lists(_transfers, min_size=1, max_size=8), crlf_=st.booleans())
    def test_parse_gives_back_what_was_built(self, header, transfers, crlf_):
        data = build_transfer_file(header, transfers, crlf=crlf_)
        assert len(data) == (len(transfers) + 3) * (RECORD_LENGTH + (2 if crlf_ else 0))
        assert parse_transfer_file(data, near=header.pay_date) == (header, transfers)
