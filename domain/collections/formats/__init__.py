"""Payment files we accept, parsed into one shape: Zengin 振込入金通知 (01) and 入出金取引明細 (03), and our
convenience-store CSV. Pure code: bytes in, :class:`ParsedFile` out, or :class:`FileRejected` with every problem.

A file is taken whole or not at all: any problem rejects it, so half a file is never applied. The field-by-field
description for an operator's engineer is ``docs/payment-files.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = [
    "MAX_ISSUES",
    "FileRejected",
    "IncomingPayment",
    "LineIssue",
    "ParsedFile",
    "build_konbini_csv",
    "build_zengin_01",
    "build_zengin_03",
    "detect_and_parse",
    "parse_konbini_csv",
    "parse_zengin",
]

MAX_ISSUES = 100

KINDS = ("payment", "reversal", "preliminary", "preliminary_cancel")
CHANNELS = ("bank_transfer", "convenience_store")


@dataclass(frozen=True, slots=True)
class IncomingPayment:
    """One money movement read from a payment file (a payment, or the cancellation of one)."""

    line_no: int  # 1-based record (line) number in the file
    external_id: str  # dedupe key, unique within a tenant, stable for the same record in a re-sent file
    kind: str  # "payment" | "reversal" | "preliminary" | "preliminary_cancel"
    channel: str  # "bank_transfer" | "convenience_store"
    amount: int  # yen, > 0
    value_date: dt.date  # 勘定日 / paid date (JST)
    payer_name: str  # remitter kana as in the file (half-width, right spaces stripped), "" if none
    payer_code: str  # 振込依頼人コード, "" if none or all zeros
    edi: str  # EDI情報 stripped, "" if none
    account: str | None  # credited account "BBBB-SSS-NNNNNNN" of the group header; None for konbini
    payment_number: str | None  # konbini: the 21-digit payment number; None for bank files
    reverses_external_id: str | None  # reversal / preliminary_cancel: the external_id of what it cancels


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """A whole accepted file."""

    kind: str  # "zengin_01" | "zengin_03" | "konbini_csv"
    payments: list[IncomingPayment]
    record_count: int  # physical records (Zengin: every 200-byte record; CSV: every row, header included)
    total_amount: int  # Σ amounts of kind "payment" (Zengin: as the trailers state, and verified)
    created_on: dt.date | None  # Zengin 作成日 of the first header; None for konbini


@dataclass(frozen=True, slots=True)
class LineIssue:
    """One problem: the 1-based line (record) number, 0 for the file as a whole; the field; what is wrong."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}, {self.field}: {self.message}"


class FileRejected(ValueError):
    """The file was not accepted. ``issues`` lists every problem found, in line order, up to :data:`MAX_ISSUES`
    (``truncated`` is true when there were more)."""

    def __init__(self, issues: list[LineIssue], *, truncated: bool = False) -> None:
        self.issues = sorted(issues, key=lambda issue: issue.line)[:MAX_ISSUES]
        self.truncated = truncated or len(issues) > MAX_ISSUES
        more = " (and more)" if self.truncated else ""
        first = f"; first: {self.issues[0]}" if self.issues else ""
        super().__init__(f"file rejected: {len(self.issues)} problem(s){more}{first}")


# The parsers import the types above, so the submodules come after them.
from domain.collections.formats.konbini import build_konbini_csv, parse_konbini_csv  # noqa: E402
from domain.collections.formats.zengin import build_zengin_01, build_zengin_03, parse_zengin  # noqa: E402

_UTF8_BOM = b"\xef\xbb\xbf"


def detect_and_parse(data: bytes, filename: str = "") -> ParsedFile:
    """Parse ``data`` as whichever format it is.

    Zengin when it starts with a header record (``1``, or EBCDIC ``0xF1`` so that the rejection says so); the
    convenience-store CSV when it starts with a UTF-8 BOM or the CSV header, or when the name ends in ``.csv``.
    Anything else is rejected as unrecognised.
    """
    if not data.strip(b"\r\n\x1a"):
        raise FileRejected([LineIssue(0, "file", "no records: the file is empty")])
    head = data[:64]
    if head.startswith(_UTF8_BOM) or head.lstrip().startswith(b"record_type"):
        return parse_konbini_csv(data)
    if head[:1] in (b"1", b"\xf1"):
        return parse_zengin(data)
    if filename.lower().endswith(".csv"):
        return parse_konbini_csv(data)
    message = (
        "not a recognised payment file: a Zengin 01/03 file starts with its header record (1), "
        "a convenience-store CSV with the header row record_type,…"
    )
    raise FileRejected([LineIssue(1, "file", message)])
