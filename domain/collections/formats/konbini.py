"""The convenience-store (コンビニ収納代行) payment CSV: the format we ask collection agents to send.

Agents report a slip three ways (reference bnpl.md §4.1): 速報 at the register (minutes to hours after the scan),
速報取消 when the register voids the transaction, and 確報 once the payment is settled (days later). One CSV carries
any mix of them, one row each::

    record_type,record_id,payment_number,amount,paid_at,store,original_record_id
    速報,SK-0001,219420000000037554301,12345,2026-11-20T10:15:00+09:00,ﾛｰｿﾝ 渋谷店,
    速報取消,SK-0002,219420000000037554301,12345,2026-11-20 10:20:00,ﾛｰｿﾝ 渋谷店,SK-0001
    確報,KH-0001,219420000000037554301,12345,2026-11-20T10:15:00+09:00,ﾛｰｿﾝ 渋谷店,

Encoding UTF-8 (with or without BOM; tried first) or CP932. Every column is described in ``docs/payment-files.md``.
As for bank files, a file is taken whole or not at all, with every problem listed by physical line (header = 1).

:func:`read_konbini_csv` gives back the rows (``read_konbini_csv(build_konbini_csv(rows)) == list(rows)`` for
timezone-aware ``paid_at``); :func:`parse_konbini_csv` gives the common :class:`IncomingPayment` rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from domain.collections.formats import MAX_ISSUES, FileRejected, IncomingPayment, LineIssue, ParsedFile
from domain.invoicing.keys import (
    BARCODE_LENGTH,
    MAX_BARCODE_AMOUNT,
    PAYMENT_NUMBER_LENGTH,
    InvalidPaymentKey,
    parse_gs1_128_barcode_data,
    parse_payment_number,
)
from domain.kit.clock import JST

__all__ = ["HEADER", "KIND_KONBINI", "KonbiniRow", "build_konbini_csv", "parse_konbini_csv", "read_konbini_csv"]

KIND_KONBINI = "konbini_csv"
HEADER = ("record_type", "record_id", "payment_number", "amount", "paid_at", "store", "original_record_id")
_HEADER_LINE = ",".join(HEADER)
_UTF8_BOM = b"\xef\xbb\xbf"

# record_type as written → IncomingPayment.kind; the builder writes the Japanese names.
_KIND_BY_TYPE = {
    "速報": "preliminary",
    "速報取消": "preliminary_cancel",
    "確報": "payment",
    "preliminary": "preliminary",
    "preliminary_cancel": "preliminary_cancel",
    "final": "payment",
}
_TYPE_BY_KIND = {"preliminary": "速報", "preliminary_cancel": "速報取消", "payment": "確報"}

_RECORD_ID = re.compile(r"[\x21-\x7e]{1,64}")
_DIGITS = re.compile(r"[0-9]+")
_NAIVE_JST = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_MAX_STORE = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class KonbiniRow:
    """One row of the CSV."""

    kind: str  # "preliminary" (速報) | "preliminary_cancel" (速報取消) | "payment" (確報)
    record_id: str  # the agent's id of this record, unique in the file
    payment_number: str  # the 21-digit payment number, or the 44-digit barcode data, as written
    amount: int  # yen
    paid_at: dt.datetime  # when the consumer paid; read back timezone-aware (a naive value is JST)
    store: str = ""  # the store (chain and branch), free text
    original_record_id: str = ""  # 速報取消: the record_id of the 速報 it cancels; "" otherwise


def read_konbini_csv(data: bytes) -> list[KonbiniRow]:
    """The rows of a convenience-store CSV; :class:`FileRejected` listing every problem if it is not valid."""
    rows, _lines, _numbers, issues = _read(data)
    if issues:
        raise FileRejected(issues)
    return rows


def parse_konbini_csv(data: bytes) -> ParsedFile:
    """The payments of a convenience-store CSV; :class:`FileRejected` listing every problem if it is not valid.

    ``external_id`` is ``cvs:<record_id>``; a 速報取消 reverses ``cvs:<original_record_id>``; ``value_date`` is the
    JST date of ``paid_at``; ``payment_number`` is always the 21-digit number (taken from a barcode's free field).
    """
    rows, lines, numbers, issues = _read(data)
    if issues:
        raise FileRejected(issues)
    payments = [
        IncomingPayment(
            line,
            f"cvs:{row.record_id}",
            row.kind,
            "convenience_store",
            row.amount,
            row.paid_at.astimezone(JST).date(),
            "",
            "",
            "",
            None,
            number,
            f"cvs:{row.original_record_id}" if row.original_record_id else None,
        )
        for row, line, number in zip(rows, lines, numbers, strict=True)
    ]
    return ParsedFile(
        kind=KIND_KONBINI,
        payments=payments,
        record_count=len(rows) + 1,
        total_amount=sum(row.amount for row in rows if row.kind == "payment"),
        created_on=None,
    )


def _decode(data: bytes, issues: list[LineIssue]) -> str | None:
    """UTF-8 (a BOM is dropped), else CP932; ``None`` after reporting where neither fits."""
    if data.startswith(_UTF8_BOM):
        try:
            return data[len(_UTF8_BOM) :].decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: len(_UTF8_BOM) + exc.start].count(b"\n") + 1
            issues.append(LineIssue(line, "encoding", "the file starts with a UTF-8 BOM but is not valid UTF-8 here"))
            return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        issues.append(LineIssue(line, "encoding", f"byte 0x{data[exc.start]:02X} is neither UTF-8 nor CP932 text"))
        return None


def _read(data: bytes) -> tuple[list[KonbiniRow], list[int], list[str], list[LineIssue]]:
    """Rows, their physical line numbers and 21-digit payment numbers, and the issues found."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"a CSV file is bytes, got {type(data).__name__}")
    issues: list[LineIssue] = []
    rows: list[KonbiniRow] = []
    lines: list[int] = []
    numbers: list[str] = []
    text = _decode(bytes(data), issues)
    if text is None:
        return rows, lines, numbers, issues

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    seen: dict[str, int] = {}  # record_id → line
    cancels: list[tuple[int, KonbiniRow, str]] = []  # (line, row, payment number) of each 速報取消
    by_id: dict[str, tuple[KonbiniRow, str]] = {}
    previous_end = 0
    header_seen = False
    while len(issues) <= MAX_ISSUES:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            issues.append(LineIssue(reader.line_num, "row", f"not valid CSV: {exc}"))
            break
        line = previous_end + 1
        previous_end = reader.line_num
        if not fields:
            continue  # a blank line
        if not header_seen:
            header_seen = True
            if line != 1 or tuple(fields) != HEADER:
                issues.append(LineIssue(line, "header", f"the first line must be exactly {_HEADER_LINE}"))
                return rows, lines, numbers, issues
            continue
        if len(fields) == len(HEADER):
            record_id = fields[1]
            first = seen.setdefault(record_id, line)
            if first != line:
                issues.append(LineIssue(line, "record_id", f"record_id {record_id!r} is already used on line {first}"))
                continue
        parsed = _read_row(fields, line, issues)
        if parsed is None:
            continue
        row, number = parsed
        by_id[row.record_id] = (row, number)
        rows.append(row)
        lines.append(line)
        numbers.append(number)
        if row.kind == "preliminary_cancel":
            cancels.append((line, row, number))

    for line, row, number in cancels:
        original = by_id.get(row.original_record_id)
        if original is None:
            continue  # a 速報 of an earlier file: reconciliation resolves it
        if row.original_record_id == row.record_id or original[0].kind != "preliminary":
            issues.append(
                LineIssue(line, "original_record_id", f"{row.original_record_id!r} is not a 速報 (preliminary) record")
            )
        elif original[1] != number:
            issues.append(
                LineIssue(line, "payment_number", f"differs from that of the 速報 {row.original_record_id!r}")
            )
    if not header_seen:
        issues.append(LineIssue(0, "file", "no records: the file is empty"))
    elif not rows and not issues:
        issues.append(LineIssue(0, "file", "no records: the file has only the header"))
    return rows, lines, numbers, issues


def _read_row(fields: list[str], line: int, issues: list[LineIssue]) -> tuple[KonbiniRow, str] | None:
    if len(fields) != len(HEADER):
        issues.append(LineIssue(line, "row", f"a row has {len(HEADER)} fields, this one {len(fields)}"))
        return None
    record_type, record_id, payment_number, amount_text, paid_at_text, store, original_record_id = fields
    before = len(issues)

    kind = _KIND_BY_TYPE.get(record_type)
    if kind is None:
        issues.append(
            LineIssue(line, "record_type", f"must be 速報, 速報取消 or 確報 (or English names), got {record_type!r}")
        )
    if not _RECORD_ID.fullmatch(record_id):
        issues.append(LineIssue(line, "record_id", "must be 1–64 visible ASCII characters (no spaces)"))

    amount = 0
    if not _DIGITS.fullmatch(amount_text):
        issues.append(
            LineIssue(
                line, "amount", f"must be whole yen, digits only (no sign, decimals or separators), got {amount_text!r}"
            )
        )
    else:
        amount = int(amount_text)
        if not 1 <= amount <= MAX_BARCODE_AMOUNT:
            issues.append(LineIssue(line, "amount", f"must be 1 … {MAX_BARCODE_AMOUNT:,} yen, got {amount:,}"))

    number = _payment_number(payment_number, amount, line, issues)
    paid_at = _paid_at(paid_at_text, line, issues)

    if len(store) > _MAX_STORE:
        issues.append(LineIssue(line, "store", f"is longer than {_MAX_STORE} characters"))
    if kind == "preliminary_cancel":
        if not original_record_id:
            issues.append(LineIssue(line, "original_record_id", "a 速報取消 names the 速報 it cancels (its record_id)"))
        elif not _RECORD_ID.fullmatch(original_record_id):
            issues.append(LineIssue(line, "original_record_id", "must be 1–64 visible ASCII characters (no spaces)"))
    elif original_record_id and kind is not None:
        issues.append(LineIssue(line, "original_record_id", "must be empty except on a 速報取消 row"))

    if len(issues) != before:
        return None
    assert kind is not None and number is not None and paid_at is not None
    row = KonbiniRow(
        kind=kind,
        record_id=record_id,
        payment_number=payment_number,
        amount=amount,
        paid_at=paid_at,
        store=store,
        original_record_id=original_record_id,
    )
    return row, number


def _payment_number(value: str, amount: int, line: int, issues: list[LineIssue]) -> str | None:
    """The 21-digit payment number of a payment number or barcode, check digits verified."""
    if not _DIGITS.fullmatch(value) or len(value) not in (PAYMENT_NUMBER_LENGTH, BARCODE_LENGTH):
        issues.append(
            LineIssue(line, "payment_number", f"must be a 21-digit payment number or 44-digit barcode, got {value!r}")
        )
        return None
    try:
        if len(value) == PAYMENT_NUMBER_LENGTH:
            parse_payment_number(value)
            return value
        barcode = parse_gs1_128_barcode_data(value)
    except InvalidPaymentKey as exc:
        issues.append(LineIssue(line, "payment_number", str(exc)))
        return None
    if amount and barcode.amount != amount:
        issues.append(LineIssue(line, "amount", f"{amount:,} differs from the barcode's amount {barcode.amount:,}"))
        return None
    return value[8:29]


def _paid_at(value: str, line: int, issues: list[LineIssue]) -> dt.datetime | None:
    if _NAIVE_JST.fullmatch(value):
        try:
            naive = dt.datetime.fromisoformat(value)
        except ValueError:
            naive = None
        if naive is not None:
            if 2000 <= naive.year <= 2099:
                return naive.replace(tzinfo=JST)
            issues.append(LineIssue(line, "paid_at", f"must be a date between 2000 and 2099 (JST), got {value!r}"))
            return None
    else:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            try:
                if 2000 <= parsed.astimezone(JST).year <= 2099:
                    return parsed
            except OverflowError:  # 0001-01-01T00:00+14:00 and the like have no JST date
                pass
            issues.append(LineIssue(line, "paid_at", f"must be a date between 2000 and 2099 (JST), got {value!r}"))
            return None
    issues.append(
        LineIssue(
            line,
            "paid_at",
            f"must be ISO 8601 with an offset (2026-11-20T10:15:00+09:00) or YYYY-MM-DD HH:MM:SS in JST, got {value!r}",
        )
    )
    return None


def build_konbini_csv(rows: Iterable[KonbiniRow], *, encoding: str = "utf-8-sig", crlf: bool = True) -> bytes:
    """The CSV of ``rows`` with the header row, in ``encoding`` (``utf-8-sig`` with a BOM, ``utf-8`` or ``cp932``).

    ``paid_at`` is written as ISO 8601 with its offset, or as ``YYYY-MM-DD HH:MM:SS`` (JST) when it is naive.
    """
    if encoding not in ("utf-8-sig", "utf-8", "cp932"):
        raise ValueError(f"encoding must be utf-8-sig, utf-8 or cp932, got {encoding!r}")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(HEADER)
    for row in rows:
        if row.paid_at.tzinfo is None:
            if row.paid_at.microsecond:
                raise ValueError("a naive paid_at is written to the second; it has microseconds")
            paid_at = row.paid_at.strftime("%Y-%m-%d %H:%M:%S")
        else:
            paid_at = row.paid_at.isoformat()
        writer.writerow(
            (
                _TYPE_BY_KIND[row.kind],
                row.record_id,
                row.payment_number,
                str(row.amount),
                paid_at,
                row.store,
                row.original_record_id,
            )
        )
    return out.getvalue().encode(encoding)
