"""Finance exports of platform billing: invoice register, invoice lines, usage detail, credit notes, revenue by
month and type, AR aging of tenant invoices, KPIs. Each is (columns, an async iterator of rows) for
``domain.kit.tabular``; rows are read in batches (invoices) or from one server-side cursor (usage events), so
memory stays flat in the number of rows. Platform keys see every operator (optionally one); an operator's keys
only its own (``billing.repository.readable``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import kpis as kpi_service
from billing.metering import UsageEvent
from billing.models import BillingInvoice, CreditNote
from billing.pricing import month_start, next_month
from billing.repository import readable
from billing.service import InvoiceView, allow_long_statements, views
from domain.kit import clock
from domain.kit.bulk import copy_out_csv
from domain.kit.tabular import Column
from domain.kit.tenancy import Principal

BATCH = 500
YIELD_PER = 10_000
RATES = (10, 8, 0)  # standard, reduced, and 0 % (exempt/non-taxable lines)
KIND_LABELS = {
    "base_fee": "月額利用料",
    "addon_fee": "オプション月額",
    "usage": "従量料金",
    "usage_correction": "従量料金 (遅延計上)",
}
CREDIT_LABEL = "値引・返還 (返還請求書)"
TOTAL_LABEL = "合計 (請求)"
PAYMENT_STATUS_LABELS = {
    "unpaid": "未入金",
    "partially_paid": "一部入金",
    "paid": "入金済",
    "credited": "返還済",
    "draft": "下書き",
}


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    title: str  # Japanese, for the sheet and the conditions
    columns: tuple[Column, ...]
    operator_visible: bool  # an operator's finance key may export its own rows


def _rate_columns(prefix_key: str, prefix_ja: str) -> tuple[Column, ...]:
    cols: list[Column] = []
    for rate in RATES:
        cols.append(Column(f"{prefix_key}base_{rate}", f"{prefix_ja}{rate}%対象 (税抜)", "int"))
        cols.append(Column(f"{prefix_key}tax_{rate}", f"{prefix_ja}{rate}% 消費税", "int"))
    return tuple(cols)


INVOICES = Report(
    "invoices",
    "請求書一覧",
    (
        Column("number", "請求書番号"),
        Column("issue_date", "発行日", "date"),
        Column("operator_id", "取引先ID"),
        Column("operator_name", "取引先"),
        Column("service_month", "対象月"),
        *_rate_columns("", ""),
        Column("subtotal", "小計 (税抜)", "int"),
        Column("tax_total", "消費税計", "int"),
        Column("total", "合計 (税込)", "int"),
        Column("due_date", "支払期日", "date"),
        Column("credited", "返還額", "int"),
        Column("paid", "入金額", "int"),
        Column("outstanding", "残高", "int"),
        Column("payment_status", "ステータス"),
        Column("registration_number", "登録番号 (発行者)"),
        Column("invoice_id", "請求書ID"),
    ),
    operator_visible=True,
)
INVOICE_LINES = Report(
    "invoice-lines",
    "請求明細",
    (
        Column("number", "請求書番号"),
        Column("issue_date", "発行日", "date"),
        Column("operator_id", "取引先ID"),
        Column("position", "行", "int"),
        Column("kind", "種別"),
        Column("description", "内容"),
        Column("metric", "指標"),
        Column("service_month", "対象月"),
        Column("period_start", "期間開始", "date"),
        Column("period_end", "期間終了", "date"),
        Column("quantity", "数量", "int"),
        Column("unit_price", "単価"),
        Column("amount", "金額 (税抜)", "int"),
        Column("tax_rate", "税率 (%)", "int"),
    ),
    operator_visible=True,
)
USAGE = Report(
    "usage",
    "利用明細",
    (
        Column("event_id", "利用ID"),
        Column("operator_id", "取引先ID"),
        Column("metric", "指標"),
        Column("quantity", "数量", "int"),
        Column("occurred_at", "発生日時 (JST)", "datetime"),
        Column("source_id", "元ID"),
    ),
    operator_visible=True,
)
CREDIT_NOTES = Report(
    "credit-notes",
    "適格返還請求書一覧",
    (
        Column("number", "返還請求書番号"),
        Column("issue_date", "発行日", "date"),
        Column("invoice_number", "原請求書番号"),
        Column("service_month", "原取引の対象月"),
        Column("operator_id", "取引先ID"),
        Column("reason", "理由"),
        *_rate_columns("", "返還 "),
        Column("subtotal", "返還額 (税抜)", "int"),
        Column("tax_total", "返還消費税", "int"),
        Column("total", "返還額 (税込)", "int"),
        Column("qualified_required", "適格返還請求書の交付義務"),
        Column("credit_note_id", "返還請求書ID"),
    ),
    operator_visible=True,
)
REVENUE = Report(
    "revenue",
    "売上計上表",
    (
        Column("month", "計上月"),
        Column("type", "種別"),
        Column("documents", "件数", "int"),
        Column("amount", "金額 (税抜)", "int"),
        Column("tax", "消費税", "int"),
    ),
    operator_visible=False,
)
AR_AGING = Report(
    "ar-aging",
    "売掛金年齢表",
    (
        Column("operator_id", "取引先ID"),
        Column("operator_name", "取引先"),
        Column("invoices", "未回収請求書数", "int"),
        Column("outstanding", "未収残高", "int"),
        Column("not_due", "期日未到来", "int"),
        Column("d1_30", "1〜30日", "int"),
        Column("d31_60", "31〜60日", "int"),
        Column("d61_90", "61〜90日", "int"),
        Column("d91_plus", "91日以上", "int"),
    ),
    operator_visible=False,
)
KPIS = Report(
    "kpis",
    "KPI (ストック収益・解約率)",
    (
        Column("month", "月"),
        Column("stock_start", "月初ストック収益", "int"),
        Column("new", "新規", "int"),
        Column("expansion", "増額", "int"),
        Column("contraction", "減額", "int"),
        Column("churn", "解約", "int"),
        Column("stock_end", "月末ストック収益", "int"),
        Column("customers_start", "月初顧客数", "int"),
        Column("customers_new", "新規顧客数", "int"),
        Column("customers_churned", "解約顧客数", "int"),
        Column("customers_end", "月末顧客数", "int"),
        Column("screenings", "審査件数", "int"),
        Column("gross_churn_rate", "グロス解約率"),
        Column("net_churn_rate", "ネット解約率"),
    ),
    operator_visible=False,
)
REPORTS: dict[str, Report] = {
    r.name: r for r in (INVOICES, INVOICE_LINES, USAGE, CREDIT_NOTES, REVENUE, AR_AGING, KPIS)
}


def _scoped(stmt: Any, model: Any, tenant_id: str | None) -> Any:
    return stmt if tenant_id is None else stmt.where(model.tenant_id == tenant_id)


async def _finalized_views(
    session: AsyncSession, principal: Principal, start: dt.date, end: dt.date, tenant_id: str | None
) -> AsyncIterator[InvoiceView]:
    """Finalized invoices issued in [start, end], in number order, ``BATCH`` at a time."""
    ids_stmt = _scoped(
        readable(BillingInvoice, principal)
        .with_only_columns(BillingInvoice.id)
        .where(
            BillingInvoice.status == "finalized",
            BillingInvoice.issue_date >= start,
            BillingInvoice.issue_date <= end,
        )
        .order_by(BillingInvoice.number_seq),
        BillingInvoice,
        tenant_id,
    )
    ids = list((await session.scalars(ids_stmt)).all())
    for i in range(0, len(ids), BATCH):
        chunk = ids[i : i + BATCH]
        invoices = {
            inv.id: inv for inv in await session.scalars(select(BillingInvoice).where(BillingInvoice.id.in_(chunk)))
        }
        for view in await views(session, [invoices[x] for x in chunk]):
            yield view


def _by_rate(taxes: Sequence[Any]) -> list[int]:
    out = []
    for rate in RATES:
        found = next((t for t in taxes if (t["tax_rate"] if isinstance(t, dict) else t.tax_rate) == rate), None)
        if found is None:
            out += [0, 0]
        elif isinstance(found, dict):
            out += [found["taxable_base"], found["tax"]]
        else:
            out += [found.taxable_base, found.tax]
    return out


async def invoice_rows(
    session: AsyncSession, principal: Principal, start: dt.date, end: dt.date, tenant_id: str | None = None
) -> AsyncIterator[tuple[Any, ...]]:
    async for v in _finalized_views(session, principal, start, end, tenant_id):
        inv = v.invoice
        yield (
            inv.number,
            inv.issue_date,
            inv.tenant_id,
            inv.customer.get("name", ""),
            f"{inv.service_month:%Y-%m}",
            *_by_rate(v.taxes),
            inv.subtotal,
            inv.tax_total,
            inv.total,
            inv.due_date,
            v.credited,
            v.paid,
            v.outstanding,
            PAYMENT_STATUS_LABELS[v.payment_status],
            inv.issuer.get("registration_number", ""),
            inv.id,
        )


async def invoice_line_rows(
    session: AsyncSession, principal: Principal, start: dt.date, end: dt.date, tenant_id: str | None = None
) -> AsyncIterator[tuple[Any, ...]]:
    async for v in _finalized_views(session, principal, start, end, tenant_id):
        for ln in v.lines:
            yield (
                v.invoice.number,
                v.invoice.issue_date,
                v.invoice.tenant_id,
                ln.position,
                KIND_LABELS[ln.kind],
                ln.description,
                ln.metric,
                f"{ln.service_month:%Y-%m}",
                ln.period_start,
                ln.period_end - dt.timedelta(days=1),
                ln.quantity,
                ln.unit_price,
                ln.amount,
                ln.tax_rate,
            )


async def usage_rows(
    session: AsyncSession,
    principal: Principal,
    start: dt.date,
    end: dt.date,
    tenant_id: str | None = None,
    *,
    yield_per: int = YIELD_PER,
) -> AsyncIterator[tuple[Any, ...]]:
    """Every usage event that occurred in [start, end] (JST dates), from one server-side cursor."""
    if not principal.is_platform:
        tenant_id = principal.require_tenant()
    lo, hi = clock.jst_midnight_utc(start), clock.jst_midnight_utc(end + dt.timedelta(days=1))
    stmt = select(
        UsageEvent.id,
        UsageEvent.tenant_id,
        UsageEvent.kind,
        UsageEvent.quantity,
        UsageEvent.occurred_at,
        UsageEvent.source_id,
    ).where(UsageEvent.occurred_at >= lo, UsageEvent.occurred_at < hi)
    if tenant_id is not None:
        stmt = stmt.where(UsageEvent.tenant_id == tenant_id).order_by(
            UsageEvent.tenant_id, UsageEvent.occurred_at, UsageEvent.id
        )
    else:  # the id breaks ties (events of one instant), so that the COPY path and this one agree row for row
        stmt = stmt.order_by(UsageEvent.occurred_at, UsageEvent.id)
    result = await session.stream(stmt.execution_options(yield_per=yield_per))
    try:
        async for partition in result.partitions():  # a fetch at a time: stepping row by row costs 2-3x
            for row in partition:
                yield tuple(row)
    finally:
        await result.close()


# The usage detail as PostgreSQL writes it: the same rows and text as ``usage_rows`` rendered by
# ``domain.kit.tabular`` (the instant in JST to the second, the formula guard on the sender's key), for COPY.
_USAGE_COPY = (
    "SELECT id, tenant_id, kind, quantity,"
    " to_char(occurred_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI:SS'),"
    " CASE WHEN left(source_id, 1) IN ('=', '+', '-', '@') THEN '''' || source_id ELSE source_id END"
    " FROM usage_events WHERE occurred_at >= %s AND occurred_at < %s{tenant} ORDER BY {order}"
)


async def usage_csv_copy(
    session: AsyncSession,
    principal: Principal,
    start: dt.date,
    end: dt.date,
    tenant_id: str | None,
    *,
    encoding: str,
    header: str,
) -> AsyncIterator[bytes]:
    """PostgreSQL: the usage detail CSV straight from ``COPY … TO STDOUT`` (some 15 times the rows per second of
    rendering them in Python), with the header, BOM and CRLF line ends of every other export. Every field is ASCII
    (ids, metric codes, numbers, timestamps, printable-ASCII keys), so UTF-8 and CP932 bytes are the same, and no
    field holds a line break, so turning ``\n`` into ``\r\n`` is exact."""
    if not principal.is_platform:
        tenant_id = principal.require_tenant()
    lo, hi = clock.jst_midnight_utc(start), clock.jst_midnight_utc(end + dt.timedelta(days=1))
    params: list[Any] = [lo, hi]
    if tenant_id is not None:
        query = _USAGE_COPY.format(tenant=" AND tenant_id = %s", order="tenant_id, occurred_at, id")
        params.append(tenant_id)
    else:
        query = _USAGE_COPY.format(tenant="", order="occurred_at, id")
    first = b"\xef\xbb\xbf" if encoding == "utf-8-bom" else b""
    if header != "none":
        titles = [c.header if header == "ja" else c.key for c in USAGE.columns]
        line = ",".join(titles) + "\r\n"
        first += line.encode("cp932" if encoding == "cp932" else "utf-8")
    await allow_long_statements(session)  # a month of events takes longer than the API's statement timeout
    # The header goes out with the first data, so that a COPY that fails to start is an error, not a 200 and a file
    # with a header only (the download answers only once the first chunk is made).
    chunks = copy_out_csv(session, query, params)
    data = await anext(chunks, b"")
    yield first + data.replace(b"\n", b"\r\n")
    async for data in chunks:
        yield data.replace(b"\n", b"\r\n")


async def credit_note_rows(
    session: AsyncSession, principal: Principal, start: dt.date, end: dt.date, tenant_id: str | None = None
) -> AsyncIterator[tuple[Any, ...]]:
    stmt = _scoped(
        readable(CreditNote, principal)
        .where(CreditNote.issue_date >= start, CreditNote.issue_date <= end)
        .order_by(CreditNote.number_seq),
        CreditNote,
        tenant_id,
    )
    for note in (await session.scalars(stmt)).all():
        yield (
            note.number,
            note.issue_date,
            note.invoice_number,
            f"{note.invoice_service_month:%Y-%m}",
            note.tenant_id,
            note.reason,
            *_by_rate(note.taxes),
            note.subtotal,
            note.tax_total,
            note.total,
            "要" if note.qualified_required else "不要 (1万円未満)",
            note.id,
        )


async def revenue_rows(
    session: AsyncSession, principal: Principal, start: dt.date, end: dt.date, tenant_id: str | None = None
) -> AsyncIterator[tuple[Any, ...]]:
    """Revenue of the invoices issued in [start, end] by issue month and line type (tax excluded), and credit
    notes as negative 値引 by their issue month. Tax per type is not computed (it is per invoice): the tax column
    is filled on the credit notes' and the month's total rows."""
    cells: dict[tuple[str, str], list[int]] = {}

    def add(month: str, kind: str, amount: int, tax: int, docs: int = 1) -> None:
        cell = cells.setdefault((month, kind), [0, 0, 0])
        cell[0] += docs
        cell[1] += amount
        cell[2] += tax

    async for v in _finalized_views(session, principal, start, end, tenant_id):
        month = f"{v.invoice.issue_date:%Y-%m}"
        for kind in ("base_fee", "addon_fee", "usage", "usage_correction"):
            amount = sum(ln.amount for ln in v.lines if ln.kind == kind)
            if amount:
                add(month, KIND_LABELS[kind], amount, 0)
        add(month, TOTAL_LABEL, v.invoice.subtotal, v.invoice.tax_total)
    async for row in credit_note_rows(session, principal, start, end, tenant_id):
        month = f"{row[1]:%Y-%m}"
        add(month, CREDIT_LABEL, -row[-5], -row[-4])
    order = [*KIND_LABELS.values(), CREDIT_LABEL, TOTAL_LABEL]
    for (month, kind), (docs, amount, tax) in sorted(cells.items(), key=lambda c: (c[0][0], order.index(c[0][1]))):
        yield (month, kind, docs, amount, tax)


async def ar_aging_rows(
    session: AsyncSession, principal: Principal, as_of: dt.date, tenant_id: str | None = None
) -> AsyncIterator[tuple[Any, ...]]:
    """Outstanding balances of finalized invoices issued up to ``as_of``, per operator, by days past due."""
    buckets: dict[str, list[Any]] = {}
    async for v in _finalized_views(session, principal, dt.date(2000, 1, 1), as_of, tenant_id):
        inv = v.invoice
        # As of the day: only what was paid or credited by then reduces the balance.
        outstanding = (
            inv.total
            - sum(n.total for n in v.credit_notes if n.issue_date <= as_of)
            - sum(p.amount for p in v.payments if p.paid_on <= as_of)
        )
        if outstanding <= 0:
            continue
        row = buckets.setdefault(inv.tenant_id, [inv.customer.get("name", ""), 0, 0, 0, 0, 0, 0, 0])
        row[1] += 1
        row[2] += outstanding
        assert inv.due_date is not None
        late = (as_of - inv.due_date).days
        index = 3 if late <= 0 else 4 if late <= 30 else 5 if late <= 60 else 6 if late <= 90 else 7
        row[index] += outstanding
    for tenant, row in sorted(buckets.items()):
        yield (tenant, *row)


async def kpi_rows(session: AsyncSession, start: dt.date, end: dt.date) -> AsyncIterator[tuple[Any, ...]]:
    months = []
    month = month_start(start)
    while month <= end:
        months.append(month)
        month = next_month(month)
    for k in await kpi_service.compute(session, months):
        yield (
            f"{k.month:%Y-%m}",
            k.stock_start,
            k.new,
            k.expansion,
            k.contraction,
            k.churn,
            k.stock_end,
            k.customers_start,
            k.customers_new,
            k.customers_churned,
            k.customers_end,
            k.screenings,
            None if k.gross_churn_rate is None else str(k.gross_churn_rate),
            None if k.net_churn_rate is None else str(k.net_churn_rate),
        )


def rows_of(
    report: Report, session: AsyncSession, principal: Principal, start: dt.date, end: dt.date, tenant_id: str | None
) -> AsyncIterator[tuple[Any, ...]]:
    """The rows of ``report`` for [start, end] (``ar-aging``: as of ``end``; ``kpis``: the months of the range)."""
    if not principal.is_platform:
        tenant_id = principal.require_tenant()
    if report is INVOICES:
        return invoice_rows(session, principal, start, end, tenant_id)
    if report is INVOICE_LINES:
        return invoice_line_rows(session, principal, start, end, tenant_id)
    if report is USAGE:
        return usage_rows(session, principal, start, end, tenant_id)
    if report is CREDIT_NOTES:
        return credit_note_rows(session, principal, start, end, tenant_id)
    if report is REVENUE:
        return revenue_rows(session, principal, start, end, tenant_id)
    if report is AR_AGING:
        return ar_aging_rows(session, principal, end, tenant_id)
    return kpi_rows(session, start, end)
