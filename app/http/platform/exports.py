"""Finance exports of platform billing: the platform's (every operator, or one) and an operator's own.

Downloads, streamed (CSV UTF-8 with BOM, UTF-8 or CP932, or XLSX); every parameter is checked before the first byte
is sent, so a bad one is a 422 problem naming it (``docs/exports.md``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.admin.exports import (
    XLSX_TOO,
    EncodingQ,
    FormatQ,
    From,
    HeaderQ,
    To,
    _conditions,
    _download,
    _period,
)
from app.http.responses import LIST
from app.http.schemas.common import ID_PATTERN
from app.uow import Database
from billing import exports
from domain.kit.dialect import is_postgres
from domain.kit.errors import FieldIssue, InvalidInput
from domain.kit.tabular import file_format
from domain.kit.tenancy import Principal, Role
from domain.tenancy.service import get_operator

ReportQ = Annotated[
    str,
    QueryParameter(
        title="Report",
        description="invoices (請求書一覧), invoice-lines (請求明細), usage (利用明細, one row per event), "
        "credit-notes (適格返還請求書一覧), revenue (売上計上表), ar-aging (売掛金年齢表, as of `to`), "
        "kpis (the months of the range). Operators may export invoices, invoice-lines, usage and credit-notes.",
    ),
]
OperatorQ = Annotated[
    str | None,
    QueryParameter(
        title="Operator", description="Only this operator's rows (opr_…).", max_length=40, pattern=ID_PATTERN
    ),
]


def _report(name: str, principal: Principal) -> exports.Report:
    report = exports.REPORTS.get(name)
    allowed = [r.name for r in exports.REPORTS.values() if principal.is_platform or r.operator_visible]
    if report is None or report.name not in allowed:
        raise InvalidInput(
            f"Unknown report {name!r}.",
            code="validation_error",
            issues=[FieldIssue("query:report", f"expected one of {', '.join(allowed)}", "enum")],
        )
    return report


async def _billing_download(
    db: Database,
    principal: Principal,
    report_name: str,
    date_from: str | None,
    date_to: str | None,
    operator_id: str | None,
    fmt: str,
    encoding: str | None,
    header: str | None,
) -> Stream:
    report = _report(report_name, principal)
    if report is exports.KPIS and operator_id is not None:
        raise InvalidInput(
            "The KPIs are the platform's, not an operator's.",
            code="validation_error",
            issues=[FieldIssue("query:operator_id", "not with report=kpis", "not_applicable")],
        )
    start, end = _period(date_from, date_to)
    file = file_format(fmt, encoding, header)
    if not principal.is_platform:
        operator_id = principal.require_tenant()
    who = "全オペレーター"
    if operator_id is not None:
        async with db.read() as session:
            who = (await get_operator(session, operator_id)).name  # 404 for an unknown operator

    def rows(session: AsyncSession) -> Any:
        return exports.rows_of(report, session, principal, start, end, operator_id)

    def copied(session: AsyncSession) -> AsyncIterator[bytes] | None:
        if report is not exports.USAGE or file.fmt != "csv" or not is_postgres(session):
            return None
        return exports.usage_csv_copy(
            session, principal, start, end, operator_id, encoding=file.encoding, header=file.header
        )

    conditions = _conditions(report.title, who, operator_id or "-", start, end)
    suffix = f"-{operator_id}" if operator_id and principal.is_platform else ""
    return await _download(
        db,
        rows,
        report.columns,
        file,
        f"{report.name}{suffix}-{start}-{end}",
        True,
        report.title[:31],
        conditions,
        raw_chunks=copied,
    )


class PlatformExportController(Controller):
    path = "/exports"
    tags = ["platform", "exports"]
    guards = [require_roles(Role.PLATFORM, Role.PLATFORM_FINANCE)]

    @get(
        "/billing",
        operation_id="ExportPlatformBilling",
        summary="Download a billing report of every operator, or of one (CSV or XLSX)",
        responses=LIST,
        media_type="text/csv",
        operation_class=XLSX_TOO,
    )
    async def billing(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        report: ReportQ,
        date_from: From = None,
        date_to: To = None,
        operator_id: OperatorQ = None,
        format: FormatQ = "csv",
        encoding: EncodingQ = None,
        header: HeaderQ = None,
    ) -> Stream:
        """Invoices, lines and credit notes by issue date in [from, to]; usage by the JST date it occurred; revenue
        by issue month; AR aging as of `to`; KPIs for the months of the range. Columns in docs/exports.md."""
        return await _billing_download(db, principal, report, date_from, date_to, operator_id, format, encoding, header)


class OperatorBillingExportController(Controller):
    path = "/billing/exports"
    tags = ["admin", "exports"]
    guards = [require_roles(Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE)]

    @get(
        operation_id="ExportOwnPlatformBilling",
        summary="Download your invoices, their lines, your usage or your credit notes from the platform",
        responses=LIST,
        media_type="text/csv",
        operation_class=XLSX_TOO,
    )
    async def billing(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        report: ReportQ,
        date_from: From = None,
        date_to: To = None,
        format: FormatQ = "csv",
        encoding: EncodingQ = None,
        header: HeaderQ = None,
    ) -> Stream:
        """Your own rows only (another operator's are never exported); the same columns as the platform's."""
        return await _billing_download(db, principal, report, date_from, date_to, None, format, encoding, header)
