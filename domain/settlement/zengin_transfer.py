"""The Zengin 総合振込 (種別コード 21) payout file: 120-byte records that pay merchants from our account.

Layout: ``../shared/reference/zengin_layouts.md`` §1 — one header (``1``), one data record (``2``) per transfer, a
trailer (``8``) with the count and the sum, an end record (``9``). Every record is exactly 120 bytes of JIS X 0201
text written as CP932, optionally followed by CRLF (on by default: 122 bytes a record). Numeric fields are
right-aligned and zero-filled, text fields left-aligned and space-filled.

Nothing is converted or cut to fit: a name the bank could not carry, or one longer than its field, is refused with
the field, the transfer index and (through :func:`domain.settlement.bank.zengin_name`) the form that would pass.
Names must match the bank's records, so the merchant's own kana is what goes out.

:func:`parse_transfer_file` is strict and accepts exactly the files :func:`build_transfer_file` makes, so
``parse_transfer_file(build_transfer_file(h, ts), near=h.pay_date) == (h, ts)`` and, for an accepted file,
``build_transfer_file(*parse_transfer_file(data), crlf=…) == data``. Every problem is reported (up to
:data:`MAX_ISSUES`) with its 1-based record (line) number and field, in :class:`InvalidTransferFile`.

The file carries 振込指定日 as ``MMDD`` without a year: reading gives the date with that month and day nearest to
``near`` (today in Japan by default), which is the pay date of any file written or read within six months of it.

Fields of §1 this model does not carry are written with the value banks document for them and required on reading:
手形交換所番号 ``0000``, 振込指定区分 ``0``, コード区分 ``0`` (JIS). Bytes 92–111 are 顧客コード1/2 (two N(10)) or,
when :attr:`Transfer.edi` is set, EDI情報 C(20) with 識別表示 ``Y``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from domain.kit import clock
from domain.kit.calendar import is_bank_business_day
from domain.settlement.bank import InvalidZenginName, zengin_name

__all__ = [
    "MAX_AMOUNT",
    "MAX_ISSUES",
    "RECORD_LENGTH",
    "InvalidTransferFile",
    "Transfer",
    "TransferHeader",
    "TransferIssue",
    "build_transfer_file",
    "parse_transfer_file",
]

RECORD_LENGTH = 120
MAX_AMOUNT = 9_999_999_999  # 振込金額 N(10)
MAX_ISSUES = 100
_MAX_COUNT = 999_999  # 合計件数 N(6)
_MAX_TOTAL = 999_999_999_999  # 合計金額 N(12)

HEADER_ACCOUNT_TYPES = frozenset({"1", "2", "9"})  # 普通 / 当座 / その他
ACCOUNT_TYPES = frozenset({"1", "2", "4", "9"})  # 普通 / 当座 / 貯蓄 / その他
NEW_CODES = frozenset({"0", "1", "2"})  # その他 / 第1回振込分 / 変更分

# reference §0: bank and branch names take the name characters with "-" as their only symbol; EDI情報 the characters
# of party names (digits, A–Z, half-width kana without ｦ and small kana, ﾞ ﾟ, space, ( ) - .).
_BANK_NAME = re.compile(r"[0-9A-Zｱ-ﾝﾞﾟ \-]*")
_EDI = re.compile(r"[0-9A-Zｱ-ﾝﾞﾟ ().\-]*")
_NO_CUSTOMER_CODE = "0000000000"


# ---------------------------------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferHeader:
    """ヘッダー・レコード: who pays (振込依頼人), when, and from which of our accounts (仕向)."""

    requester_code: str  # 振込依頼人コード, 10 digits, assigned by the bank
    requester_name: str  # 振込依頼人名, Zengin kana, at most 40 bytes
    pay_date: dt.date  # 振込指定日 (written MMDD), a bank business day
    bank_code: str  # 仕向銀行番号, 4 digits
    bank_name: str = ""  # 仕向銀行名, at most 15 bytes
    branch_code: str  # 仕向支店番号, 3 digits
    branch_name: str = ""  # 仕向支店名, at most 15 bytes
    account_type: str  # 預金種目: "1" 普通 / "2" 当座 / "9" その他
    account_number: str  # 口座番号, 7 digits


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """データ・レコード: one payout to one account (被仕向)."""

    bank_code: str  # 被仕向銀行番号, 4 digits (ゆうちょ 9900)
    bank_name: str = ""  # 被仕向銀行名, at most 15 bytes
    branch_code: str  # 被仕向支店番号, 3 digits
    branch_name: str = ""  # 被仕向支店名, at most 15 bytes
    account_type: str  # 預金種目: "1" 普通 / "2" 当座 / "4" 貯蓄 / "9" その他
    account_number: str  # 口座番号, 7 digits
    holder_name: str  # 受取人名, Zengin kana, at most 30 bytes; must match the bank's records
    amount: int  # 振込金額, yen, 1 … 9,999,999,999
    new_code: str = "0"  # 新規コード: "0" その他 / "1" 第1回振込分 / "2" 変更分
    edi: str = ""  # EDI情報, at most 20 bytes; when set, 識別表示 is "Y" and it takes bytes 92–111
    customer_code1: str = ""  # 顧客コード1, "" or 10 digits (not all zeros); only without edi
    customer_code2: str = ""  # 顧客コード2, likewise


class TransferIssue(NamedTuple):
    """One problem of a rejected file: the 1-based record (line) number, 0 for the file as a whole; the field
    (its name in the layout table); what is wrong."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}, {self.field}: {self.message}"


class InvalidTransferFile(ValueError):
    """A 総合振込 file was not accepted. ``issues`` lists every problem found, in line order, up to
    :data:`MAX_ISSUES` (``truncated`` is true when reading stopped there)."""

    def __init__(self, issues: list[TransferIssue], *, truncated: bool = False) -> None:
        self.issues = sorted(issues, key=lambda issue: issue.line)[:MAX_ISSUES]
        self.truncated = truncated or len(issues) > MAX_ISSUES
        more = " (and more)" if self.truncated else ""
        first = f"; first: {self.issues[0]}" if self.issues else ""
        super().__init__(f"transfer file rejected: {len(self.issues)} problem(s){more}{first}")


# ---------------------------------------------------------------------------------------------------- the rules
# Each rule returns what is wrong with a value, or None. Building and reading use the same rules, so a file that is
# read back is one the builder would write.


def _digits_problem(value: object, width: int) -> str | None:
    if isinstance(value, str) and len(value) == width and value.isascii() and value.isdigit():
        return None
    return f"must be exactly {width} digit(s), got {value!r}"


def _choice_problem(value: object, allowed: frozenset[str]) -> str | None:
    if isinstance(value, str) and value in allowed:
        return None
    return f"must be one of {', '.join(sorted(allowed))}, got {value!r}"


def _party_name_problem(value: object, width: int, what: str) -> str | None:
    """振込依頼人名 / 受取人名: :func:`zengin_name` (characters, not empty, length) and no trailing space."""
    if not isinstance(value, str):
        return f"must be a str, got {value!r}"
    try:
        zengin_name(value, max_bytes=width, what=what)
    except InvalidZenginName as exc:
        return str(exc)
    if value != value.rstrip():
        return f"{what} {value!r} ends in a space, which would not read back (fields are space-filled)"
    return None


def _text_problem(value: object, width: int, allowed: re.Pattern[str], what: str, symbols: str) -> str | None:
    """Bank and branch names, EDI情報: optional ("" is none), Zengin characters, at most ``width`` bytes."""
    if not isinstance(value, str):
        return f"must be a str, got {value!r}"
    bad = sorted({ch for ch in value if not allowed.fullmatch(ch)})
    if bad:
        return (
            f"{what} {value!r} has characters Zengin files do not allow here: {' '.join(repr(c) for c in bad)}."
            f" Allowed: half-width kana without ｦ and small kana, ﾞ ﾟ, A-Z, 0-9, space, {symbols}"
        )
    if len(value) > width:  # every allowed character is one byte
        return f"{what} {value!r} is {len(value)} bytes, at most {width}"
    if value != value.rstrip():
        return f"{what} {value!r} ends in a space, which would not read back (fields are space-filled)"
    return None


def _bank_name_problem(value: object, what: str) -> str | None:
    return _text_problem(value, 15, _BANK_NAME, what, "-")


def _edi_problem(value: object) -> str | None:
    return _text_problem(value, 20, _EDI, "EDI情報", "( ) - .")


def _amount_problem(value: object) -> str | None:
    if type(value) is int and 1 <= value <= MAX_AMOUNT:
        return None
    return f"must be an int yen amount in 1 … {MAX_AMOUNT:,}, got {value!r}"


def _customer_code_problem(value: object) -> str | None:
    if value == "":
        return None
    if value == _NO_CUSTOMER_CODE:
        return "write '' for no code (all zeros read back as '')"
    return _digits_problem(value, 10)


def _pay_date_problem(value: object) -> str | None:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        return f"must be a datetime.date (a JST business date), got {value!r}"
    if not is_bank_business_day(value):
        return f"{value.isoformat()} ({value:%a}) is not a bank business day (weekend, national holiday or 12/31–1/3)"
    return None


# ---------------------------------------------------------------------------------------------------- building


def build_transfer_file(header: TransferHeader, transfers: Sequence[Transfer], *, crlf: bool = True) -> bytes:
    """The 総合振込 file paying ``transfers`` on ``header.pay_date``: the header, one data record per transfer in
    the given order, the trailer (合計件数, 合計金額 computed) and the end record; CRLF after each record unless
    ``crlf`` is false.

    Raises:
        ValueError: a value that cannot go into its field, naming the field (and ``transfers[i]``): wrong digit
            count or choice, a name with characters Zengin forbids or too long (never truncated), a pay date that
            is not a bank business day, an amount outside 1 … 9,999,999,999, customer codes next to an EDI, no
            transfers, or totals beyond the trailer's fields.
    """
    records = [_header_record(header)]
    total = 0
    for index, transfer in enumerate(transfers):
        records.append(_data_record(transfer, index))
        total += transfer.amount
    count = len(records) - 1
    if count == 0:
        raise ValueError("transfers: a 総合振込 file needs at least one transfer")
    if count > _MAX_COUNT:
        raise ValueError(f"transfers: {count:,} transfers, a file holds at most {_MAX_COUNT:,} (合計件数 N(6))")
    if total > _MAX_TOTAL:
        raise ValueError(f"transfers: total {total:,} yen exceeds 合計金額 N(12) ({_MAX_TOTAL:,}); split the file")
    records.append(b"8%06d%012d" % (count, total) + b" " * 101)
    records.append(b"9" + b" " * 119)
    for record in records:
        assert len(record) == RECORD_LENGTH, record
    if crlf:
        return b"".join(record + b"\r\n" for record in records)
    return b"".join(records)


def _header_record(h: TransferHeader) -> bytes:
    def check(field: str, label: str, problem: str | None) -> None:
        if problem is not None:
            raise ValueError(f"header.{field} ({label}): {problem}")

    check("requester_code", "振込依頼人コード", _digits_problem(h.requester_code, 10))
    check("requester_name", "振込依頼人名", _party_name_problem(h.requester_name, 40, "振込依頼人名"))
    check("pay_date", "振込指定日", _pay_date_problem(h.pay_date))
    check("bank_code", "仕向銀行番号", _digits_problem(h.bank_code, 4))
    check("bank_name", "仕向銀行名", _bank_name_problem(h.bank_name, "仕向銀行名"))
    check("branch_code", "仕向支店番号", _digits_problem(h.branch_code, 3))
    check("branch_name", "仕向支店名", _bank_name_problem(h.branch_name, "仕向支店名"))
    check("account_type", "預金種目", _choice_problem(h.account_type, HEADER_ACCOUNT_TYPES))
    check("account_number", "口座番号", _digits_problem(h.account_number, 7))
    return b"".join(
        (
            b"1210",
            h.requester_code.encode("ascii"),
            _text(h.requester_name, 40),
            b"%02d%02d" % (h.pay_date.month, h.pay_date.day),
            h.bank_code.encode("ascii"),
            _text(h.bank_name, 15),
            h.branch_code.encode("ascii"),
            _text(h.branch_name, 15),
            h.account_type.encode("ascii"),
            h.account_number.encode("ascii"),
            b" " * 17,
        )
    )


def _data_record(t: Transfer, index: int) -> bytes:
    def check(field: str, label: str, problem: str | None) -> None:
        if problem is not None:
            raise ValueError(f"transfers[{index}].{field} ({label}): {problem}")

    check("bank_code", "被仕向銀行番号", _digits_problem(t.bank_code, 4))
    check("bank_name", "被仕向銀行名", _bank_name_problem(t.bank_name, "被仕向銀行名"))
    check("branch_code", "被仕向支店番号", _digits_problem(t.branch_code, 3))
    check("branch_name", "被仕向支店名", _bank_name_problem(t.branch_name, "被仕向支店名"))
    check("account_type", "預金種目", _choice_problem(t.account_type, ACCOUNT_TYPES))
    check("account_number", "口座番号", _digits_problem(t.account_number, 7))
    check("holder_name", "受取人名", _party_name_problem(t.holder_name, 30, "受取人名"))
    check("amount", "振込金額", _amount_problem(t.amount))
    check("new_code", "新規コード", _choice_problem(t.new_code, NEW_CODES))
    check("edi", "EDI情報", _edi_problem(t.edi))
    check("customer_code1", "顧客コード1", _customer_code_problem(t.customer_code1))
    check("customer_code2", "顧客コード2", _customer_code_problem(t.customer_code2))
    if t.edi:
        if t.customer_code1 or t.customer_code2:
            check("edi", "EDI情報", "an EDI and customer codes share bytes 92–111: set one or the other")
        reference, flag = _text(t.edi, 20), b"Y"
    else:
        codes = (t.customer_code1 or _NO_CUSTOMER_CODE) + (t.customer_code2 or _NO_CUSTOMER_CODE)
        reference, flag = codes.encode("ascii"), b" "
    return b"".join(
        (
            b"2",
            t.bank_code.encode("ascii"),
            _text(t.bank_name, 15),
            t.branch_code.encode("ascii"),
            _text(t.branch_name, 15),
            b"0000",  # 手形交換所番号: unused
            t.account_type.encode("ascii"),
            t.account_number.encode("ascii"),
            _text(t.holder_name, 30),
            b"%010d" % t.amount,
            t.new_code.encode("ascii"),
            reference,
            b"0",  # 振込指定区分: unused at most banks
            flag,
            b" " * 7,
        )
    )


def _text(value: str, width: int) -> bytes:
    return value.encode("cp932").ljust(width, b" ")


# ---------------------------------------------------------------------------------------------------- reading


class _TooManyIssues(Exception):
    pass


class _Issues:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[TransferIssue] = []

    def add(self, line: int, field: str, message: str) -> None:
        self.items.append(TransferIssue(line, field, message))
        if len(self.items) > MAX_ISSUES:
            raise _TooManyIssues


def parse_transfer_file(data: bytes, *, near: dt.date | None = None) -> tuple[TransferHeader, list[Transfer]]:
    """The header and transfers of a 総合振込 file, exactly as :func:`build_transfer_file` was given them.

    Args:
        data: the file; 120-byte records, each followed by CRLF or none followed by anything.
        near: 振込指定日 is the date with the file's MMDD nearest to this one (default: today in Japan).

    Raises:
        InvalidTransferFile: every problem found, each with its line and field: the framing (record lengths,
            separators), record order (one header first, data records, one trailer, the end record last), digits
            and choices of every numeric field, the characters of every text field, the pay date, the fixed and
            blank fields, and the trailer's count and sum against the data records.
    """
    near = clock.jst_today() if near is None else near
    issues = _Issues()
    try:
        result = _read(data, near, issues)
    except _TooManyIssues:
        raise InvalidTransferFile(issues.items, truncated=True) from None
    if issues.items or result is None:
        raise InvalidTransferFile(issues.items)
    return result


def _read(data: bytes, near: dt.date, issues: _Issues) -> tuple[TransferHeader, list[Transfer]] | None:
    records = _records(data, issues)
    if not records:
        return None
    header: TransferHeader | None = None
    transfers: list[Transfer] = []
    data_lines = 0
    data_ok = True
    total = 0
    trailer: tuple[int, bytes] | None = None
    end_seen = False
    unknown = False
    last = len(records)
    for line, rec in enumerate(records, start=1):
        kind = rec[:1]
        if kind == b"1":
            if line != 1:
                issues.add(line, "データ区分", "a header record (1) after line 1; a file has one header, first")
            header = _read_header(rec, line, near, issues)
        elif kind == b"2":
            if line == 1:
                issues.add(line, "データ区分", "the file must start with the header record (1)")
            elif trailer is not None or end_seen:
                issues.add(line, "データ区分", "a data record (2) after the trailer (8); data records come before it")
            data_lines += 1
            transfer = _read_data(rec, line, issues)
            if transfer is None:
                data_ok = False
            else:
                transfers.append(transfer)
                total += transfer.amount
        elif kind == b"8":
            if line == 1:
                issues.add(line, "データ区分", "the file must start with the header record (1)")
            elif trailer is not None or end_seen:
                issues.add(line, "データ区分", "a second trailer record (8); a file has one")
            else:
                trailer = (line, rec)
        elif kind == b"9":
            if trailer is None:
                issues.add(line, "データ区分", "the end record (9) must follow the trailer record (8)")
            elif end_seen:
                issues.add(line, "データ区分", "a second end record (9)")
            if line != last:
                issues.add(line + 1, "データ区分", "nothing may follow the end record (9)")
            end_seen = True
            if rec[1:] != b" " * 119:
                issues.add(line, "ダミー", "bytes 2–120 of the end record must be spaces")
        else:
            got = rec[:1].decode("cp932", "replace")
            issues.add(line, "データ区分", f"データ区分 must be 1, 2, 8 or 9, got {got!r}")
            unknown = True  # perhaps a data record: comparing the trailer with the others would only repeat this
    if data_lines == 0:
        issues.add(0, "データ区分", "no data records (2): a file pays at least one transfer")
    if trailer is None:
        issues.add(last, "データ区分", "the file has no trailer record (8)")
    else:
        _check_trailer(*trailer, None if unknown else data_lines, total if data_ok and not unknown else None, issues)
    if not end_seen:
        issues.add(last, "データ区分", "the file ends without an end record (9)")
    if header is None or issues.items:
        return None
    return header, transfers


def _records(data: bytes, issues: _Issues) -> list[bytes]:
    """The records, split by CRLF (when the first record is followed by one) or every 120 bytes."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        issues.add(0, "file", "the file is empty")
        return []
    if b"\r" in data or b"\n" in data:
        records = data.split(b"\r\n")
        if records[-1] == b"":
            records.pop()
        else:
            issues.add(len(records), "file", "the last record is not followed by CRLF like the others")
        for line, rec in enumerate(records, start=1):
            if b"\r" in rec or b"\n" in rec:
                issues.add(line, "file", "a bare CR or LF: records are separated by CRLF (or nothing)")
            elif len(rec) != RECORD_LENGTH:
                issues.add(line, "file", f"the record is {len(rec)} bytes; records are {RECORD_LENGTH}")
        return records if not issues.items else []
    if len(data) % RECORD_LENGTH:
        message = f"{len(data):,} bytes without CRLF is not a whole number of {RECORD_LENGTH}-byte records"
        issues.add(0, "file", message)
        return []
    return [data[i : i + RECORD_LENGTH] for i in range(0, len(data), RECORD_LENGTH)]


def _field(rec: bytes, start: int, end: int, line: int, name: str, issues: _Issues) -> str | None:
    """A text field, CP932-decoded and right-stripped; ``None`` after reporting bytes that do not decode."""
    try:
        return rec[start:end].decode("cp932").rstrip(" ")
    except UnicodeDecodeError as exc:
        issues.add(line, name, f"byte {start + exc.start + 1} (0x{rec[start + exc.start]:02X}) is not CP932 text")
        return None


def _number(rec: bytes, start: int, end: int, line: int, name: str, issues: _Issues) -> str | None:
    raw = rec[start:end]
    if raw.isdigit():
        return raw.decode("ascii")
    issues.add(line, name, f"{name} must be {end - start} digit(s), got {raw.decode('cp932', 'replace')!r}")
    return None


def _report(line: int, name: str, problem: str | None, issues: _Issues) -> bool:
    if problem is not None:
        issues.add(line, name, problem)
        return False
    return True


def _read_header(rec: bytes, line: int, near: dt.date, issues: _Issues) -> TransferHeader | None:
    before = len(issues.items)
    kind_code = _number(rec, 1, 3, line, "種別コード", issues)
    if kind_code is not None and kind_code != "21":
        issues.add(line, "種別コード", f"種別コード must be 21 (総合振込), got {kind_code}")
    code_kind = _number(rec, 3, 4, line, "コード区分", issues)
    if code_kind is not None and code_kind != "0":
        issues.add(line, "コード区分", f"コード区分 must be 0 (JIS), got {code_kind}")
    requester_code = _number(rec, 4, 14, line, "振込依頼人コード", issues)
    requester_name = _field(rec, 14, 54, line, "振込依頼人名", issues)
    if requester_name is not None:
        _report(line, "振込依頼人名", _party_name_problem(requester_name, 40, "振込依頼人名"), issues)
    mmdd = _number(rec, 54, 58, line, "振込指定日", issues)
    pay_date = None
    if mmdd is not None:
        pay_date = _pay_date(mmdd, near)
        if pay_date is None:
            issues.add(line, "振込指定日", f"振込指定日 {mmdd} is not a month and day (MMDD)")
        else:
            problem = _pay_date_problem(pay_date)
            if problem is not None:
                issues.add(line, "振込指定日", f"{problem} (year: the {mmdd} nearest to {near.isoformat()})")
    bank_code = _number(rec, 58, 62, line, "仕向銀行番号", issues)
    bank_name = _field(rec, 62, 77, line, "仕向銀行名", issues)
    if bank_name is not None:
        _report(line, "仕向銀行名", _bank_name_problem(bank_name, "仕向銀行名"), issues)
    branch_code = _number(rec, 77, 80, line, "仕向支店番号", issues)
    branch_name = _field(rec, 80, 95, line, "仕向支店名", issues)
    if branch_name is not None:
        _report(line, "仕向支店名", _bank_name_problem(branch_name, "仕向支店名"), issues)
    account_type = _number(rec, 95, 96, line, "預金種目", issues)
    if account_type is not None:
        _report(line, "預金種目", _choice_problem(account_type, HEADER_ACCOUNT_TYPES), issues)
    account_number = _number(rec, 96, 103, line, "口座番号", issues)
    if rec[103:120] != b" " * 17:
        issues.add(line, "ダミー", "bytes 104–120 of the header must be spaces")
    if len(issues.items) != before:
        return None
    assert requester_code and requester_name and pay_date and bank_code and branch_code
    assert bank_name is not None and branch_name is not None and account_type and account_number
    return TransferHeader(
        requester_code=requester_code,
        requester_name=requester_name,
        pay_date=pay_date,
        bank_code=bank_code,
        bank_name=bank_name,
        branch_code=branch_code,
        branch_name=branch_name,
        account_type=account_type,
        account_number=account_number,
    )


def _pay_date(mmdd: str, near: dt.date) -> dt.date | None:
    """The date with month and day ``mmdd`` nearest to ``near`` (the later one on a tie); None if no year has it.
    Four years either side reach a 29 February."""
    month, day = int(mmdd[:2]), int(mmdd[2:])
    candidates = []
    for year in range(near.year - 4, near.year + 5):
        try:
            candidates.append(dt.date(year, month, day))
        except ValueError:
            continue
    if not candidates:
        return None
    return min(candidates, key=lambda d: (abs((d - near).days), d < near))


def _read_data(rec: bytes, line: int, issues: _Issues) -> Transfer | None:
    before = len(issues.items)
    bank_code = _number(rec, 1, 5, line, "被仕向銀行番号", issues)
    bank_name = _field(rec, 5, 20, line, "被仕向銀行名", issues)
    if bank_name is not None:
        _report(line, "被仕向銀行名", _bank_name_problem(bank_name, "被仕向銀行名"), issues)
    branch_code = _number(rec, 20, 23, line, "被仕向支店番号", issues)
    branch_name = _field(rec, 23, 38, line, "被仕向支店名", issues)
    if branch_name is not None:
        _report(line, "被仕向支店名", _bank_name_problem(branch_name, "被仕向支店名"), issues)
    clearing = _number(rec, 38, 42, line, "手形交換所番号", issues)
    if clearing is not None and clearing != "0000":
        issues.add(line, "手形交換所番号", f"手形交換所番号 must be 0000 (unused), got {clearing}")
    account_type = _number(rec, 42, 43, line, "預金種目", issues)
    if account_type is not None:
        _report(line, "預金種目", _choice_problem(account_type, ACCOUNT_TYPES), issues)
    account_number = _number(rec, 43, 50, line, "口座番号", issues)
    holder_name = _field(rec, 50, 80, line, "受取人名", issues)
    if holder_name is not None:
        _report(line, "受取人名", _party_name_problem(holder_name, 30, "受取人名"), issues)
    raw_amount = _number(rec, 80, 90, line, "振込金額", issues)
    amount = None
    if raw_amount is not None:
        amount = int(raw_amount)
        if amount == 0:
            issues.add(line, "振込金額", "振込金額 is 0: a transfer pays at least 1 yen")
    new_code = _number(rec, 90, 91, line, "新規コード", issues)
    if new_code is not None:
        _report(line, "新規コード", _choice_problem(new_code, NEW_CODES), issues)
    edi = code1 = code2 = ""
    flag = rec[112:113]
    if flag == b"Y":
        text = _field(rec, 91, 111, line, "EDI情報", issues)
        if text is not None:
            if not text:
                issues.add(line, "EDI情報", "識別表示 is Y but EDI情報 is blank")
            else:
                _report(line, "EDI情報", _edi_problem(text), issues)
                edi = text
    elif flag == b" ":
        raw1 = _number(rec, 91, 101, line, "顧客コード1", issues)
        raw2 = _number(rec, 101, 111, line, "顧客コード2", issues)
        code1 = "" if raw1 in (None, _NO_CUSTOMER_CODE) else raw1
        code2 = "" if raw2 in (None, _NO_CUSTOMER_CODE) else raw2
    else:
        got = flag.decode("cp932", "replace")
        issues.add(line, "識別表示", f"識別表示 must be Y (EDI情報) or a space (顧客コード), got {got!r}")
    designation = rec[111:112]
    if designation != b"0":
        got = designation.decode("cp932", "replace")
        issues.add(line, "振込指定区分", f"振込指定区分 must be 0 (unused), got {got!r}")
    if rec[113:120] != b" " * 7:
        issues.add(line, "ダミー", "bytes 114–120 of a data record must be spaces")
    if len(issues.items) != before:
        return None
    assert bank_code and branch_code and account_type and account_number and holder_name and new_code
    assert bank_name is not None and branch_name is not None and amount is not None
    return Transfer(
        bank_code=bank_code,
        bank_name=bank_name,
        branch_code=branch_code,
        branch_name=branch_name,
        account_type=account_type,
        account_number=account_number,
        holder_name=holder_name,
        amount=amount,
        new_code=new_code,
        edi=edi,
        customer_code1=code1,
        customer_code2=code2,
    )


def _check_trailer(line: int, rec: bytes, count: int | None, total: int | None, issues: _Issues) -> None:
    """合計件数 against the data records, 合計金額 against their sum (``None``: not compared, when a record of unknown
    type or a data record that could not be read would make the comparison only repeat that record's error)."""
    stated_count = _number(rec, 1, 7, line, "合計件数", issues)
    stated_total = _number(rec, 7, 19, line, "合計金額", issues)
    if rec[19:120] != b" " * 101:
        issues.add(line, "ダミー", "bytes 20–120 of the trailer must be spaces")
    if stated_count is not None and count is not None and int(stated_count) != count:
        issues.add(line, "合計件数", f"合計件数 states {int(stated_count):,} but the file has {count:,} data records")
    if stated_total is not None and total is not None and int(stated_total) != total:
        message = f"合計金額 states {int(stated_total):,} yen but the data records sum to {total:,}"
        issues.add(line, "合計金額", message)
