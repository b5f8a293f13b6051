"""Carriers and tracking-number validation for shipment reports (出荷報告)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.checkout.carriers import (
    CARRIERS,
    CarrierError,
    InvalidTrackingNumber,
    UnknownCarrier,
    get_carrier,
    normalize_tracking_number,
    s10_check_digit,
    tracking_url,
    validate_tracking_number,
)
from domain.kit.errors import InvalidInput


def seven_dr(body11: str) -> str:
    """A 12-digit number with its mod-7 check digit."""
    return body11 + str(int(body11) % 7)


class TestRegistry:
    def test_has_the_common_japanese_carriers_and_other(self):
        assert {"yamato", "sagawa", "japanpost", "seino", "fukuyama", "other"} <= set(CARRIERS)

    @pytest.mark.parametrize("code", sorted(CARRIERS))
    def test_codes_are_stable_lowercase_and_named_in_japanese(self, code):
        carrier = CARRIERS[code]
        assert carrier.code == code == code.lower()
        assert code.isascii() and code.isalpha()
        assert carrier.name_ja and not carrier.name_ja.isascii()
        assert carrier.name_en and carrier.format_hint

    def test_display_names(self):
        assert CARRIERS["yamato"].name_ja == "ヤマト運輸"
        assert CARRIERS["sagawa"].name_ja == "佐川急便"
        assert CARRIERS["japanpost"].name_ja == "日本郵便"
        assert CARRIERS["seino"].name_ja == "西濃運輸"
        assert CARRIERS["fukuyama"].name_ja == "福山通運"

    @pytest.mark.parametrize("code", sorted(set(CARRIERS) - {"other"}))
    def test_listed_carriers_have_an_https_tracking_template(self, code):
        template = CARRIERS[code].tracking_url_template
        assert template is not None
        assert template.startswith("https://") and "{number}" in template

    def test_other_has_no_tracking_page(self):
        assert CARRIERS["other"].tracking_url_template is None

    def test_registry_is_read_only(self):
        with pytest.raises(TypeError):
            CARRIERS["dhl"] = CARRIERS["other"]  # type: ignore[index]


class TestGetCarrier:
    def test_known(self):
        assert get_carrier("yamato").name_ja == "ヤマト運輸"

    @pytest.mark.parametrize("code", ["dhl", "Yamato", "YAMATO", " yamato", "", "japan_post", None, 1])
    def test_unknown_or_non_canonical_codes(self, code):
        with pytest.raises(UnknownCarrier) as info:
            get_carrier(code)
        assert "expected one of" in str(info.value)
        assert "yamato" in str(info.value)


class TestNormalize:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("1234-5678-9013", "123456789013"),
            (" 1234 5678 9013 ", "123456789013"),
            ("１２３４－５６７８－９０１３", "123456789013"),  # full-width digits and hyphen
            ("1234ー5678ー9013", "123456789013"),  # katakana prolonged sound mark typed as "-"
            ("1234ｰ5678ｰ9013", "123456789013"),  # its half-width form
            ("1234\u20105678\u20139013", "123456789013"),  # hyphen and en dash
            ("1234\u22125678\u30009013", "123456789013"),  # minus sign and ideographic space
            ("1234\t5678\n9013", "123456789013"),
            ("ej123456785jp", "EJ123456785JP"),
            ("ＥＪ１２３４５６７８５ＪＰ", "EJ123456785JP"),
        ],
    )
    def test_separators_width_and_case(self, raw, expected):
        assert normalize_tracking_number(raw) == expected


class TestYamato:
    @pytest.mark.parametrize(
        ("raw", "canonical"),
        [
            ("444413758703", "444413758703"),  # sample from shipping-jp-js
            ("1234-5678-9013", "123456789013"),  # worked example: 12345678901 mod 7 = 3
            ("１２３４－５６７８－９０１３", "123456789013"),
            ("000000000000", "000000000000"),
        ],
    )
    def test_accepts_real_format_numbers(self, raw, canonical):
        assert validate_tracking_number("yamato", raw) == canonical

    @pytest.mark.parametrize("wrong", ["0", "1", "2", "4", "5", "6", "7", "8", "9"])
    def test_rejects_every_wrong_check_digit(self, wrong):
        with pytest.raises(InvalidTrackingNumber, match="check digit does not match"):
            validate_tracking_number("yamato", "12345678901" + wrong)

    def test_message_does_not_reveal_the_expected_digit(self):
        with pytest.raises(InvalidTrackingNumber) as info:
            validate_tracking_number("yamato", "123456789010")
        assert "3" not in info.value.reason

    @pytest.mark.parametrize("raw", ["12345678901", "1234567890134", "3", "1234-5678-901"])
    def test_rejects_wrong_length(self, raw):
        with pytest.raises(InvalidTrackingNumber, match="digits"):
            validate_tracking_number("yamato", raw)

    @pytest.mark.parametrize("raw", ["12345678901A", "1234/5678/9013", "1234.5678.9013", "١٢٣٤٥٦٧٨٩٠١٣"])
    def test_rejects_non_digits(self, raw):
        with pytest.raises(InvalidTrackingNumber, match="only digits"):
            validate_tracking_number("yamato", raw)

    @given(st.integers(min_value=0, max_value=10**11 - 1))
    def test_every_7dr_number_round_trips_through_hyphenated_input(self, body):
        number = seven_dr(f"{body:011d}")
        hyphenated = f"{number[:4]}-{number[4:8]}-{number[8:]}"
        assert validate_tracking_number("yamato", hyphenated) == number

    @given(st.integers(min_value=0, max_value=10**11 - 1), st.integers(min_value=1, max_value=6))
    def test_every_wrong_check_digit_is_rejected(self, body, offset):
        number = seven_dr(f"{body:011d}")
        wrong = number[:-1] + str((int(number[-1]) + offset) % 7)
        with pytest.raises(InvalidTrackingNumber):
            validate_tracking_number("yamato", wrong)

    @given(st.integers(min_value=0, max_value=10**11 - 1), st.integers(min_value=0, max_value=10))
    def test_a_single_digit_typo_in_the_body_is_caught_unless_it_shifts_by_7(self, body, position):
        number = seven_dr(f"{body:011d}")
        digit = int(number[position])
        typo_digit = (digit + 1) % 10
        typo = number[:position] + str(typo_digit) + number[position + 1 :]
        # 7DR misses a change of ±7 in one digit (10^k·7 ≡ 0 mod 7); +1 (or -9) never is.
        with pytest.raises(InvalidTrackingNumber):
            validate_tracking_number("yamato", typo)


class TestSagawa:
    @pytest.mark.parametrize(
        ("raw", "canonical"),
        [
            ("512547514334", "512547514334"),  # sample from shipping-jp-js
            ("5125-4751-4334", "512547514334"),
            ("５１２５４７５１４３３４", "512547514334"),
        ],
    )
    def test_accepts_real_format_numbers(self, raw, canonical):
        assert validate_tracking_number("sagawa", raw) == canonical

    def test_rejects_a_wrong_check_digit(self):
        with pytest.raises(InvalidTrackingNumber, match="check digit"):
            validate_tracking_number("sagawa", "512547514335")

    @pytest.mark.parametrize("raw", ["5125475143", "51254751433", "5125475143340"])
    def test_rejects_other_lengths(self, raw):
        with pytest.raises(InvalidTrackingNumber, match="Sagawa"):
            validate_tracking_number("sagawa", raw)


class TestJapanPostDomestic:
    @pytest.mark.parametrize(
        ("raw", "canonical"),
        [
            ("4055-4842-4886", "405548424886"),  # ゆうパック sample from shipping-jp-js
            ("405548424886", "405548424886"),
            ("４０５５ー４８４２ー４８８６", "405548424886"),
            ("123-45-67890-1", "12345678901"),  # 11-digit 書留 style, length only
            ("98765432109", "98765432109"),
        ],
    )
    def test_accepts_real_format_numbers(self, raw, canonical):
        assert validate_tracking_number("japanpost", raw) == canonical

    def test_twelve_digits_need_the_7dr_check_digit(self):
        with pytest.raises(InvalidTrackingNumber, match="check digit"):
            validate_tracking_number("japanpost", "405548424887")

    @given(st.integers(min_value=0, max_value=10**11 - 1))
    def test_any_eleven_digits_are_accepted(self, body):
        assert validate_tracking_number("japanpost", f"{body:011d}") == f"{body:011d}"

    @pytest.mark.parametrize("raw", ["1234567890", "1234567890123", "12345"])
    def test_rejects_other_lengths(self, raw):
        with pytest.raises(InvalidTrackingNumber, match="digits"):
            validate_tracking_number("japanpost", raw)


class TestJapanPostInternational:
    @pytest.mark.parametrize(
        ("raw", "canonical"),
        [
            ("EJ123456785JP", "EJ123456785JP"),
            ("EF719215461JP", "EF719215461JP"),
            ("ef 719 215 461 jp", "EF719215461JP"),
            ("ＥＦ７１９２１５４６１ＪＰ", "EF719215461JP"),
            ("RR473124829GB", "RR473124829GB"),  # UPU worked example: 47312482 → 9
            ("EE471108151FR", "EE471108151FR"),
            ("EB000717618HK", "EB000717618HK"),
        ],
    )
    def test_accepts_s10_numbers(self, raw, canonical):
        assert validate_tracking_number("japanpost", raw) == canonical

    @pytest.mark.parametrize(
        ("serial", "check"),
        [("47312482", 9), ("00071761", 8), ("00071758", 1), ("96633102", 0), ("76129403", 8), ("12345678", 5)],
    )
    def test_check_digit_vectors(self, serial, check):
        # 96633102 exercises the 10 → 0 rule.
        assert s10_check_digit(serial) == check

    def test_eleven_maps_to_five(self):
        # A weighted sum of 0 (mod 11) gives C = 11, which the standard maps to 5.
        assert s10_check_digit("00000000") == 5
        assert validate_tracking_number("japanpost", "RR000000005JP") == "RR000000005JP"

    @pytest.mark.parametrize("raw", ["EB000717594HK", "EB900717618HK", "EJ123456786JP"])
    def test_rejects_a_wrong_check_digit(self, raw):
        with pytest.raises(InvalidTrackingNumber, match="S10 check digit"):
            validate_tracking_number("japanpost", raw)

    @pytest.mark.parametrize("raw", ["E123456785JP", "EJ12345678JP", "EJ123456785J", "1J123456785JP", "EJ1234567850JP"])
    def test_rejects_malformed_international_numbers(self, raw):
        with pytest.raises(InvalidTrackingNumber, match="2 letters, 9 digits and 2 letters"):
            validate_tracking_number("japanpost", raw)

    @given(st.integers(min_value=0, max_value=10**8 - 1), st.sampled_from(["EJ", "RR", "CP", "LX"]))
    def test_every_generated_s10_round_trips(self, serial, service):
        body = f"{serial:08d}"
        number = f"{service}{body}{s10_check_digit(body)}JP"
        assert validate_tracking_number("japanpost", number.lower()) == number


class TestLengthOnlyCarriers:
    @pytest.mark.parametrize("code", ["seino", "fukuyama"])
    @pytest.mark.parametrize(
        ("raw", "canonical"),
        [
            ("1234567890", "1234567890"),
            ("1234-5678-901", "12345678901"),
            ("1234-5678-9012", "123456789012"),
            ("１２３４５６７８９０", "1234567890"),
            ("123456789019", "123456789019"),  # no check digit: any last digit is fine
        ],
    )
    def test_accepts_ten_to_twelve_digits(self, code, raw, canonical):
        assert validate_tracking_number(code, raw) == canonical

    @pytest.mark.parametrize("code", ["seino", "fukuyama"])
    @pytest.mark.parametrize("raw", ["123456789", "1234567890123", "12345678901A"])
    def test_rejects_other_lengths_and_letters(self, code, raw):
        with pytest.raises(InvalidTrackingNumber):
            validate_tracking_number(code, raw)

    @given(st.sampled_from(["seino", "fukuyama"]), st.integers(min_value=10, max_value=12), st.data())
    def test_any_digits_of_an_accepted_length(self, code, length, data):
        number = data.draw(st.text(alphabet="0123456789", min_size=length, max_size=length))
        assert validate_tracking_number(code, number) == number


class TestOther:
    @pytest.mark.parametrize(
        ("raw", "canonical"),
        [
            ("ABC123", "ABC123"),
            ("ecohai-0001-2345", "ECOHAI00012345"),
            ("1Z999AA10123456784", "1Z999AA10123456784"),
            ("12345678901234567890", "12345678901234567890"),
            ("ａｂｃ１２３", "ABC123"),
        ],
    )
    def test_accepts_six_to_twenty_alphanumerics(self, raw, canonical):
        assert validate_tracking_number("other", raw) == canonical

    @pytest.mark.parametrize("raw", ["ABC12", "123456789012345678901", "ABC_123", "伝票123456", "ABC.123"])
    def test_rejects_the_rest(self, raw):
        with pytest.raises(InvalidTrackingNumber, match="other carrier"):
            validate_tracking_number("other", raw)


class TestValidateErrors:
    @pytest.mark.parametrize("code", sorted(CARRIERS))
    @pytest.mark.parametrize("raw", ["", "   ", "--", "ー"])
    def test_empty_input(self, code, raw):
        with pytest.raises(InvalidTrackingNumber, match="empty"):
            validate_tracking_number(code, raw)

    @pytest.mark.parametrize("raw", [None, 123456789013])
    def test_non_text_input(self, raw):
        with pytest.raises(InvalidTrackingNumber, match="expected text"):
            validate_tracking_number("yamato", raw)

    def test_unknown_carrier_is_checked_before_the_number(self):
        with pytest.raises(UnknownCarrier):
            validate_tracking_number("kuroneko", "")

    def test_errors_are_value_errors_and_domain_errors_with_stable_codes(self):
        with pytest.raises(ValueError) as unknown:
            validate_tracking_number("dhl", "123")
        assert isinstance(unknown.value, CarrierError)
        assert isinstance(unknown.value, InvalidInput)
        assert unknown.value.code == "unknown_carrier"

        with pytest.raises(ValueError) as invalid:
            validate_tracking_number("yamato", "123")
        assert isinstance(invalid.value, InvalidInput)
        assert invalid.value.code == "invalid_tracking_number"
        assert invalid.value.extra == {"carrier": "yamato"}
        assert invalid.value.carrier_code == "yamato"
        assert "Yamato" in invalid.value.detail and "12 digits" in invalid.value.detail


class TestTrackingUrl:
    @pytest.mark.parametrize(
        ("code", "raw", "url"),
        [
            ("yamato", "1234-5678-9013", "https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number01=123456789013"),
            ("sagawa", "512547514334", "https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo=512547514334"),
            (
                "japanpost",
                "ej123456785jp",
                "https://trackings.post.japanpost.jp/services/srv/search/direct"
                "?reqCodeNo1=EJ123456785JP&searchKind=S002&locale=ja",
            ),
            ("seino", "1234567890", "https://track.seino.co.jp/cgi-bin/gnpquery.pgm?GNPNO1=1234567890"),
            ("fukuyama", "1234567890", "https://corp.fukutsu.co.jp/situation/tracking_no_hunt/1234567890"),
        ],
    )
    def test_builds_the_page_from_the_canonical_number(self, code, raw, url):
        assert tracking_url(code, raw) == url

    def test_none_for_other(self):
        assert tracking_url("other", "ABC123") is None

    def test_validates_first(self):
        with pytest.raises(InvalidTrackingNumber):
            tracking_url("yamato", "123456789010")
        with pytest.raises(UnknownCarrier):
            tracking_url("dhl", "123456789013")
