"""Tabular exports for finance staff and accounting tools: streamed CSV (UTF-8 with BOM, UTF-8 or CP932) and XLSX.

Every export of the product goes through :func:`csv_chunks` or :func:`xlsx_chunks` (``docs/exports.md``):

* RFC 4180 quoting, CRLF line ends, integers without separators, dates ``YYYY-MM-DD``, instants as JST
  ``YYYY-MM-DD HH:MM:SS``, ``None`` as an empty cell;
* ``utf-8-bom`` for people (Excel on Japanese Windows reads BOM-less UTF-8 as Shift_JIS), ``utf-8`` for machines,
  ``cp932`` (Windows-31J) for the accounting tools. A character CP932 cannot encode becomes ``〓`` (U+3013, the
  geta mark), after a few well-known look-alikes are mapped to their CP932 forms and variation selectors are
  dropped: an explicit policy, never a silent ``?`` and never a failed export half-way through a download;
* formula guard: a text cell starting with ``= + - @``, TAB or CR gets a leading apostrophe (text cells only);
* memory flat in the number of rows: rows are encoded and yielded every ``chunk_rows`` rows; XLSX is written by
  XlsxWriter in ``constant_memory`` mode into a temporary file, then streamed in 64 KiB chunks and deleted.

Rows may be an async iterable (a database stream) or a plain iterable.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import datetime as dt
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import xlsxwriter

from domain.kit.clock import JST
from domain.kit.errors import FieldIssue, InvalidInput

__all__ = [
    "CP932_REPLACEMENT",
    "MAX_PERIOD_DAYS",
    "XLSX_MEDIA_TYPE",
    "Column",
    "Encoding",
    "FileFormat",
    "check_period",
    "csv_chunks",
    "file_chunks",
    "file_format",
    "media_type",
    "render_cell",
    "xlsx_chunks",
]

Encoding = Literal["utf-8-bom", "utf-8", "cp932"]
Format = Literal["csv", "xlsx"]
Header = Literal["ja", "key", "none"]
ENCODINGS: tuple[Encoding, ...] = ("utf-8-bom", "utf-8", "cp932")
FORMATS: tuple[Format, ...] = ("csv", "xlsx")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CP932_REPLACEMENT = "\u3013"  # 〓 (ゲタ), the traditional mark of a character the typeface or code page lacks
FILE_CHUNK_BYTES = 64 * 1024
XLSX_MAX_ROWS = 1_048_576  # rows per worksheet, header included; longer exports continue on a next sheet
MAX_PERIOD_DAYS = 366  # the longest date range an export covers (a leap year)

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Characters outside CP932 that have a CP932 twin people read as the same (the JIS X 0208 / Windows mapping
# differences Python's cp932 codec does not already bridge).
_CP932_LOOKALIKES = {
    "\u2013": "\u2010",  # EN DASH → HYPHEN ‐ (0x815D)
    "\u2014": "\u2015",  # EM DASH → HORIZONTAL BAR ― (0x815C)
    "\u00a0": " ",  # NO-BREAK SPACE → SPACE
    "\u2022": "\u30fb",  # BULLET → KATAKANA MIDDLE DOT ・
    "\u00b7": "\u30fb",  # MIDDLE DOT → KATAKANA MIDDLE DOT ・
}


def _is_variation_selector(ch: str) -> bool:
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def _geta(exc: UnicodeError) -> tuple[str, int]:
    """The ``bnpl-geta`` codec error handler: look-alike, dropped variation selector, or 〓 per character."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for ch in exc.object[exc.start : exc.end]:
        if _is_variation_selector(ch):
            continue
        out.append(_CP932_LOOKALIKES.get(ch, CP932_REPLACEMENT))
    return "".join(out), exc.end


codecs.register_error("bnpl-geta", _geta)


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # stable English key (used as the header in the 'generic' machine formats and in JSON)
    header: str  # Japanese header for people
    kind: Literal["text", "int", "date", "datetime"] = "text"


def media_type(fmt: Literal["csv", "xlsx"], encoding: Encoding) -> str:
    """The Content-Type of an export (``encoding`` is ignored for XLSX)."""
    if fmt == "xlsx":
        return XLSX_MEDIA_TYPE
    return "text/csv; charset=Windows-31J" if encoding == "cp932" else "text/csv; charset=utf-8"


def check_period(
    start: dt.date,
    end: dt.date,
    *,
    max_days: int = MAX_PERIOD_DAYS,
    pointers: tuple[str, str] = ("query:from", "query:to"),
) -> None:
    """Refuse a range that ends before it starts or covers more than ``max_days`` days (both ends included).

    Raises:
        InvalidInput: ``validation_error`` naming the end of the range (``pointers[1]``).
    """
    start_name = pointers[0].rsplit(":", 1)[-1]
    if end < start:
        raise InvalidInput(
            "The range ends before it starts.",
            code="validation_error",
            issues=[FieldIssue(pointers[1], f"must be on or after {start_name}", "range")],
        )
    if (end - start).days + 1 > max_days:
        raise InvalidInput(
            f"An export covers at most {max_days} days.",
            code="validation_error",
            issues=[FieldIssue(pointers[1], f"at most {max_days} days from {start_name}, both included", "too_long")],
        )


def _jst(value: dt.datetime) -> dt.datetime:
    return (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)).astimezone(JST)


def render_cell(column: Column, value: Any, *, guard_formulas: bool = True) -> str:
    """One cell as CSV text (before quoting and encoding). Naive datetimes are taken as UTC."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        jst = _jst(value)
        return jst.date().isoformat() if column.kind == "date" else jst.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if guard_formulas and column.kind == "text" and text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


async def _aiter(rows: AsyncIterable[Sequence[Any]] | Iterable[Sequence[Any]]) -> AsyncIterator[Sequence[Any]]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


def _encode(text: str, encoding: Encoding) -> bytes:
    if encoding == "cp932":
        return text.encode("cp932", errors="bnpl-geta")
    return text.encode("utf-8")


async def csv_chunks(
    columns: Sequence[Column],
    rows: AsyncIterable[Sequence[Any]] | Iterable[Sequence[Any]],
    *,
    encoding: Encoding = "utf-8-bom",
    header: Literal["ja", "key", "none"] = "ja",
    guard_formulas: bool = True,
    chunk_rows: int = 1000,
) -> AsyncIterator[bytes]:
    """The rows as CSV bytes, a chunk every ``chunk_rows`` rows (the first chunk carries the BOM and header).

    Args:
        columns: The columns, in order; each row has one value per column.
        encoding: ``utf-8-bom`` (for people), ``utf-8`` or ``cp932`` (unencodable characters become 〓).
        header: Japanese headers (``ja``), the stable keys (``key``) or no header row (``none``).
        guard_formulas: Prefix text cells that a spreadsheet would read as a formula with an apostrophe.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}")
    parts: list[str] = []
    writer = csv.writer(_Parts(parts), lineterminator="\r\n")  # QUOTE_MINIMAL: RFC 4180 quoting
    prefix = b"\xef\xbb\xbf" if encoding == "utf-8-bom" else b""
    if header != "none":
        writer.writerow([c.header if header == "ja" else c.key for c in columns])
    pending = 1 if header != "none" else 0
    width = len(columns)
    async for row in _aiter(rows):
        if len(row) != width:
            raise ValueError(f"a row has {len(row)} values for {width} columns")
        writer.writerow([render_cell(c, v, guard_formulas=guard_formulas) for c, v in zip(columns, row, strict=True)])
        pending += 1
        if pending >= chunk_rows:
            yield prefix + _encode("".join(parts), encoding)
            prefix = b""
            parts.clear()
            pending = 0
    if pending or prefix:
        yield prefix + _encode("".join(parts), encoding)


class _Parts:
    """The csv writer's file: the rows' text, kept until the chunk is encoded."""

    __slots__ = ("write",)

    def __init__(self, parts: list[str]) -> None:
        self.write = parts.append


_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _sheet_name(name: str, n: int) -> str:
    base = (name.translate(_SHEET_FORBIDDEN) or "Sheet").strip("'")[:31]
    if n == 1:
        return base
    suffix = f" ({n})"
    return base[: 31 - len(suffix)] + suffix


async def xlsx_chunks(
    columns: Sequence[Column],
    rows: AsyncIterable[Sequence[Any]] | Iterable[Sequence[Any]],
    *,
    sheet: str,
    conditions: Sequence[tuple[str, str]] = (),
) -> AsyncIterator[bytes]:
    """The rows as an XLSX workbook, streamed in 64 KiB chunks once written.

    Sheet ``sheet``: a bold, frozen header row of the Japanese headers, integers as numbers (``#,##0``), dates and
    instants (JST) as real dates, text as text (never a formula). Past Excel's 1,048,576 rows the rows continue on
    ``sheet (2)`` and so on. Then a sheet ``条件`` listing ``conditions`` (e.g. period, tenant, generated_at).
    """
    handle = tempfile.NamedTemporaryFile(prefix="bnpl-export-", suffix=".xlsx", delete=False)
    path = handle.name
    handle.close()
    try:
        workbook = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False})
        try:
            bold = workbook.add_format({"bold": True})
            formats = {
                "int": workbook.add_format({"num_format": "#,##0"}),
                "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
                "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
            }

            def new_sheet(n: int) -> Any:
                ws = workbook.add_worksheet(_sheet_name(sheet, n))
                for i, c in enumerate(columns):
                    ws.set_column(i, i, 12 if c.kind != "text" else 18)
                for i, c in enumerate(columns):
                    ws.write_string(0, i, c.header, bold)
                ws.freeze_panes(1, 0)
                return ws

            sheets = 1
            ws = new_sheet(sheets)
            r = 0
            async for row in _aiter(rows):
                r += 1
                if r >= XLSX_MAX_ROWS:
                    sheets += 1
                    ws = new_sheet(sheets)
                    r = 1
                for i, (c, v) in enumerate(zip(columns, row, strict=True)):
                    _write_cell(ws, r, i, c, v, formats)
                if r % 5000 == 0:
                    await asyncio.sleep(0)  # let the event loop breathe on very long exports
            cond = workbook.add_worksheet("条件")
            cond.set_column(0, 0, 18)
            cond.set_column(1, 1, 40)
            cond.write_string(0, 0, "項目", bold)
            cond.write_string(0, 1, "値", bold)
            for i, (name, value) in enumerate(conditions, start=1):
                cond.write_string(i, 0, str(name))
                cond.write_string(i, 1, str(value))
        finally:
            await asyncio.to_thread(workbook.close)
        with open(path, "rb") as f:  # noqa: ASYNC230 (small local reads between yields)
            while chunk := f.read(FILE_CHUNK_BYTES):
                yield chunk
    finally:
        os.unlink(path)


def _write_cell(ws: Any, r: int, i: int, column: Column, value: Any, formats: dict[str, Any]) -> None:
    if value is None:
        return  # constant_memory: an unwritten cell is an empty cell
    if isinstance(value, bool):
        ws.write_boolean(r, i, value)
    elif isinstance(value, int):
        ws.write_number(r, i, value, formats["int"])
    elif isinstance(value, dt.datetime):
        jst = _jst(value).replace(tzinfo=None)
        if column.kind == "date":
            ws.write_datetime(r, i, dt.datetime.combine(jst.date(), dt.time()), formats["date"])
        else:
            ws.write_datetime(r, i, jst, formats["datetime"])
    elif isinstance(value, dt.date):
        ws.write_datetime(r, i, dt.datetime.combine(value, dt.time()), formats["date"])
    else:
        ws.write_string(r, i, str(value))


# -- choosing a file format ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileFormat:
    """What an export is written as: CSV in an encoding with a header mode, or XLSX."""

    fmt: Format
    encoding: Encoding
    header: Header

    @property
    def media_type(self) -> str:
        return media_type(self.fmt, self.encoding)

    @property
    def extension(self) -> str:
        return self.fmt


def _refuse(pointer: str, detail: str, message: str) -> InvalidInput:
    return InvalidInput(message, code="validation_error", issues=[FieldIssue(pointer, detail, "enum")])


def file_format(
    fmt: str,
    encoding: str | None = None,
    header: str | None = None,
    *,
    encodings: Sequence[Encoding] = ENCODINGS,
    headers: Sequence[Header] = ("ja", "key"),
    prefix: str = "query:",
) -> FileFormat:
    """Check a requested format against what the export allows (the first of ``encodings``/``headers`` is the
    default). ``encoding`` and ``header`` apply to CSV only; XLSX always has the Japanese header row.

    Raises:
        InvalidInput: ``validation_error`` naming the parameter (``{prefix}format``, ``encoding`` or ``header``).
    """
    if fmt not in FORMATS:
        raise _refuse(f"{prefix}format", f"expected one of {', '.join(FORMATS)}", f"Unknown format {fmt!r}.")
    if fmt == "xlsx":
        for name, value in (("encoding", encoding), ("header", header)):
            if value is not None:
                raise _refuse(f"{prefix}{name}", "applies to CSV only", f"XLSX takes no {name}.")
        return FileFormat("xlsx", encodings[0], "ja")
    if encoding is not None and encoding not in encodings:
        raise _refuse(
            f"{prefix}encoding",
            f"expected one of {', '.join(encodings)}",
            f"This export is not written in {encoding!r}.",
        )
    if header is not None and header not in headers:
        raise _refuse(
            f"{prefix}header", f"expected one of {', '.join(headers)}", f"This export does not take header={header!r}."
        )
    return FileFormat(
        "csv",
        encoding if encoding is not None else encodings[0],  # type: ignore[arg-type]
        header if header is not None else headers[0],  # type: ignore[arg-type]
    )


def file_chunks(
    columns: Sequence[Column],
    rows: AsyncIterable[Sequence[Any]] | Iterable[Sequence[Any]],
    file: FileFormat,
    *,
    guard_formulas: bool = True,
    sheet: str = "Sheet1",
    conditions: Sequence[tuple[str, str]] = (),
) -> AsyncIterator[bytes]:
    """:func:`csv_chunks` or :func:`xlsx_chunks`, as ``file`` says."""
    if file.fmt == "xlsx":
        return xlsx_chunks(columns, rows, sheet=sheet, conditions=conditions)
    return csv_chunks(columns, rows, encoding=file.encoding, header=file.header, guard_formulas=guard_formulas)
