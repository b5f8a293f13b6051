"""Admin API: finance exports of the operator (journal with accounting-tool presets, settlement statements).

Downloads, streamed: CSV (UTF-8 with BOM for people, UTF-8 or CP932 for tools) or XLSX. Every parameter is
checked before the first byte is sent, so a bad one is a 422 problem naming it; the rows are then read from the
database with one streamed SELECT and encoded a thousand rows at a time (``docs/exports.md``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Stream
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import LIST
from app.openapi import also_served_as
from app.uow import Database
from domain.kit import clock
from domain.kit.dialect import is_postgres
from domain.kit.errors import FieldIssue, InvalidInput
from domain.kit.tabular import XLSX_MEDIA_TYPE, Column, FileFormat, check_period, file_chunks, file_format
from domain.kit.tenancy import Principal, Role
from domain.ledger import export as journal_export
from domain.settlement import export as settlement_export
from domain.tenancy.service import get_operator

# ``from`` is a Python keyword, so ``from`` and ``to`` arrive under an alias, as strings parsed here: a bad value's
# problem then names the parameter the client sent (Litestar's own validation would name the Python argument).
From = Annotated[
    str | None,
    QueryParameter(name="from", title="From", description="First day included (YYYY-MM-DD, JST). Required."),
]
To = Annotated[
    str | None,
    QueryParameter(
        name="to", title="To", description="Last day included (YYYY-MM-DD, JST); at most 366 days. Required."
    ),
]
PresetQ = Annotated[
    str,
    QueryParameter(
        title="Preset",
        description="generic (one row per posting), yayoi (弥生会計 仕訳日記帳, CP932, no header), "
        "mf (マネーフォワード クラウド会計 仕訳帳), freee (freee会計 仕訳インポート).",
    ),
]
FormatQ = Annotated[str, QueryParameter(title="Format", description="csv (default) or xlsx.")]
EncodingQ = Annotated[
    str | None,
    QueryParameter(
        title="Encoding",
        description="CSV only: utf-8-bom (for people), utf-8 or cp932 (unencodable characters become 〓). Default: "
        "utf-8-bom for generic and settlements, cp932 for yayoi, mf and freee; yayoi is CP932 only, mf and freee "
        "take cp932 or utf-8.",
    ),
]
HeaderQ = Annotated[
    str | None,
    QueryParameter(
        title="Header",
        description="CSV only, generic and settlements: ja (Japanese headers, default) or key (stable English keys). "
        "The tool presets have their own fixed header (none for yayoi).",
    ),
]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
XLSX_TOO = also_served_as(XLSX_MEDIA_TYPE)  # the success is a CSV file, or XLSX with format=xlsx


class AdminExportController(Controller):
    path = "/exports"
    tags = ["admin", "exports"]
    guards = [require_roles(Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE)]

    @get(
        "/journal",
        operation_id="ExportJournal",
        summary="Download the journal (CSV or XLSX, accounting-tool presets)",
        responses=LIST,
        media_type="text/csv",
        operation_class=XLSX_TOO,
    )
    async def journal(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        date_from: From = None,
        date_to: To = None,
        preset: PresetQ = "generic",
        format: FormatQ = "csv",
        encoding: EncodingQ = None,
        header: HeaderQ = None,
    ) -> Stream:
        """The operator's journal entries with an effective date (JST) in [from, to], in the preset's layout: one
        row per posting (generic) or per debit/credit pair of an entry (yayoi, mf, freee: an entry is one 伝票
        whose debits equal its credits). Columns, encodings and the default 税区分 are in docs/exports.md."""
        spec = journal_export.preset_of(preset)
        start, end = _period(date_from, date_to)
        file = file_format(format, encoding, header, encodings=spec.encodings, headers=spec.headers)
        tenant_id = principal.require_tenant()
        async with db.read() as session:
            operator = await get_operator(session, tenant_id)
            tax = await settlement_export.journal_tax_mapping(session, tenant_id)

        def rows(session: AsyncSession) -> Any:
            entries = journal_export.stream_entries(session, principal, start, end, currency=spec.currency)
            return journal_export.journal_rows(spec, entries, tax)

        conditions = _conditions(spec.title, operator.name, tenant_id, start, end)
        return await _download(
            db,
            rows,
            spec.columns,
            file,
            f"journal-{spec.name}-{start}-{end}",
            spec.guard_formulas,
            "仕訳帳",
            conditions,
        )

    @get(
        "/settlements",
        operation_id="ExportSettlements",
        summary="Download the settlement statements of a range of cut-offs",
        responses=LIST,
        media_type="text/csv",
        operation_class=XLSX_TOO,
    )
    async def settlements(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        date_from: From = None,
        date_to: To = None,
        format: FormatQ = "csv",
        encoding: EncodingQ = None,
        header: HeaderQ = None,
    ) -> Stream:
        """One row per merchant statement whose cut-off (締日) is in [from, to]: counts, sales, refunds, fees, tax,
        transfer fee, carry-over, payout and pay date, status. Columns in docs/exports.md."""
        start, end = _period(date_from, date_to)
        file = file_format(format, encoding, header)
        tenant_id = principal.require_tenant()
        async with db.read() as session:
            operator = await get_operator(session, tenant_id)

        def rows(session: AsyncSession) -> Any:
            return settlement_export.settlement_rows(session, principal, start, end)

        conditions = _conditions("加盟店精算書一覧", operator.name, tenant_id, start, end)
        return await _download(
            db,
            rows,
            settlement_export.SETTLEMENT_COLUMNS,
            file,
            f"settlements-{start}-{end}",
            True,
            "精算書",
            conditions,
        )


def _date(name: str, value: str | None) -> dt.date:
    if value is None:
        raise InvalidInput(
            f"The query parameter {name} is required.",
            code="validation_error",
            issues=[FieldIssue(f"query:{name}", "required: a date YYYY-MM-DD", "missing")],
        )
    try:
        if _DATE.match(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise InvalidInput(
        "Invalid date.", code="validation_error", issues=[FieldIssue(f"query:{name}", "expected a date YYYY-MM-DD")]
    )


def _period(date_from: str | None, date_to: str | None) -> tuple[dt.date, dt.date]:
    start, end = _date("from", date_from), _date("to", date_to)
    for name, day in (("from", start), ("to", end)):
        if not 2000 <= day.year <= 2999:
            raise InvalidInput(
                "Dates are between 2000-01-01 and 2999-12-31.",
                code="validation_error",
                issues=[FieldIssue(f"query:{name}", "a date between 2000-01-01 and 2999-12-31", "out_of_range")],
            )
    check_period(start, end)
    return start, end


def _conditions(title: str, operator: str, tenant_id: str, start: dt.date, end: dt.date) -> list[tuple[str, str]]:
    generated = clock.utc_now().astimezone(clock.JST).strftime("%Y-%m-%d %H:%M:%S")
    return [
        ("帳票", title),
        ("オペレーター", f"{operator} ({tenant_id})"),
        ("期間", f"{start.isoformat()} 〜 {end.isoformat()}"),
        ("作成日時 (JST)", generated),
    ]


async def _download(
    db: Database,
    rows: Callable[[AsyncSession], Any],
    columns: Sequence[Column],
    file: FileFormat,
    name: str,
    guard_formulas: bool,
    sheet: str,
    conditions: Sequence[tuple[str, str]],
    raw_chunks: Callable[[AsyncSession], AsyncIterator[bytes] | None] | None = None,
) -> Stream:
    """The file as a streamed download. Its first chunk is made before the response starts, so that a failure to
    begin (the database unavailable: 503; a domain error) is still a problem response, not a truncated file. (For
    XLSX the first chunk comes once the whole workbook is written.)"""

    async def body() -> AsyncIterator[bytes]:
        # One transaction for the one streamed SELECT (a server-side cursor needs one on PostgreSQL).
        async with db.transaction() as session:
            if is_postgres(session):  # a large export outlasts the API's statement timeout (it streams, it is fine)
                await session.execute(text("SET LOCAL statement_timeout = '600s'"))
            # An export may write its file itself (the usage detail: COPY on PostgreSQL); else rows are rendered.
            chunks = raw_chunks(session) if raw_chunks is not None else None
            if chunks is None:
                chunks = file_chunks(
                    columns, rows(session), file, guard_formulas=guard_formulas, sheet=sheet, conditions=conditions
                )
            async for chunk in chunks:
                yield chunk

    chunks = body()
    first = await anext(chunks, b"")

    async def rest() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()

    return Stream(
        rest(),
        media_type=file.media_type,
        headers={
            # Set here, or Litestar appends "; charset=utf-8" to a text/ type that already names its charset.
            "Content-Type": file.media_type,
            "Content-Disposition": f'attachment; filename="{name}.{file.extension}"',
        },
    )
