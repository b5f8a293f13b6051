"""Per-invoice payment keys: convenience-store payment number and GS1-128 barcode, virtual account number."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.invoicing.keys import (
    BARCODE_LENGTH,
    MAX_BARCODE_AMOUNT,
    MAX_PAYMENT_SEQ,
    MAX_VIRTUAL_ACCOUNT_SEQ,
    PAYMENT_NUMBER_LENGTH,
    VIRTUAL_ACCOUNT_LENGTH,
    ConvenienceBarcode,
    InvalidPaymentKey,
    PaymentNumber,
    gs1_128_barcode_data,
    gs1_check_digit,
    parse_gs1_128_barcode_data,
    parse_payment_number,
    parse_virtual_account,
    payment_number,
    virtual_account_number,
)

issuer_codes = st.text(alphabet="0123456789", min_size=5, max_size=5)
payment_seqs = st.integers(min_value=1, max_value=MAX_PAYMENT_SEQ)
reissues = st.integers(min_value=0, max_value=9)


def flip_digit(s: str, position: int) -> str:
    """The string with one digit changed (+1 mod 10)."""
    return s[:position] + str((int(s[position]) + 1) % 10) + s[position + 1 :]


def barcode(**overrides) -> str:
    fields = {
        "company_code": "929023",
        "issuer_code": "21942",
        "seq": 375_543,
        "due_date": date(2026, 12, 9),
        "amount": 12_345,
    }
    return gs1_128_barcode_data(**(fields | overrides))


class TestGs1CheckDigit:
    @pytest.mark.parametrize(
        ("digits", "check"),
        [
            # Worked examples of the GS1-128 標準料金代理収納ガイドライン (43 digits, AI included).
            ("91" + "912345" + "012345678901234567890" + "1" + "010331" + "0" + "123000", 3),
            ("91" + "942386" + "178953917853935692730" + "1" + "030731" + "1" + "031290", 3),
            # EAN-13 / JAN use the same modulus 10, weights 3-1.
            ("490123456789", 4),
            ("400763000011", 6),
            ("4912345", 6),
            ("0", 0),
        ],
    )
    def test_known_vectors(self, digits, check):
        assert gs1_check_digit(digits) == check

    @pytest.mark.parametrize("bad", ["", "12a", "１２３", " 12"])
    def test_rejects_non_ascii_digits(self, bad):
        with pytest.raises(ValueError, match="ASCII digits"):
            gs1_check_digit(bad)

    @given(st.text(alphabet="0123456789", min_size=1, max_size=43), st.data())
    def test_catches_every_single_digit_error(self, body, data):
        full = body + str(gs1_check_digit(body))
        position = data.draw(st.integers(min_value=0, max_value=len(full) - 1))
        changed = flip_digit(full, position)
        assert gs1_check_digit(changed[:-1]) != int(changed[-1])


class TestPaymentNumber:
    def test_layout(self):
        number = payment_number("21942", 375_543, 2)
        assert len(number) == PAYMENT_NUMBER_LENGTH == 21
        assert number.isdigit()
        assert number[:5] == "21942"
        assert number[5:19] == "00000000375543"
        assert number[19] == "2"
        assert int(number[20]) == gs1_check_digit(number[:20])

    def test_known_value(self):
        # body 21942 00000000000001 0; weights 3,1,… from the right: 0·3 + 1·1 + 2·1 + 4·3 + 9·1 + 1·3 + 2·1 = 29
        assert payment_number("21942", 1) == "219420000000000000101"

    def test_reissue_changes_the_number_not_the_seq(self):
        first, again = payment_number("21942", 77), payment_number("21942", 77, 1)
        assert first != again
        assert parse_payment_number(first).seq == parse_payment_number(again).seq == 77

    def test_distinct_issuers_never_collide(self):
        assert payment_number("00001", 5) != payment_number("00002", 5)

    @given(issuer_codes, payment_seqs, reissues)
    def test_round_trip(self, issuer, seq, reissue):
        number = payment_number(issuer, seq, reissue)
        assert len(number) == PAYMENT_NUMBER_LENGTH
        assert parse_payment_number(number) == PaymentNumber(issuer, seq, reissue)
        assert parse_payment_number(number) == (issuer, seq, reissue)

    def test_round_trip_over_consecutive_seqs_is_injective(self):
        numbers = {payment_number("12345", seq, seq % 10) for seq in range(1, 20_001)}
        assert len(numbers) == 20_000
        assert {parse_payment_number(n).seq for n in numbers} == set(range(1, 20_001))

    @pytest.mark.parametrize("seq", [1, 9, 10, 99_999_999, MAX_PAYMENT_SEQ])
    def test_seq_bounds(self, seq):
        assert parse_payment_number(payment_number("99999", seq, 9)) == ("99999", seq, 9)

    @pytest.mark.parametrize("seq", [0, -1, MAX_PAYMENT_SEQ + 1])
    def test_rejects_out_of_range_seq(self, seq):
        with pytest.raises(ValueError, match="seq must be in"):
            payment_number("21942", seq)

    @pytest.mark.parametrize("reissue", [-1, 10])
    def test_rejects_out_of_range_reissue(self, reissue):
        with pytest.raises(ValueError, match="reissue must be in"):
            payment_number("21942", 1, reissue)

    @pytest.mark.parametrize("issuer", ["2194", "219420", "2194a", "２１９４２", " 2194", ""])
    def test_rejects_bad_issuer_codes(self, issuer):
        with pytest.raises(ValueError, match="issuer_code must be exactly 5 ASCII digits"):
            payment_number(issuer, 1)

    @pytest.mark.parametrize(("seq", "reissue"), [(True, 0), (1.0, 0), ("1", 0), (1, False)])
    def test_rejects_non_int_numbers(self, seq, reissue):
        with pytest.raises(TypeError, match="must be an int"):
            payment_number("21942", seq, reissue)

    def test_rejects_non_str_issuer(self):
        with pytest.raises(TypeError, match="issuer_code"):
            payment_number(21942, 1)  # type: ignore[arg-type]


class TestParsePaymentNumber:
    number = payment_number("21942", 375_543, 1)

    @pytest.mark.parametrize(
        "printed",
        [
            f"{number[:5]}-{number[5:13]}-{number[13:]}",
            f"{number[:5]} {number[5:13]} {number[13:]}",
            number.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
            f" {number}\n",
        ],
    )
    def test_accepts_printed_forms(self, printed):
        assert parse_payment_number(printed) == ("21942", 375_543, 1)

    @pytest.mark.parametrize("position", range(PAYMENT_NUMBER_LENGTH))
    def test_rejects_any_single_digit_error(self, position):
        with pytest.raises(InvalidPaymentKey, match="check digit"):
            parse_payment_number(flip_digit(self.number, position))

    def test_rejects_an_adjacent_transposition(self):
        swapped = self.number[:14] + self.number[15] + self.number[14] + self.number[16:]
        assert swapped != self.number
        with pytest.raises(InvalidPaymentKey):
            parse_payment_number(swapped)

    @pytest.mark.parametrize("bad", [number[:-1], number + "0", "", "0" * 22])
    def test_rejects_wrong_length(self, bad):
        with pytest.raises(InvalidPaymentKey, match="must have 21 digits"):
            parse_payment_number(bad)

    @pytest.mark.parametrize("bad", [number[:-1] + "X", "A" + number[1:], number[:10] + "." + number[11:]])
    def test_rejects_non_digits(self, bad):
        with pytest.raises(InvalidPaymentKey, match="only digits"):
            parse_payment_number(bad)

    def test_rejects_seq_zero(self):
        body = "21942" + "0" * 14 + "0"
        with pytest.raises(InvalidPaymentKey, match="sequence 0"):
            parse_payment_number(body + str(gs1_check_digit(body)))

    def test_rejects_non_text(self):
        with pytest.raises(InvalidPaymentKey, match="must be text"):
            parse_payment_number(219420000000000000101)  # type: ignore[arg-type]

    def test_is_a_value_error(self):
        with pytest.raises(ValueError):
            parse_payment_number("nope")


class TestGs1128BarcodeData:
    def test_layout(self):
        data = barcode(reissue=1, stamp=True)
        assert len(data) == BARCODE_LENGTH == 44
        assert data.isdigit()
        assert data[:2] == "91"
        assert data[2:8] == "929023"
        assert data[8:29] == payment_number("21942", 375_543, 1)
        assert data[29] == "1"
        assert data[30:36] == "261209"
        assert data[36] == "1"
        assert data[37:43] == "012345"
        assert int(data[43]) == gs1_check_digit(data[:43])

    def test_known_value(self):
        assert barcode() == "91" + "929023" + "219420000000037554301" + "0" + "261209" + "0" + "012345" + "4"

    def test_round_trip(self):
        data = barcode(reissue=3, stamp=True, amount=54_999)
        assert parse_gs1_128_barcode_data(data) == ConvenienceBarcode(
            company_code="929023",
            issuer_code="21942",
            seq=375_543,
            reissue=3,
            due_date=date(2026, 12, 9),
            stamp=True,
            amount=54_999,
        )

    @given(
        company=st.from_regex(r"[59][0-9]{5}", fullmatch=True),
        issuer=issuer_codes,
        seq=payment_seqs,
        reissue=reissues,
        due=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
        amount=st.integers(min_value=1, max_value=MAX_BARCODE_AMOUNT),
        stamp=st.booleans(),
    )
    def test_property_round_trip(self, company, issuer, seq, reissue, due, amount, stamp):
        data = gs1_128_barcode_data(
            company_code=company, issuer_code=issuer, seq=seq, due_date=due, amount=amount, reissue=reissue, stamp=stamp
        )
        assert len(data) == BARCODE_LENGTH
        assert parse_gs1_128_barcode_data(data) == ConvenienceBarcode(company, issuer, seq, reissue, due, stamp, amount)

    @pytest.mark.parametrize("amount", [1, 999, 55_000, MAX_BARCODE_AMOUNT])
    def test_amount_bounds(self, amount):
        assert parse_gs1_128_barcode_data(barcode(amount=amount)).amount == amount

    @pytest.mark.parametrize("amount", [MAX_BARCODE_AMOUNT + 1, 1_000_000, 0, -1])
    def test_rejects_amounts_outside_one_to_999999(self, amount):
        with pytest.raises(ValueError, match="amount must be in 1 … 999,999"):
            barcode(amount=amount)

    @pytest.mark.parametrize("amount", [1000.0, True, "1000"])
    def test_rejects_non_int_amounts(self, amount):
        with pytest.raises(TypeError, match="amount must be an int"):
            barcode(amount=amount)

    @pytest.mark.parametrize("company", ["129023", "92902", "9290234", "92902a", "４２９０２３"])
    def test_rejects_bad_company_codes(self, company):
        with pytest.raises(ValueError, match="company_code"):
            barcode(company_code=company)

    @pytest.mark.parametrize("company", ["929023", "912345", "512345"])
    def test_accepts_legacy_and_jan_company_codes(self, company):
        assert barcode(company_code=company)[2:8] == company

    @pytest.mark.parametrize("due", [date(1999, 12, 31), date(2100, 1, 1)])
    def test_rejects_due_dates_that_do_not_fit_yymmdd(self, due):
        with pytest.raises(ValueError, match="2000–2099"):
            barcode(due_date=due)

    @pytest.mark.parametrize("due", [datetime(2026, 12, 9, 10, 0), "2026-12-09", None])
    def test_rejects_non_date_due_dates(self, due):
        with pytest.raises(TypeError, match="due_date must be a date"):
            barcode(due_date=due)

    @pytest.mark.parametrize("stamp", [1, 0, "1", None])
    def test_rejects_non_bool_stamp(self, stamp):
        with pytest.raises(TypeError, match="stamp must be a bool"):
            barcode(stamp=stamp)

    def test_rejects_what_payment_number_rejects(self):
        with pytest.raises(ValueError, match="reissue"):
            barcode(reissue=10)
        with pytest.raises(ValueError, match="seq"):
            barcode(seq=0)
        with pytest.raises(ValueError, match="issuer_code"):
            barcode(issuer_code="123")


class TestParseGs1128BarcodeData:
    data = barcode(reissue=2, stamp=True)

    def test_accepts_the_human_readable_line(self):
        d = self.data
        line = f"(91){d[2:8]}-{d[8:29]}-{d[29]}-{d[30:36]}-{d[36]}-{d[37:43]}-{d[43]}"
        assert parse_gs1_128_barcode_data(line) == parse_gs1_128_barcode_data(d)

    def test_accepts_full_width_digits(self):
        wide = self.data.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        assert parse_gs1_128_barcode_data(wide).seq == 375_543

    @pytest.mark.parametrize("position", range(BARCODE_LENGTH))
    def test_rejects_any_single_digit_error(self, position):
        with pytest.raises(InvalidPaymentKey):
            parse_gs1_128_barcode_data(flip_digit(self.data, position))

    @pytest.mark.parametrize("bad", [data[:-1], data + "0", "91"])
    def test_rejects_wrong_length(self, bad):
        with pytest.raises(InvalidPaymentKey, match="must have 44 digits"):
            parse_gs1_128_barcode_data(bad)

    def test_rejects_a_foreign_application_identifier(self):
        body = "90" + self.data[2:43]
        with pytest.raises(InvalidPaymentKey, match="application identifier 91"):
            parse_gs1_128_barcode_data(body + str(gs1_check_digit(body)))

    @staticmethod
    def resealed(data: str, position: int, replacement: str) -> str:
        """The barcode with some digits replaced and a valid overall check digit."""
        body = data[:position] + replacement + data[position + len(replacement) : 43]
        return body + str(gs1_check_digit(body))

    def test_rejects_company_code_not_starting_with_5_or_9(self):
        with pytest.raises(InvalidPaymentKey, match="company code"):
            parse_gs1_128_barcode_data(self.resealed(self.data, 2, "1"))

    def test_rejects_a_bad_payment_number_check_digit(self):
        with pytest.raises(InvalidPaymentKey, match="payment number check digit"):
            parse_gs1_128_barcode_data(self.resealed(self.data, 10, str((int(self.data[10]) + 1) % 10)))

    def test_rejects_reissue_mismatch(self):
        with pytest.raises(InvalidPaymentKey, match="reissue count differs"):
            parse_gs1_128_barcode_data(self.resealed(self.data, 29, "5"))

    @pytest.mark.parametrize("yymmdd", ["261301", "260230", "260000", "999999"])
    def test_rejects_invalid_due_dates(self, yymmdd):
        with pytest.raises(InvalidPaymentKey, match="not a valid YYMMDD date"):
            parse_gs1_128_barcode_data(self.resealed(self.data, 30, yymmdd))

    def test_parses_the_21st_century(self):
        parsed = parse_gs1_128_barcode_data(self.resealed(self.data, 30, "000229"))
        assert parsed.due_date == date(2000, 2, 29)

    def test_rejects_an_unknown_stamp_flag(self):
        with pytest.raises(InvalidPaymentKey, match="stamp flag must be 0 or 1"):
            parse_gs1_128_barcode_data(self.resealed(self.data, 36, "2"))

    def test_rejects_a_zero_amount(self):
        with pytest.raises(InvalidPaymentKey, match="amount is zero"):
            parse_gs1_128_barcode_data(self.resealed(self.data, 37, "000000"))

    def test_rejects_letters(self):
        with pytest.raises(InvalidPaymentKey, match="only digits"):
            parse_gs1_128_barcode_data("EAN" + self.data)


class TestVirtualAccountNumber:
    @pytest.mark.parametrize(
        ("seq", "number"),
        [(1, "0000017"), (10, "0000109"), (123_456, "1234565"), (MAX_VIRTUAL_ACCOUNT_SEQ, "9999992")],
    )
    def test_known_values(self, seq, number):
        assert virtual_account_number(seq) == number

    @given(st.integers(min_value=1, max_value=MAX_VIRTUAL_ACCOUNT_SEQ))
    def test_round_trip(self, seq):
        number = virtual_account_number(seq)
        assert len(number) == VIRTUAL_ACCOUNT_LENGTH == 7
        assert number.isdigit()
        assert parse_virtual_account(number) == seq

    @given(st.integers(min_value=1, max_value=MAX_VIRTUAL_ACCOUNT_SEQ))
    def test_the_body_is_the_seq_so_numbers_are_unique_over_the_whole_capacity(self, seq):
        assert virtual_account_number(seq)[:6] == f"{seq:06d}"

    def test_unique_over_a_run_of_consecutive_seqs(self):
        numbers = {virtual_account_number(seq) for seq in range(1, 50_001)}
        assert len(numbers) == 50_000

    @pytest.mark.parametrize("seq", [0, -5, MAX_VIRTUAL_ACCOUNT_SEQ + 1, 10**6])
    def test_rejects_seq_outside_capacity(self, seq):
        with pytest.raises(ValueError, match="seq must be in 1 … 999,999"):
            virtual_account_number(seq)

    @pytest.mark.parametrize("seq", [True, 1.0, "1", None])
    def test_rejects_non_int_seq(self, seq):
        with pytest.raises(TypeError):
            virtual_account_number(seq)


class TestParseVirtualAccount:
    @pytest.mark.parametrize("printed", ["1234565", "123-4565", "１２３４５６５", " 1234565 "])
    def test_accepts_printed_forms(self, printed):
        assert parse_virtual_account(printed) == 123_456

    @given(st.integers(min_value=1, max_value=MAX_VIRTUAL_ACCOUNT_SEQ), st.integers(min_value=0, max_value=6))
    def test_a_single_digit_typo_never_lands_on_another_account(self, seq, position):
        with pytest.raises(InvalidPaymentKey, match="check digit"):
            parse_virtual_account(flip_digit(virtual_account_number(seq), position))

    @pytest.mark.parametrize("bad", ["123456", "12345650", "", "0012-3456-5"])
    def test_rejects_wrong_length(self, bad):
        with pytest.raises(InvalidPaymentKey, match="must have 7 digits"):
            parse_virtual_account(bad)

    @pytest.mark.parametrize("bad", ["123456X", "ABCDEFG", "1234.566"])
    def test_rejects_non_digits(self, bad):
        with pytest.raises(InvalidPaymentKey, match="only digits"):
            parse_virtual_account(bad)

    def test_rejects_the_never_issued_zero(self):
        with pytest.raises(InvalidPaymentKey, match="never issued"):
            parse_virtual_account("0000000")
