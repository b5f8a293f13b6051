"""Per-invoice payment keys: the convenience-store payment number and barcode, and the virtual bank account number.

Every key is derived from ``seq``, a positive integer the caller allocates per tenant (unique within the tenant), so
reconciliation (消込) can parse a key from a payment record straight back to the invoice without a lookup table.
Everything here is pure: no database, no clock, no I/O.

Check digit (all three keys): GS1 modulus 10, weights 3 and 1. Counting from the rightmost data digit, digits are
weighted 3, 1, 3, 1, …; the check digit is ``(10 − sum mod 10) mod 10``. It is the check digit of the convenience-store
barcode itself (so one routine serves both), it catches every single-digit error and every adjacent transposition
except of digits that differ by 5. Source: the GS1-128 標準料金代理収納ガイドライン as implemented in public code
(its worked examples ``91 912345 012345678901234567890 1 010331 0 123000`` → 3 and
``91 942386 178953917853935692730 1 030731 1 031290`` → 3 are unit tests here).

Payment number (:func:`payment_number`), 21 digits, exactly the barcode's free field (自由使用欄)::

    IIIII  SSSSSSSSSSSSSS  R  C
    issuer seq (14 digits)  reissue  check digit
    (5)                     (1)      (1)

* ``issuer_code``: 5 digits, the tenant's 収納企業コード (the code the collection agent assigns to the billing company;
  with an agent such as 電算システム the barcode's 6-digit company field is the agent's and the billing company's
  5-digit code opens the free field, which this layout follows). Distinct tenants have distinct issuer codes, so a
  payment number is unique across tenants.
* ``seq``: 1 … 99,999,999,999,999 (14 digits).
* ``reissue``: 0 … 9, the number of times the slip was re-issued (再発行区分). A re-issued slip has a new payment
  number but parses back to the same ``seq``, so paying either the old or the new slip matches the invoice.

Convenience-store barcode data (:func:`gs1_128_barcode_data`), 44 digits, reference §4.1 [S 44] and Hitachi EUR
manual 4.4.6 (itpfdoc.hitachi.co.jp/manuals/3021/3021701210/EUDS0050.HTM)::

    91  MMMMMM  <payment number: 21>  R  YYMMDD  F  AAAAAA  C
    AI  company free field            reissue  due  stamp  amount  check digit

* AI ``91`` (GS1 "company internal" AI, used by the Japanese guideline).
* ``MMMMMM`` 請求書発行企業コード: a 7-digit JAN maker code without its leading "4", or the legacy "9"/"5" + 5-digit
  code, so it always starts with 5 or 9 (checked). With a collection agent this is the agent's code (e.g. 929023).
* the free field is our payment number; ``R`` repeats its reissue count.
* ``YYMMDD`` due date (Gregorian, years 2000–2099); ``F`` stamp-duty flag (印紙フラグ, 1 when the receipt needs a
  revenue stamp, else 0: the caller decides, from the tax-exclusive amount); ``AAAAAA`` amount in yen, 1 … 999,999.
  Agent contracts usually cap a slip lower (¥300,000 is common); enforcing that is the caller's job.
* ``C`` GS1 mod-10 check digit over the preceding 43 digits, AI included.

Virtual account number (:func:`virtual_account_number`), 7 digits (the Japanese account-number width)::

    SSSSSS  C
    seq (6) check digit

Capacity: seq 1 … 999,999, i.e. 999,999 invoices per virtual-account branch; numbers are unique for every seq in that
range because the body *is* the seq. The 3-digit branch code (支店番号) is not part of the number: it comes from
the tenant's bank configuration (one branch, or range, reserved for the tenant by the bank), and a tenant outgrowing
the range needs a second branch. The check digit means a consumer's single-digit typo lands on an account that was
never issued, which the bank rejects, instead of on another consumer's invoice. Banks that assign the numbers
themselves through an API (GMO あおぞらネット銀行 ``/va/issue``) do not use this scheme; store what they return.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

__all__ = [
    "BARCODE_LENGTH",
    "ISSUER_CODE_DIGITS",
    "MAX_BARCODE_AMOUNT",
    "MAX_PAYMENT_SEQ",
    "MAX_REISSUE",
    "MAX_VIRTUAL_ACCOUNT_SEQ",
    "PAYMENT_NUMBER_LENGTH",
    "TRANSFER_REFERENCE_LENGTH",
    "VIRTUAL_ACCOUNT_LENGTH",
    "ConvenienceBarcode",
    "InvalidPaymentKey",
    "PaymentNumber",
    "gs1_128_barcode_data",
    "gs1_check_digit",
    "parse_gs1_128_barcode_data",
    "parse_payment_number",
    "parse_virtual_account",
    "find_transfer_reference",
    "payment_number",
    "transfer_reference",
    "virtual_account_number",
]

ISSUER_CODE_DIGITS = 5
_SEQ_DIGITS = 14
PAYMENT_NUMBER_LENGTH = ISSUER_CODE_DIGITS + _SEQ_DIGITS + 1 + 1  # = 21, the barcode's free field
MAX_PAYMENT_SEQ = 10**_SEQ_DIGITS - 1
MAX_REISSUE = 9

_AI = "91"
_COMPANY_CODE_DIGITS = 6
BARCODE_LENGTH = 44
MAX_BARCODE_AMOUNT = 999_999

_VA_SEQ_DIGITS = 6
VIRTUAL_ACCOUNT_LENGTH = _VA_SEQ_DIGITS + 1
MAX_VIRTUAL_ACCOUNT_SEQ = 10**_VA_SEQ_DIGITS - 1

# Printed keys are often grouped: drop whitespace, hyphen-like characters (NFKC folds "－" to "-") and the
# parentheses of a human-readable "(91)…" barcode line.
_SEPARATORS = re.compile("[\\s\\-\u2010-\u2015\u2212\u30fc()]")
_DIGITS = re.compile(r"[0-9]+")


class InvalidPaymentKey(ValueError):
    """A payment number, barcode or virtual account number that fails its format or its check digit."""


class PaymentNumber(NamedTuple):
    """A parsed payment number; unpacks as ``(issuer_code, seq, reissue)``."""

    issuer_code: str
    seq: int
    reissue: int


@dataclass(frozen=True, slots=True)
class ConvenienceBarcode:
    """The fields of a convenience-store GS1-128 barcode that we issued."""

    company_code: str
    issuer_code: str
    seq: int
    reissue: int
    due_date: date
    stamp: bool
    amount: int


def gs1_check_digit(digits: str) -> int:
    """GS1 modulus-10 check digit (weights 3, 1, … from the rightmost digit) of a string of ASCII digits."""
    if not _DIGITS.fullmatch(digits):
        raise ValueError("a check digit needs a non-empty string of ASCII digits")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def payment_number(issuer_code: str, seq: int, reissue: int = 0) -> str:
    """The 21-digit convenience-store payment number for the invoice ``seq`` of the issuer (layout: module doc)."""
    _check_code("issuer_code", issuer_code, ISSUER_CODE_DIGITS)
    _check_int("seq", seq, 1, MAX_PAYMENT_SEQ)
    _check_int("reissue", reissue, 0, MAX_REISSUE)
    body = f"{issuer_code}{seq:0{_SEQ_DIGITS}d}{reissue}"
    return f"{body}{gs1_check_digit(body)}"


def parse_payment_number(value: str) -> PaymentNumber:
    """``(issuer_code, seq, reissue)`` from a payment number; :class:`InvalidPaymentKey` if malformed."""
    digits = _digits_only(value, PAYMENT_NUMBER_LENGTH, "payment number")
    _verify_check_digit(digits, "payment number")
    issuer_code = digits[:ISSUER_CODE_DIGITS]
    seq = int(digits[ISSUER_CODE_DIGITS : ISSUER_CODE_DIGITS + _SEQ_DIGITS])
    if seq == 0:
        raise InvalidPaymentKey("payment number has sequence 0, which is never issued")
    return PaymentNumber(issuer_code, seq, int(digits[-2]))


def gs1_128_barcode_data(
    *,
    company_code: str,
    issuer_code: str,
    seq: int,
    due_date: date,
    amount: int,
    reissue: int = 0,
    stamp: bool = False,
) -> str:
    """The 44-digit convenience-store barcode data (no parentheses or spaces) for one slip.

    Raises ``ValueError`` for an amount outside 1 … 999,999 yen, a company code that is not 6 digits starting with 5
    or 9, a due date outside 2000–2099, and whatever :func:`payment_number` rejects.
    """
    _check_code("company_code", company_code, _COMPANY_CODE_DIGITS)
    if company_code[0] not in "59":
        raise ValueError(
            f"company_code must start with 5 or 9 (a JAN maker code without its leading 4), got {company_code!r}"
        )
    _check_int("amount", amount, 1, MAX_BARCODE_AMOUNT)
    if isinstance(due_date, datetime) or not isinstance(due_date, date):
        raise TypeError(f"due_date must be a date (a JST business date), got {type(due_date).__name__}")
    if not 2000 <= due_date.year <= 2099:
        raise ValueError(f"due_date must fall in 2000–2099 to fit YYMMDD, got {due_date.isoformat()}")
    if not isinstance(stamp, bool):
        raise TypeError(f"stamp must be a bool, got {type(stamp).__name__}")
    free_field = payment_number(issuer_code, seq, reissue)
    body = f"{_AI}{company_code}{free_field}{reissue}{due_date:%y%m%d}{int(stamp)}{amount:06d}"
    return f"{body}{gs1_check_digit(body)}"


def parse_gs1_128_barcode_data(value: str) -> ConvenienceBarcode:
    """The fields of a barcode from :func:`gs1_128_barcode_data`; :class:`InvalidPaymentKey` if malformed.

    Accepts the human-readable form too (``(91)912345 …``): spaces, hyphens and parentheses are ignored.
    """
    digits = _digits_only(value, BARCODE_LENGTH, "barcode")
    if not digits.startswith(_AI):
        raise InvalidPaymentKey(f"barcode must start with the application identifier {_AI}")
    _verify_check_digit(digits, "barcode")
    company_code = digits[2:8]
    if company_code[0] not in "59":
        raise InvalidPaymentKey("barcode company code must start with 5 or 9")
    issuer_code, seq, reissue = parse_payment_number(digits[8:29])
    if int(digits[29]) != reissue:
        raise InvalidPaymentKey("barcode reissue count differs from the one in its payment number")
    try:
        due_date = date(2000 + int(digits[30:32]), int(digits[32:34]), int(digits[34:36]))
    except ValueError:
        raise InvalidPaymentKey(f"barcode due date {digits[30:36]} is not a valid YYMMDD date") from None
    if digits[36] not in "01":
        raise InvalidPaymentKey(f"barcode stamp flag must be 0 or 1, got {digits[36]}")
    amount = int(digits[37:43])
    if amount == 0:
        raise InvalidPaymentKey("barcode amount is zero")
    return ConvenienceBarcode(company_code, issuer_code, seq, reissue, due_date, digits[36] == "1", amount)


def virtual_account_number(seq: int) -> str:
    """The 7-digit virtual bank account number for the invoice ``seq`` (1 … 999,999); branch code comes from config."""
    _check_int("seq", seq, 1, MAX_VIRTUAL_ACCOUNT_SEQ)
    body = f"{seq:0{_VA_SEQ_DIGITS}d}"
    return f"{body}{gs1_check_digit(body)}"


def parse_virtual_account(value: str) -> int:
    """The ``seq`` of a virtual account number; :class:`InvalidPaymentKey` if malformed or never issued."""
    digits = _digits_only(value, VIRTUAL_ACCOUNT_LENGTH, "virtual account number")
    _verify_check_digit(digits, "virtual account number")
    seq = int(digits[:-1])
    if seq == 0:
        raise InvalidPaymentKey("virtual account number 0000000 is never issued")
    return seq


def _check_int(name: str, value: int, low: int, high: int) -> None:
    # bool is an int subclass: True must not become 1.
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low:,} … {high:,}, got {value:,}")


def _check_code(name: str, value: str, width: int) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str of {width} digits, got {type(value).__name__}")
    if len(value) != width or not _DIGITS.fullmatch(value):
        raise ValueError(f"{name} must be exactly {width} ASCII digits, got {value!r}")


def _digits_only(value: str, width: int, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidPaymentKey(f"{what} must be text, got {type(value).__name__}")
    digits = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value))
    if digits and not _DIGITS.fullmatch(digits):
        raise InvalidPaymentKey(f"{what} may contain only digits (spaces and hyphens are ignored)")
    if len(digits) != width:
        raise InvalidPaymentKey(f"{what} must have {width} digits, got {len(digits)}")
    return digits


def _verify_check_digit(digits: str, what: str) -> None:
    if gs1_check_digit(digits[:-1]) != int(digits[-1]):
        raise InvalidPaymentKey(f"{what} check digit does not match, so it is probably mistyped or misread")


TRANSFER_REFERENCE_LENGTH = 10
_TRANSFER_REFERENCE = re.compile(r"(?<![0-9])[0-9]{10}(?![0-9])")


def transfer_reference(seq: int) -> str:
    """The 10-digit reference (振込依頼人番号) a consumer puts before their name when paying by bank transfer:
    the invoice's ``seq`` in 9 digits and a GS1 check digit. Banks carry it in the remitter code or at the head of
    the remitter name; reconciliation also looks for it in the EDI field."""
    _check_int("seq", seq, 1, 10**9 - 1)
    body = f"{seq:09d}"
    return f"{body}{gs1_check_digit(body)}"


def find_transfer_reference(*texts: str) -> int | None:
    """The ``seq`` of the first valid transfer reference in ``texts`` (a run of exactly 10 digits whose check
    digit holds), or ``None``."""
    for text in texts:
        for match in _TRANSFER_REFERENCE.finditer(text or ""):
            digits = match.group()
            if gs1_check_digit(digits[:-1]) == int(digits[-1]) and int(digits[:-1]):
                return int(digits[:-1])
    return None
