"""Admin API: collections reports for finance (AR aging, outcomes by stage, suspense aging, unpaid rate).

Each answers JSON, or CSV with ``?format=csv`` (UTF-8 with a BOM so that Excel reads the Japanese, one header row;
``docs/collections-reports.md`` lists the columns).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from app.auth import require_roles
from app.http.responses import LIST
from app.http.schemas.reports import ArAgingOut, CollectionOutcomesOut, SuspenseAgingOut, UnpaidRateOut
from app.openapi import also_served_as
from app.uow import Database
from domain.collections import reports
from domain.kit import clock
from domain.kit.errors import FieldIssue, InvalidInput
from domain.kit.tenancy import Principal, Role

Format = Annotated[
    Literal["json", "csv"],
    QueryParameter(title="Format", description="json (default) or csv (UTF-8 with BOM, header row)."),
]
AsOf = Annotated[
    dt.date | None,
    QueryParameter(title="As of", description="The business date (YYYY-MM-DD) the report ages to; default today JST."),
]
# ``from`` is a Python keyword, so ``from`` and ``to`` arrive under an alias, as strings parsed here: a bad value's
# problem then names the parameter the client sent (Litestar's own validation would name the Python argument).
From = Annotated[
    str | None,
    QueryParameter(
        name="from",
        title="From",
        description="First base due date counted (YYYY-MM-DD); default 89 days before `to` (a 90-day window).",
    ),
]
To = Annotated[
    str | None,
    QueryParameter(name="to", title="To", description="Last base due date counted (YYYY-MM-DD); default today JST."),
]
Month = r"^2\d{3}-(0[1-9]|1[0-2])$"  # 2000-01 to 2999-12, as billing's months
FromMonth = Annotated[
    str | None,
    QueryParameter(
        title="From month",
        description="First month of issue (YYYY-MM, JST); default 11 months before `to_month` (12 months).",
        pattern=Month,
    ),
]
ToMonth = Annotated[
    str | None,
    QueryParameter(
        title="To month", description="Last month of issue (YYYY-MM, JST); default this month.", pattern=Month
    ),
]

_MONTH = re.compile(Month)
CSV_TOO = also_served_as("text/csv")


class CollectionsReportController(Controller):
    path = "/reports"
    tags = ["admin", "billing"]
    guards = [require_roles(Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE)]

    @get(
        "/ar-aging",
        operation_id="GetArAgingReport",
        summary="Receivables by days past due",
        responses=LIST,
        operation_class=CSV_TOO,
    )
    async def ar_aging(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        as_of: AsOf = None,
        format: Format = "json",
    ) -> ArAgingOut:
        """Open invoices with a balance (charged-off included, also shown apart) by calendar days past their chain's
        original due date: current, 1-29, 30-59, 60-89, 90-119, 120+."""
        day = as_of or clock.jst_today()
        async with db.read() as session:
            out = ArAgingOut.of(await reports.ar_aging(session, principal, day))
        return _answer(out, format, f"ar-aging-{day.isoformat()}")

    @get(
        "/collection-outcomes",
        operation_id="GetCollectionOutcomesReport",
        summary="What became of the invoice chains due in a range, by dunning stage",
        responses=LIST,
        operation_class=CSV_TOO,
    )
    async def collection_outcomes(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        date_from: From = None,
        date_to: To = None,
        format: Format = "json",
    ) -> CollectionOutcomesOut:
        """Chains whose base due date is in [from, to]: paid by due, after notices, after re-bill n, in collection;
        recovered, open, in collection, charged off, cancelled; with counts and amounts."""
        end = _date("to", date_to) if date_to else clock.jst_today()
        start = _date("from", date_from) if date_from else end - dt.timedelta(days=89)
        async with db.read() as session:
            out = CollectionOutcomesOut.of(await reports.collection_outcomes(session, principal, start, end))
        return _answer(out, format, f"collection-outcomes-{start.isoformat()}-{end.isoformat()}")

    @get(
        "/suspense-aging",
        operation_id="GetSuspenseAgingReport",
        summary="Unmatched payments and overpayments held, by age",
        responses=LIST,
        operation_class=CSV_TOO,
    )
    async def suspense_aging(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        as_of: AsOf = None,
        format: Format = "json",
    ) -> SuspenseAgingOut:
        """Money held in suspense (unmatched) and overpayments owed back, by days since the value date: 0-6, 7-29,
        30-89, 90+."""
        day = as_of or clock.jst_today()
        async with db.read() as session:
            out = SuspenseAgingOut.of(await reports.suspense_aging(session, principal, day))
        return _answer(out, format, f"suspense-aging-{day.isoformat()}")

    @get(
        "/unpaid-rate",
        operation_id="GetUnpaidRateReport",
        summary="Unpaid rate (不払い率) by month of issue",
        responses=LIST,
        operation_class=CSV_TOO,
    )
    async def unpaid_rate(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        from_month: FromMonth = None,
        to_month: ToMonth = None,
        format: Format = "json",
    ) -> UnpaidRateOut:
        """Per month of issue: chains issued, and of them still unpaid today, by count and amount, with the rates
        as percent strings."""
        today = clock.jst_today()
        last = _month("to_month", to_month) if to_month else today.replace(day=1)
        first = _month("from_month", from_month) if from_month else _months_before(last, 11)
        async with db.read() as session:
            out = UnpaidRateOut.of(await reports.unpaid_rate(session, principal, first, last, today))
        return _answer(out, format, f"unpaid-rate-{first:%Y-%m}-{last:%Y-%m}")


_DATE = re.compile(r"^2\d{3}-\d{2}-\d{2}$")  # 2000-01-01 to 2999-12-31, as the months (and the exports' dates)


def _date(name: str, value: str) -> dt.date:
    try:
        if _DATE.match(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise InvalidInput(
        "Invalid date.",
        code="validation_error",
        issues=[FieldIssue(f"query:{name}", "expected a date YYYY-MM-DD between 2000-01-01 and 2999-12-31")],
    )


def _month(name: str, value: str) -> dt.date:
    if not _MONTH.match(value):  # the parameter's pattern already refused it; kept for direct callers
        raise InvalidInput(
            "Invalid month.", code="validation_error", issues=[FieldIssue(f"query:{name}", "expected YYYY-MM")]
        )
    return dt.date(int(value[:4]), int(value[5:7]), 1)


def _months_before(first: dt.date, n: int) -> dt.date:
    months = first.year * 12 + first.month - 1 - n
    return dt.date(months // 12, months % 12 + 1, 1)


def _answer(out: Any, fmt: str, filename: str) -> Any:
    """The model as JSON, or its rows as a CSV download."""
    if fmt != "csv":
        return out
    return Response(
        csv_bytes(out.CSV_HEADER, out.csv_rows()),
        media_type="text/csv",  # Litestar adds "; charset=utf-8"
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """CSV for Excel users: UTF-8 with a byte-order mark, CRLF line ends, empty cells for nulls."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(["" if cell is None else cell for cell in row] for row in rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
