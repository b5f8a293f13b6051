"""Zengin 振込入金通知 (01) and 入出金取引明細 (03): golden files, payments, every rejection, round trips."""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.collections.formats import FileRejected, IncomingPayment, LineIssue, detect_and_parse, parse_zengin
from domain.collections.formats.wareki import InvalidWarekiDate, date_to_wareki, wareki_to_date
from domain.collections.formats.zengin import (
    RECORD_LENGTH,
    Zengin01Group,
    Zengin01Transfer,
    Zengin03Entry,
    Zengin03Group,
    ZenginFile,
    build_zengin_01,
    build_zengin_03,
    read_zengin,
)

GOLDEN = pathlib.Path(__file__).parent / "golden"
NOV18, NOV19, NOV20 = dt.date(2026, 11, 18), dt.date(2026, 11, 19), dt.date(2026, 11, 20)

# The content of golden/zengin_01_crlf.dat (golden/README.md): two accounts, the first with a cancel record.
GROUPS_01 = (
    Zengin01Group(
        bank_code="0009",
        branch_code="101",
        account_number="1234567",
        period_from=NOV20,
        period_to=NOV20,
        bank_name="ﾐﾂｲｽﾐﾄﾓ",
        branch_name="ﾄｳｷﾖｳ",
        account_name="ｶ)ﾃｽﾄﾍﾟｲ",
        transfers=(
            Zengin01Transfer(
                inquiry_no="000101",
                account_date=NOV20,
                value_date=NOV20,
                amount=12_345,
                payer_name="ﾔﾏﾀﾞ ﾀﾛｳ",
                remitting_bank="ﾐｽﾞﾎ",
                remitting_branch="ｼﾌﾞﾔ",
                edi="INV-000123",
            ),
            Zengin01Transfer(
                inquiry_no="000102",
                account_date=NOV20,
                value_date=NOV20,
                amount=8_800,
                payer_code="0000012345",
                payer_name="ｽｽﾞｷ ﾊﾅｺ",
                remitting_bank="ﾕｳﾁﾖ",
                remitting_branch="ｾﾞﾛｲﾁﾊﾁ",
            ),
            Zengin01Transfer(
                inquiry_no="000101",
                account_date=NOV20,
                value_date=NOV20,
                amount=12_345,
                payer_name="ﾔﾏﾀﾞ ﾀﾛｳ",
                remitting_bank="ﾐｽﾞﾎ",
                remitting_branch="ｼﾌﾞﾔ",
                cancel=True,
                edi="INV-000123",
            ),
        ),
    ),
    Zengin01Group(
        bank_code="0009",
        branch_code="205",
        account_number="7654321",
        period_from=NOV19,
        period_to=NOV20,
        bank_name="ﾐﾂｲｽﾐﾄﾓ",
        branch_name="ｼﾝｼﾞﾕｸ",
        account_name="ｶ)ﾃｽﾄﾍﾟｲ",
        transfers=(
            Zengin01Transfer(
                inquiry_no="000201",
                account_date=NOV19,
                value_date=NOV19,
                amount=300_000,
                payer_name="ｶ)ｻﾝﾌﾟﾙｼﾖｳｼﾞ",
                remitting_bank="ﾘｿﾅ",
                remitting_branch="ｵｵｻｶ",
            ),
            Zengin01Transfer(
                inquiry_no="000202",
                account_date=NOV20,
                value_date=NOV20,
                amount=4_980,
                payer_name="ﾀﾅｶ ｲﾁﾛｳ",
                edi="ORDER 77",
            ),
        ),
    ),
)

# The content of golden/zengin_03_crlf.dat: 入金, a fee 出金, a 訂正 of the first 入金, and a second account.
GROUPS_03 = (
    Zengin03Group(
        bank_code="0999",
        branch_code="001",
        account_number="0001234567",
        period_from=NOV18,
        period_to=NOV20,
        bank_name="ﾃｽﾄｷﾞﾝｺｳ",
        branch_name="ﾎﾝﾃﾝ",
        account_name="ｶ)ﾃｽﾄﾍﾟｲ",
        opening_balance=1_000_000,
        entries=(
            Zengin03Entry(
                inquiry_no="00000011",
                account_date=NOV18,
                value_date=NOV18,
                direction="1",
                transaction_type="11",
                amount=5_000,
                payer_name="ﾔﾏﾀﾞ ﾀﾛｳ",
                remitting_bank="ﾐｽﾞﾎ",
                remitting_branch="ﾄｳｷﾖｳ",
                description="ﾌﾘｺﾐ",
                edi="INV-000200",
            ),
            Zengin03Entry(
                inquiry_no="00000012",
                account_date=NOV19,
                value_date=NOV19,
                direction="2",
                transaction_type="14",
                amount=1_200,
                description="ﾃｽｳﾘﾖｳ",
            ),
            Zengin03Entry(
                inquiry_no="00000013",
                account_date=NOV19,
                value_date=NOV19,
                direction="1",
                transaction_type="11",
                amount=7_700,
                payer_code="0000054321",
                payer_name="ｽｽﾞｷ ﾊﾅｺ",
                description="ﾌﾘｺﾐ",
            ),
            Zengin03Entry(
                inquiry_no="00000011",
                account_date=NOV20,
                value_date=NOV18,
                direction="2",
                transaction_type="19",
                amount=5_000,
                payer_name="ﾔﾏﾀﾞ ﾀﾛｳ",
                description="ｸﾐﾓﾄﾞｼ",
            ),
        ),
    ),
    Zengin03Group(
        bank_code="0999",
        branch_code="001",
        account_number="0007654321",
        period_from=NOV20,
        period_to=NOV20,
        bank_name="ﾃｽﾄｷﾞﾝｺｳ",
        branch_name="ﾎﾝﾃﾝ",
        deposit_type="2",
        account_name="ｶ)ﾃｽﾄﾍﾟｲ",
        opening_balance=None,
        entries=(
            Zengin03Entry(
                inquiry_no="00000021",
                account_date=NOV20,
                value_date=NOV20,
                direction="1",
                transaction_type="11",
                amount=990,
                payer_name="ﾀﾅｶ ｲﾁﾛｳ",
            ),
        ),
    ),
)

A01 = "0009-101-1234567"
B01 = "0009-205-7654321"
PAYMENTS_01 = [
    IncomingPayment(
        2, f"z01:{A01}:000101:2026-11-20:12345", "payment", "bank_transfer", 12_345, NOV20,
        "ﾔﾏﾀﾞ ﾀﾛｳ", "", "INV-000123", A01, None, None,
    ),
    IncomingPayment(
        3, f"z01:{A01}:000102:2026-11-20:8800", "payment", "bank_transfer", 8_800, NOV20,
        "ｽｽﾞｷ ﾊﾅｺ", "0000012345", "", A01, None, None,
    ),
    IncomingPayment(
        4, f"z01:{A01}:000101:2026-11-20:12345:c", "reversal", "bank_transfer", 12_345, NOV20,
        "ﾔﾏﾀﾞ ﾀﾛｳ", "", "INV-000123", A01, None, f"z01:{A01}:000101:2026-11-20:12345",
    ),
    IncomingPayment(
        7, f"z01:{B01}:000201:2026-11-19:300000", "payment", "bank_transfer", 300_000, NOV19,
        "ｶ)ｻﾝﾌﾟﾙｼﾖｳｼﾞ", "", "", B01, None, None,
    ),
    IncomingPayment(
        8, f"z01:{B01}:000202:2026-11-20:4980", "payment", "bank_transfer", 4_980, NOV20,
        "ﾀﾅｶ ｲﾁﾛｳ", "", "ORDER 77", B01, None, None,
    ),
]  # fmt: skip

A03 = "0999-001-1234567"
B03 = "0999-001-7654321"
PAYMENTS_03 = [
    IncomingPayment(
        2, f"z03:{A03}:00000011:2026-11-18:5000", "payment", "bank_transfer", 5_000, NOV18,
        "ﾔﾏﾀﾞ ﾀﾛｳ", "", "INV-000200", A03, None, None,
    ),
    IncomingPayment(
        4, f"z03:{A03}:00000013:2026-11-19:7700", "payment", "bank_transfer", 7_700, NOV19,
        "ｽｽﾞｷ ﾊﾅｺ", "0000054321", "", A03, None, None,
    ),
    IncomingPayment(
        5, f"z03:{A03}:00000011:2026-11-20:5000:c", "reversal", "bank_transfer", 5_000, NOV20,
        "ﾔﾏﾀﾞ ﾀﾛｳ", "", "", A03, None, f"z03:{A03}:00000011:2026-11-18:5000",
    ),
    IncomingPayment(
        8, f"z03:{B03}:00000021:2026-11-20:990", "payment", "bank_transfer", 990, NOV20,
        "ﾀﾅｶ ｲﾁﾛｳ", "", "", B03, None, None,
    ),
]  # fmt: skip


@pytest.fixture(autouse=True)
def today():
    """The files are dated 2026-11-20; 作成日 is only plausible within ten years of today, so today is fixed."""
    with freeze_time("2026-11-25 10:00:00"):
        yield


# The autouse clock above is the same for every example of a property test.
PROPERTY = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


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


def rejection(data: bytes) -> list[LineIssue]:
    with pytest.raises(FileRejected) as caught:
        parse_zengin(data)
    return caught.value.issues


def where(issues: list[LineIssue]) -> list[tuple[int, str]]:
    return [(issue.line, issue.field) for issue in issues]


class TestBuildZengin01:
    def test_matches_the_golden_file_byte_for_byte(self):
        assert build_zengin_01(GROUPS_01, created_on=NOV20) == golden("zengin_01_crlf.dat")

    def test_every_record_is_200_bytes_and_crlf_terminated(self):
        data = build_zengin_01(GROUPS_01, created_on=NOV20)
        assert len(data) == 10 * (RECORD_LENGTH + 2)
        assert all(len(rec) == RECORD_LENGTH for rec in records(data))

    def test_trailers_count_transfers_and_cancels_apart(self):
        recs = records(build_zengin_01(GROUPS_01, created_on=NOV20))
        # 振込合計件数 2, 振込合計金額 21,145 (12,345 + 8,800), 取消合計件数 1, 取消合計金額 12,345
        assert recs[4][:37] == b"8" + b"000002" + b"000000021145" + b"000001" + b"000000012345"
        assert recs[8][:37] == b"8" + b"000002" + b"000000304980" + b"000000" + b"000000000000"
        assert recs[9] == b"9" + b" " * 199

    def test_dates_are_reiwa_yymmdd(self):
        header = records(build_zengin_01(GROUPS_01, created_on=NOV20))[0]
        assert header[4:22] == b"081120" * 3

    def test_without_crlf_the_records_are_concatenated(self):
        assert build_zengin_01(GROUPS_01, created_on=NOV20, crlf=False) == b"".join(
            records(golden("zengin_01_crlf.dat"))
        )

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"payer_name": "山田"}, "full-width"),
            ({"payer_name": "ｱ" * 49}, "49 bytes, the field holds 48"),
            ({"payer_name": "ﾔﾏﾀﾞ "}, "ends in white space"),
            ({"inquiry_no": "12345"}, "照会番号 must be exactly 6"),
            ({"amount": 10**10}, "金額 must be an int"),
            ({"payer_code": "0000000000"}, "write ''"),
            ({"account_date": dt.date(1988, 1, 1)}, "before 平成"),
        ],
    )
    def test_refuses_values_that_do_not_fit(self, change, message):
        transfer = Zengin01Transfer(inquiry_no="000001", account_date=NOV20, value_date=NOV20, amount=1)
        group = Zengin01Group(
            bank_code="0009",
            branch_code="101",
            account_number="1234567",
            period_from=NOV20,
            period_to=NOV20,
            transfers=(Zengin01Transfer(**{**_fields(transfer), **change}),),
        )
        with pytest.raises(ValueError, match=message):
            build_zengin_01([group], created_on=NOV20)


class TestBuildZengin03:
    def test_matches_the_golden_file_byte_for_byte(self):
        assert build_zengin_03(GROUPS_03, created_on=NOV20) == golden("zengin_03_crlf.dat")

    def test_every_record_is_200_bytes(self):
        assert all(len(rec) == RECORD_LENGTH for rec in records(build_zengin_03(GROUPS_03, created_on=NOV20)))

    def test_trailer_carries_counts_sums_and_the_closing_balance(self):
        recs = records(build_zengin_03(GROUPS_03, created_on=NOV20))
        trailer = recs[5]
        assert trailer[1:7] == b"000002" and int(trailer[7:20]) == 12_700
        assert trailer[20:26] == b"000002" and int(trailer[26:39]) == 6_200
        assert trailer[39:40] == b"1" and int(trailer[40:54]) == 1_000_000 + 12_700 - 6_200
        assert trailer[54:61] == b"0000004"
        # No opening balance given: 貸越区分 0 in both header and trailer.
        assert recs[6][113:114] == b"0" and recs[8][39:40] == b"0"

    def test_end_record_counts_records_and_accounts(self):
        end = records(build_zengin_03(GROUPS_03, created_on=NOV20))[-1]
        assert end[:16] == b"9" + b"0000000009" + b"00002"

    def test_a_negative_balance_is_written_with_貸越区分_2(self):
        group = Zengin03Group(
            bank_code="0999",
            branch_code="001",
            account_number="0000000001",
            period_from=NOV20,
            period_to=NOV20,
            opening_balance=-500,
        )
        recs = records(build_zengin_03([group], created_on=NOV20))
        assert recs[0][113:129] == b"2" + b"1" + b"00000000000500"
        assert recs[1][39:54] == b"2" + b"00000000000500"


class TestParseZengin01:
    def test_golden_file(self):
        parsed = parse_zengin(golden("zengin_01_crlf.dat"))
        assert parsed.kind == "zengin_01"
        assert parsed.payments == PAYMENTS_01
        assert parsed.record_count == 10
        assert parsed.total_amount == 21_145 + 304_980
        assert parsed.created_on == NOV20

    def test_read_gives_back_every_field(self):
        assert read_zengin(golden("zengin_01_crlf.dat")) == ZenginFile(
            kind="zengin_01", created_on=NOV20, groups=GROUPS_01
        )

    @pytest.mark.parametrize(
        "transform",
        [
            pytest.param(lambda data: data.replace(b"\r\n", b"\n"), id="LF"),
            pytest.param(lambda data: data.replace(b"\r\n", b""), id="no separator"),
            pytest.param(lambda data: data + b"\x1a", id="EOF byte"),
            pytest.param(lambda data: data.replace(b"\r\n", b"") + b"\x1a", id="no separator and EOF byte"),
            pytest.param(lambda data: data[:-2], id="no final line break"),
        ],
    )
    def test_separators(self, transform):
        assert parse_zengin(transform(golden("zengin_01_crlf.dat"))).payments == PAYMENTS_01

    def test_detect_and_parse_recognises_it(self):
        assert detect_and_parse(golden("zengin_01_crlf.dat"), "notice.txt").payments == PAYMENTS_01

    def test_identical_transfers_on_one_day_stay_distinct(self):
        # A bank that leaves 照会番号 at zero: two ¥1,000 transfers to one account on one day are two payments, and
        # a cancel of that key reverses them in order.
        same = Zengin01Transfer(inquiry_no="000000", account_date=NOV20, value_date=NOV20, amount=1_000)
        cancel = Zengin01Transfer(inquiry_no="000000", account_date=NOV20, value_date=NOV20, amount=1_000, cancel=True)
        group = Zengin01Group(
            bank_code="0001",
            branch_code="001",
            account_number="0000001",
            period_from=NOV20,
            period_to=NOV20,
            transfers=(same, same, cancel, cancel),
        )
        payments = parse_zengin(build_zengin_01([group], created_on=NOV20)).payments
        key = "z01:0001-001-0000001:000000:2026-11-20:1000"
        assert [p.external_id for p in payments] == [key, f"{key}#2", f"{key}:c", f"{key}:c#2"]
        assert [p.reverses_external_id for p in payments] == [None, None, key, f"{key}#2"]

    def test_a_heisei_file_reads_as_heisei(self):
        # 作成日 310410 = H31-04-10; R31 would be 2049, in the future.
        transfer = Zengin01Transfer(
            inquiry_no="000001", account_date=dt.date(2019, 4, 10), value_date=dt.date(2018, 12, 28), amount=5
        )
        group = Zengin01Group(
            bank_code="0001",
            branch_code="001",
            account_number="0000001",
            period_from=dt.date(2019, 4, 10),
            period_to=dt.date(2019, 4, 10),
            transfers=(transfer,),
        )
        data = build_zengin_01([group], created_on=dt.date(2019, 4, 10))
        assert records(data)[0][4:10] == b"310410"
        assert read_zengin(data).groups == (group,)

    def test_an_empty_group_is_fine(self):
        group = Zengin01Group(
            bank_code="0001", branch_code="001", account_number="0000001", period_from=NOV20, period_to=NOV20
        )
        parsed = parse_zengin(build_zengin_01([group], created_on=NOV20))
        assert (parsed.payments, parsed.record_count, parsed.total_amount) == ([], 3, 0)


class TestParseZengin03:
    def test_golden_file(self):
        parsed = parse_zengin(golden("zengin_03_crlf.dat"))
        assert parsed.kind == "zengin_03"
        assert parsed.payments == PAYMENTS_03
        assert parsed.record_count == 10
        assert parsed.total_amount == 12_700 + 990
        assert parsed.created_on == NOV20

    def test_read_gives_back_every_field(self):
        assert read_zengin(golden("zengin_03_crlf.dat")) == ZenginFile(
            kind="zengin_03", created_on=NOV20, groups=GROUPS_03
        )

    def test_出金_records_are_not_payments(self):
        lines = {payment.line_no for payment in parse_zengin(golden("zengin_03_crlf.dat")).payments}
        assert 3 not in lines  # the fee 出金 (取引区分 14)

    def test_detect_and_parse_recognises_it_without_separators(self):
        data = golden("zengin_03_crlf.dat").replace(b"\r\n", b"")
        assert detect_and_parse(data).payments == PAYMENTS_03

    def test_end_record_may_count_itself(self):
        data = patch(golden("zengin_03_crlf.dat"), 10, 1, b"0000000010")
        assert parse_zengin(data).payments == PAYMENTS_03


class TestRejections:
    """One test per rule; each asserts where (line, field) the problem is reported."""

    def test_wrong_record_length(self):
        recs = records(golden("zengin_01_crlf.dat"))
        recs[2] = recs[2][:-1]
        assert where(rejection(crlf(recs))) == [(3, "レコード長")]

    def test_wrong_length_without_separators(self):
        data = golden("zengin_01_crlf.dat").replace(b"\r\n", b"")[:-1]
        issues = rejection(data)
        assert (10, "レコード長") in where(issues)

    def test_unknown_record_type(self):
        issues = rejection(patch(golden("zengin_01_crlf.dat"), 3, 0, b"7"))
        assert where(issues)[0] == (3, "データ区分")
        assert "must be 1, 2, 8 or 9" in issues[0].message

    def test_data_record_after_the_trailer(self):
        recs = records(golden("zengin_01_crlf.dat"))
        recs[3], recs[4] = recs[4], recs[3]  # trailer before the last data record
        issues = rejection(crlf(recs))
        assert (5, "データ区分") in where(issues)
        assert "outside a header (1) … trailer (8) group" in issues[where(issues).index((5, "データ区分"))].message

    def test_header_before_the_trailer(self):
        recs = records(golden("zengin_01_crlf.dat"))
        del recs[4]  # the first group's trailer
        assert where(rejection(crlf(recs)))[0] == (5, "データ区分")

    def test_missing_end_record(self):
        recs = records(golden("zengin_01_crlf.dat"))[:-1]
        assert where(rejection(crlf(recs))) == [(9, "データ区分")]

    def test_records_after_the_end_record(self):
        recs = records(golden("zengin_01_crlf.dat"))
        assert where(rejection(crlf([*recs, recs[1]]))) == [(11, "データ区分")]

    def test_no_header_at_all(self):
        recs = records(golden("zengin_01_crlf.dat"))
        assert where(rejection(crlf(recs[1:4]))) == [(1, "データ区分")]

    def test_trailer_count_mismatch(self):
        issues = rejection(patch(golden("zengin_01_crlf.dat"), 5, 1, b"000003"))
        assert where(issues) == [(5, "振込合計件数")]
        assert "states 3" in issues[0].message and "come to 2" in issues[0].message

    def test_trailer_amount_mismatch(self):
        assert where(rejection(patch(golden("zengin_01_crlf.dat"), 5, 7, b"000000021146"))) == [(5, "振込合計金額")]

    def test_trailer_cancel_totals_mismatch(self):
        data = patch(golden("zengin_01_crlf.dat"), 5, 19, b"000000" + b"000000000000")
        assert where(rejection(data)) == [(5, "取消合計件数"), (5, "取消合計金額")]

    def test_non_digit_in_a_numeric_field(self):
        issues = rejection(patch(golden("zengin_01_crlf.dat"), 2, 19, b"00000123x5"))
        assert where(issues) == [(2, "金額")]
        assert "'00000123x5'" in issues[0].message

    def test_non_digit_in_a_header(self):
        assert where(rejection(patch(golden("zengin_01_crlf.dat"), 6, 60, b"7654 21"))) == [(6, "口座番号")]

    def test_undecodable_byte(self):
        # 0x82 is a CP932 lead byte; a space cannot follow it.
        issues = rejection(patch(golden("zengin_01_crlf.dat"), 3, 60, b"\x82 "))
        assert where(issues) == [(3, "振込依頼人名")]
        assert "0x82" in issues[0].message

    def test_double_byte_character_cut_by_a_field_boundary(self):
        # The last byte of 振込依頼人名 (byte 97) is the lead byte of a character whose second byte is the first of
        # 仕向銀行名: each field is decoded on its own, so the name is reported.
        issues = rejection(patch(golden("zengin_01_crlf.dat"), 3, 96, b"\x82\xa0"))
        assert where(issues) == [(3, "振込依頼人名")]
        assert "byte 97" in issues[0].message

    def test_full_width_text_that_decodes_is_accepted(self):
        data = patch(golden("zengin_01_crlf.dat"), 3, 49, "山田".encode("cp932"))
        assert parse_zengin(data).payments[1].payer_name.startswith("山田")

    def test_impossible_date(self):
        issues = rejection(patch(golden("zengin_01_crlf.dat"), 2, 7, b"081331"))
        assert where(issues) == [(2, "勘定日")]
        assert "no date of 令和" in issues[0].message

    def test_date_that_fits_no_era(self):
        # R32 = 2050 is in the future and there was no 平成32.
        assert where(rejection(patch(golden("zengin_01_crlf.dat"), 2, 13, b"320101"))) == [(2, "起算日")]

    def test_creation_date_in_the_future(self):
        with freeze_time("2026-11-01"):
            issues = rejection(golden("zengin_01_crlf.dat"))
        assert (1, "作成日") in where(issues)

    def test_ebcdic_code_class(self):
        issues = rejection(patch(golden("zengin_01_crlf.dat"), 1, 3, b"1"))
        assert where(issues) == [(1, "コード区分")]
        assert "EBCDIC" in issues[0].message

    def test_ebcdic_encoded_file(self):
        data = "1010".encode("cp500") + b"\x40" * 196
        assert where(rejection(data)) == [(1, "コード区分")]

    def test_ebcdic_code_class_in_a_later_header(self):
        assert where(rejection(patch(golden("zengin_01_crlf.dat"), 6, 3, b"1"))) == [(6, "コード区分")]

    def test_unsupported_kind(self):
        issues = rejection(patch(golden("zengin_01_crlf.dat"), 1, 1, b"21"))
        assert where(issues) == [(1, "種別コード")]

    def test_kinds_mixed_in_one_file(self):
        assert where(rejection(patch(golden("zengin_01_crlf.dat"), 6, 1, b"03"))) == [(6, "種別コード")]

    def test_cancel_flag_other_than_0_or_1(self):
        assert where(rejection(patch(golden("zengin_01_crlf.dat"), 2, 127, b"2"))) == [(2, "取消区分")]

    def test_zero_amount(self):
        transfer = Zengin01Transfer(inquiry_no="000001", account_date=NOV20, value_date=NOV20, amount=0)
        group = Zengin01Group(
            bank_code="0001",
            branch_code="001",
            account_number="0000001",
            period_from=NOV20,
            period_to=NOV20,
            transfers=(transfer,),
        )
        issues = rejection(build_zengin_01([group], created_on=NOV20))
        assert where(issues) == [(2, "金額")]

    def test_empty_file(self):
        assert where(rejection(b"")) == [(0, "file")]
        assert where(rejection(b"\r\n\x1a")) == [(0, "file")]

    def test_every_problem_is_reported_not_just_the_first(self):
        data = patch(golden("zengin_01_crlf.dat"), 2, 19, b"00000123x5")
        data = patch(data, 6, 41, b"2x5")
        data = patch(data, 7, 7, b"081331")
        assert where(rejection(data)) == [(2, "金額"), (6, "支店コード"), (7, "勘定日")]

    def test_issues_are_capped_at_100(self):
        recs = records(golden("zengin_01_crlf.dat"))
        bad = recs[1][:19] + b"x" + recs[1][20:]
        with pytest.raises(FileRejected) as caught:
            parse_zengin(crlf([recs[0], *([bad] * 150), *recs[4:]]))
        assert len(caught.value.issues) == 100
        assert caught.value.truncated
        assert "(and more)" in str(caught.value)

    def test_03_trailer_counts_and_sums(self):
        data = patch(golden("zengin_03_crlf.dat"), 6, 1, b"000003" + b"0000000012701")
        assert where(rejection(data)) == [(6, "入金件数"), (6, "入金額合計")]

    def test_03_data_record_count(self):
        assert where(rejection(patch(golden("zengin_03_crlf.dat"), 6, 54, b"0000005"))) == [(6, "データ・レコード件数")]

    def test_03_closing_balance(self):
        issues = rejection(patch(golden("zengin_03_crlf.dat"), 6, 40, b"00000001006501"))
        assert where(issues) == [(6, "取引後残高")]
        assert "1,006,500" in issues[0].message

    def test_03_closing_balance_with_signs(self):
        # Opening −1,000,000 (貸越区分 2): closing must be −993,500.
        data = patch(golden("zengin_03_crlf.dat"), 1, 113, b"2")
        assert where(rejection(data)) == [(6, "取引後残高")]
        assert parse_zengin(patch(data, 6, 39, b"2" + b"00000000993500")).payments == PAYMENTS_03

    def test_03_unknown_balance_sign(self):
        assert where(rejection(patch(golden("zengin_03_crlf.dat"), 1, 113, b"3"))) == [(1, "貸越区分")]

    def test_03_end_record_counts(self):
        data = patch(golden("zengin_03_crlf.dat"), 10, 1, b"0000000008" + b"00003")
        assert where(rejection(data)) == [(10, "レコード総件数"), (10, "口座数")]

    def test_03_account_number_beyond_7_digits(self):
        issues = rejection(patch(golden("zengin_03_crlf.dat"), 7, 63, b"1007654321"))
        assert where(issues) == [(7, "口座番号")]

    def test_03_direction_other_than_1_or_2(self):
        assert where(rejection(patch(golden("zengin_03_crlf.dat"), 3, 21, b"3"))) == [(3, "入払区分")]

    def test_03_zero_amount_入金(self):
        entry = Zengin03Entry(
            inquiry_no="00000001", account_date=NOV20, value_date=NOV20, direction="1", transaction_type="11", amount=0
        )
        group = Zengin03Group(
            bank_code="0001",
            branch_code="001",
            account_number="0000000001",
            period_from=NOV20,
            period_to=NOV20,
            entries=(entry,),
        )
        assert where(rejection(build_zengin_03([group], created_on=NOV20))) == [(2, "取引金額")]

    def test_read_zengin_rejects_too(self):
        with pytest.raises(FileRejected):
            read_zengin(patch(golden("zengin_03_crlf.dat"), 6, 1, b"000009"))


class TestWareki:
    @pytest.mark.parametrize(
        ("yymmdd", "not_after", "expected"),
        [
            ("081120", NOV20, NOV20),
            ("010501", NOV20, dt.date(2019, 5, 1)),  # the first day of 令和
            ("310430", NOV20, dt.date(2019, 4, 30)),  # the last day of 平成
            ("300415", NOV20, dt.date(2018, 4, 15)),  # R30 = 2048 lies in the future
            ("010415", NOV20, dt.date(1989, 4, 15)),  # R1 had no April
            ("010108", NOV20, dt.date(1989, 1, 8)),  # the first day of 平成
            ("090101", dt.date(2026, 12, 31), dt.date(1997, 1, 1)),  # R9 is after not_after
            ("090101", dt.date(2027, 1, 1), dt.date(2027, 1, 1)),
            ("060229", NOV20, dt.date(2024, 2, 29)),  # a leap day of 令和6
        ],
    )
    def test_reads(self, yymmdd, not_after, expected):
        assert wareki_to_date(yymmdd, not_after=not_after) == expected

    @pytest.mark.parametrize(
        "yymmdd", ["081331", "080230", "000101", "010101", "320101", "31050", "0811２0", "320501", "990101"]
    )
    def test_rejects(self, yymmdd):
        with pytest.raises(InvalidWarekiDate):
            wareki_to_date(yymmdd, not_after=NOV20)

    @pytest.mark.parametrize(
        ("day", "text"),
        [
            (NOV20, "081120"),
            (dt.date(2019, 5, 1), "010501"),
            (dt.date(2019, 4, 30), "310430"),
            (dt.date(1989, 1, 8), "010108"),
        ],
    )
    def test_writes(self, day, text):
        assert date_to_wareki(day) == text

    def test_refuses_before_heisei(self):
        with pytest.raises(ValueError, match="before 平成"):
            date_to_wareki(dt.date(1989, 1, 7))

    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.dates(min_value=dt.date(1996, 11, 21), max_value=dt.date(2026, 11, 20)))
    def test_round_trip_within_a_window_shorter_than_30_years(self, day):
        assert wareki_to_date(date_to_wareki(day), not_after=dt.date(2026, 11, 20)) == day

    def test_the_window_decides_and_can_exclude_both_readings(self):
        assert wareki_to_date("081120", not_after=NOV20, not_before=dt.date(2016, 11, 20)) == NOV20
        assert wareki_to_date("081120", not_after=dt.date(2026, 11, 1)) == dt.date(1996, 11, 20)
        with pytest.raises(InvalidWarekiDate, match="outside the plausible"):
            wareki_to_date("081120", not_after=dt.date(2026, 11, 1), not_before=dt.date(2016, 11, 1))


# ---------------------------------------------------------------------------------------- round-trip property

HALF_WIDTH = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789()-./ " + "".join(chr(c) for c in range(0xFF71, 0xFFA0))


def texts(width: int) -> st.SearchStrategy[str]:
    return st.text(HALF_WIDTH, max_size=width).map(lambda s: s.rstrip(" "))


def digits(width: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=width, max_size=width)


# Entries fall in the two years before the file's creation date, which lies in the five years up to (frozen) today.
created_dates = st.dates(min_value=dt.date(2021, 1, 1), max_value=dt.date(2026, 11, 20))
offsets = st.integers(min_value=0, max_value=730).map(lambda n: dt.timedelta(days=n))
amounts = st.integers(min_value=1, max_value=9_999_999_999)
payer_codes = st.one_of(st.just(""), digits(10).filter(lambda s: s != "0" * 10))


@st.composite
def file_01(draw):
    created = draw(created_dates)

    def day():
        return created - draw(offsets)

    groups = []
    for _ in range(draw(st.integers(1, 3))):
        transfers = tuple(
            Zengin01Transfer(
                inquiry_no=draw(digits(6)),
                account_date=day(),
                value_date=draw(st.one_of(st.none(), st.just(created))),
                amount=draw(amounts),
                other_bank_amount=draw(st.integers(0, 9_999_999_999)),
                payer_code=draw(payer_codes),
                payer_name=draw(texts(48)),
                remitting_bank=draw(texts(15)),
                remitting_branch=draw(texts(15)),
                cancel=draw(st.booleans()),
                edi=draw(texts(20)),
            )
            for _ in range(draw(st.integers(0, 5)))
        )
        groups.append(
            Zengin01Group(
                bank_code=draw(digits(4)),
                branch_code=draw(digits(3)),
                account_number=draw(digits(7)),
                period_from=day(),
                period_to=created,
                bank_name=draw(texts(15)),
                branch_name=draw(texts(15)),
                deposit_type=draw(st.sampled_from("124")),
                account_name=draw(texts(40)),
                transfers=transfers,
            )
        )
    return created, tuple(groups)


@st.composite
def file_03(draw):
    created = draw(created_dates)

    def day():
        return created - draw(offsets)

    optional_day = st.one_of(st.none(), st.just(created))
    groups = []
    for _ in range(draw(st.integers(1, 3))):
        entries = tuple(
            Zengin03Entry(
                inquiry_no=draw(digits(8)),
                account_date=day(),
                value_date=draw(optional_day),
                direction=draw(st.sampled_from("12")),
                transaction_type=draw(st.sampled_from(["10", "11", "12", "13", "14", "18", "19"])),
                amount=draw(st.integers(1, 10**11)),
                other_bank_amount=draw(st.integers(0, 10**11)),
                exchange_date=draw(optional_day),
                dishonour_date=draw(optional_day),
                bill_type=draw(st.sampled_from("0123")),
                bill_number=draw(digits(7)),
                sister_branch=draw(digits(3)),
                payer_code=draw(payer_codes),
                payer_name=draw(texts(48)),
                remitting_bank=draw(texts(15)),
                remitting_branch=draw(texts(15)),
                description=draw(texts(20)),
                edi=draw(texts(20)),
            )
            for _ in range(draw(st.integers(0, 5)))
        )
        groups.append(
            Zengin03Group(
                bank_code=draw(digits(4)),
                branch_code=draw(digits(3)),
                account_number="000" + draw(digits(7)),
                period_from=day(),
                period_to=created,
                bank_name=draw(texts(15)),
                branch_name=draw(texts(15)),
                deposit_type=draw(st.sampled_from("124")),
                account_name=draw(texts(40)),
                passbook_type=draw(st.sampled_from("12")),
                opening_balance=draw(st.one_of(st.none(), st.integers(-(10**12), 10**12))),
                entries=entries,
            )
        )
    return created, tuple(groups)


class TestRoundTrip:
    @PROPERTY
    @given(file_01(), st.booleans())
    def test_01(self, drawn, with_crlf):
        created, groups = drawn
        data = build_zengin_01(groups, created_on=created, crlf=with_crlf)
        assert read_zengin(data) == ZenginFile(kind="zengin_01", created_on=created, groups=groups)
        parsed = parse_zengin(data)
        transfers = [t for g in groups for t in g.transfers]
        assert [(p.amount, p.kind == "reversal") for p in parsed.payments] == [(t.amount, t.cancel) for t in transfers]
        assert parsed.total_amount == sum(t.amount for t in transfers if not t.cancel)
        assert len({p.external_id for p in parsed.payments}) == len(parsed.payments)

    @PROPERTY
    @given(file_03(), st.booleans())
    def test_03(self, drawn, with_crlf):
        created, groups = drawn
        data = build_zengin_03(groups, created_on=created, crlf=with_crlf)
        assert read_zengin(data) == ZenginFile(kind="zengin_03", created_on=created, groups=groups)
        parsed = parse_zengin(data)
        entries = [e for g in groups for e in g.entries]
        kept = [e for e in entries if e.direction == "1" or e.transaction_type == "19"]
        assert [p.amount for p in parsed.payments] == [e.amount for e in kept]
        assert parsed.total_amount == sum(e.amount for e in entries if e.direction == "1")
        assert len({p.external_id for p in parsed.payments}) == len(parsed.payments)


def _fields(transfer: Zengin01Transfer) -> dict:
    return {name: getattr(transfer, name) for name in Zengin01Transfer.__dataclass_fields__}
