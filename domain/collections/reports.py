"""Collections reports for finance: AR aging, collection outcomes by stage, suspense aging and the unpaid rate.

Every report is a few grouped SQL aggregates (never the invoices themselves): the database groups by a date (base
due date, value date, issue date) and Python puts those day totals into buckets with the same date arithmetic the
dunning sweep uses (``domain.collections.ladder``), so a report and the ladder never disagree about who is late.
Sandbox orders (``orders.test_mode``) are left out; amounts are int yen. ``docs/collections-reports.md`` explains
each figure.

Chains: a re-bill, or a change after the due date, voids an invoice and issues a successor in the same chain
(``chain_id``, the chain's ``dunning_base_date``). The chain's *terminal* invoice, the one no invoice supersedes,
carries the chain's outcome; a chain whose invoice was replaced before its due date by a new chain has no terminal
of its own and is counted through the new chain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import ColumnElement, Date, and_, case, exists, false, func, select, true, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.checkout.models import Order
from domain.collections.ladder import days_past_due, last_payment_day
from domain.collections.models import PAYMENT, DunningAction, Payment
from domain.invoicing.models import OPEN_STATUSES, Invoice
from domain.kit.errors import FieldIssue, InvalidInput
from domain.kit.repository import Repository
from domain.kit.tenancy import Principal, readable_statement

__all__ = [
    "DPD_BUCKETS",
    "MAX_MONTHS",
    "STAGES",
    "SUSPENSE_BUCKETS",
    "AgingBucket",
    "ArAging",
    "HeldAging",
    "MonthRate",
    "Outcomes",
    "ReportsRepository",
    "StageTotal",
    "SuspenseAging",
    "UnpaidRate",
    "ar_aging",
    "collection_outcomes",
    "percent",
    "suspense_aging",
    "unpaid_rate",
]


@dataclass(frozen=True, slots=True)
class Bucket:
    """An age range in days, both ends included; ``high`` None is open-ended."""

    key: str
    low: int
    high: int | None

    def holds(self, days: int) -> bool:
        return days >= self.low and (self.high is None or days <= self.high)


# Days past due (FFIEC-style, bnpl.md §3.4). "current" is not past due: not yet due, or within the grace of a due
# date that fell on a bank holiday (the consumer may pay on the next business day).
DPD_BUCKETS = (
    Bucket("current", 0, 0),
    Bucket("1-29", 1, 29),
    Bucket("30-59", 30, 59),
    Bucket("60-89", 60, 89),
    Bucket("90-119", 90, 119),
    Bucket("120+", 120, None),
)
# Days since the money's value date.
SUSPENSE_BUCKETS = (Bucket("0-6", 0, 6), Bucket("7-29", 7, 29), Bucket("30-89", 30, 89), Bucket("90+", 90, None))

# The outcome of a chain (collection-outcomes), in the order the report lists them. paid_after_rebill is one row
# per re-bill count.
STAGES = (
    "paid_by_due",
    "paid_after_notices",
    "paid_after_rebill",
    "paid_in_collection",
    "recovered",
    "open",
    "in_collection",
    "charged_off",
    "cancelled",
)
MAX_MONTHS = 120  # unpaid-rate: ten years of months in one answer at most


# --- results ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AgingBucket:
    bucket: Bucket
    count: int = 0
    amount: int = 0
    charged_off_count: int = 0  # of which charged off (written off in the books, still collectible)
    charged_off_amount: int = 0


@dataclass(frozen=True, slots=True)
class ArAging:
    as_of: dt.date
    buckets: list[AgingBucket]

    @property
    def total(self) -> AgingBucket:
        return _sum_aging(Bucket("total", 0, None), self.buckets)


@dataclass(frozen=True, slots=True)
class HeldAging:
    buckets: list[AgingBucket]

    @property
    def total(self) -> AgingBucket:
        return _sum_aging(Bucket("total", 0, None), self.buckets)


@dataclass(frozen=True, slots=True)
class SuspenseAging:
    as_of: dt.date
    suspense: HeldAging  # unmatched payments (仮受金) waiting for a manual match
    overpayments: HeldAging  # excess owed back to consumers


@dataclass(slots=True)
class StageTotal:
    stage: str
    rebill: int | None = None  # paid_after_rebill: the re-bill that was paid
    count: int = 0
    amount: int = 0  # billed: principal + consumer fee of the chain
    paid_amount: int = 0  # everything paid, re-bill fees and damages included
    balance: int = 0  # still owed
    charged_off_amount: int = 0
    recovered_amount: int = 0

    def add(self, other: StageTotal) -> None:
        self.count += other.count
        self.amount += other.amount
        self.paid_amount += other.paid_amount
        self.balance += other.balance
        self.charged_off_amount += other.charged_off_amount
        self.recovered_amount += other.recovered_amount


@dataclass(frozen=True, slots=True)
class Outcomes:
    date_from: dt.date
    date_to: dt.date
    stages: list[StageTotal]

    @property
    def total(self) -> StageTotal:
        out = StageTotal("total")
        for s in self.stages:
            out.add(s)
        return out


@dataclass(slots=True)
class MonthRate:
    month: str  # YYYY-MM
    issued_count: int = 0
    issued_amount: int = 0  # principal + consumer fee billed
    unpaid_count: int = 0
    unpaid_amount: int = 0  # of issued_amount, still unpaid
    unpaid_balance: int = 0  # everything still owed, re-bill fees and damages included

    @property
    def count_rate(self) -> Decimal | None:
        return percent(self.unpaid_count, self.issued_count)

    @property
    def amount_rate(self) -> Decimal | None:
        return percent(self.unpaid_amount, self.issued_amount)


@dataclass(frozen=True, slots=True)
class UnpaidRate:
    as_of: dt.date
    months: list[MonthRate] = field(default_factory=list)

    @property
    def total(self) -> MonthRate:
        out = MonthRate("total")
        for m in self.months:
            out.issued_count += m.issued_count
            out.issued_amount += m.issued_amount
            out.unpaid_count += m.unpaid_count
            out.unpaid_amount += m.unpaid_amount
            out.unpaid_balance += m.unpaid_balance
        return out


def percent(part: int, whole: int) -> Decimal | None:
    """``part`` of ``whole`` in percent, two decimals, half up (exact integer inputs; never a float)."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _sum_aging(bucket: Bucket, rows: Iterable[AgingBucket]) -> AgingBucket:
    out = AgingBucket(bucket)
    for r in rows:
        out.count += r.count
        out.amount += r.amount
        out.charged_off_count += r.charged_off_count
        out.charged_off_amount += r.charged_off_amount
    return out


def _bucket_of(buckets: Sequence[Bucket], days: int) -> int:
    return next(i for i, b in enumerate(buckets) if b.holds(days))


# --- SQL ----------------------------------------------------------------------------------------------------------

_balance = Invoice.principal + Invoice.fee + Invoice.late_fee + Invoice.damages - Invoice.paid_amount - Invoice.waived
_base_date = func.coalesce(Invoice.dunning_base_date, Invoice.due_date)
_live_order = and_(Order.tenant_id == Invoice.tenant_id, Order.id == Invoice.order_id, Order.test_mode == false())


def _terminal() -> ColumnElement[bool]:
    """The invoice is the last of its line: no invoice supersedes it."""
    successor = aliased(Invoice)
    return ~exists().where(successor.tenant_id == Invoice.tenant_id, successor.supersedes_id == Invoice.id)


class ReportsRepository(Repository):
    """The reports' SQL: grouped aggregates over the caller's tenant, sandbox orders excluded."""

    async def open_balances_by_base_date(self, principal: Principal) -> list[tuple[dt.date, bool, int, int]]:
        """(base due date, charged off?, count, balance) of open invoices with a balance."""
        charged_off = Invoice.status == "charged_off"
        stmt = (
            readable_statement(Invoice, principal)
            .with_only_columns(
                _base_date.label("base"), charged_off.label("charged_off"), func.count(), func.sum(_balance)
            )
            .join(Order, _live_order)
            .where(Invoice.status.in_(OPEN_STATUSES), _balance > 0)
            .group_by(_base_date, charged_off)
        )
        return [(base, bool(co), int(n), int(amount)) for base, co, n, amount in (await self.session.execute(stmt))]

    async def chain_outcomes(
        self, principal: Principal, date_from: dt.date, date_to: dt.date
    ) -> list[tuple[str, int, dt.date, dt.date | None, bool, int, int, int, int, int, int]]:
        """Terminal invoices of chains whose base due date is in [date_from, date_to], grouped by what decides
        their stage: (status, rebill_count, base date, paid-in-full date, handed to collection?, count, billed,
        paid, balance, charged off, recovered). The paid-in-full date (the latest value date of the payments
        applied) and the hand-off flag are only looked up for paid chains."""
        paid = Invoice.status == "paid"
        paid_on = (
            select(func.max(Payment.value_date))
            .where(
                Payment.tenant_id == Invoice.tenant_id,
                Payment.invoice_id == Invoice.id,
                Payment.kind == PAYMENT,
                Payment.status.in_(("applied", "overpaid")),
            )
            .scalar_subquery()
        )
        handed_off = exists().where(
            DunningAction.tenant_id == Invoice.tenant_id,
            DunningAction.chain_id == Invoice.chain_id,
            DunningAction.action == "collection",
        )
        per_chain = (
            readable_statement(Invoice, principal)
            .with_only_columns(
                Invoice.status.label("status"),
                Invoice.rebill_count.label("rebill_count"),
                _base_date.label("base"),
                type_coerce(case((and_(paid, Invoice.rebill_count == 0), paid_on), else_=None), Date).label("paid_on"),
                case((and_(paid, handed_off), 1), else_=0).label("handed_off"),
                (Invoice.principal + Invoice.fee).label("billed"),
                Invoice.paid_amount.label("paid"),
                case((Invoice.status.in_(OPEN_STATUSES), _balance), else_=0).label("balance"),
                Invoice.charged_off_amount.label("charged_off"),
                Invoice.recovered_amount.label("recovered"),
            )
            .join(Order, _live_order)
            .where(
                # the column itself (always set since the collections migration), so that ix_invoices_dunning serves
                Invoice.dunning_base_date >= date_from,
                Invoice.dunning_base_date <= date_to,
                Invoice.status != "rebilled",
                _terminal(),
            )
            .subquery()
        )
        c = per_chain.c
        keys = (c.status, c.rebill_count, c.base, c.paid_on, c.handed_off)
        stmt = select(
            *keys,
            func.count(),
            func.sum(c.billed),
            func.sum(c.paid),
            func.sum(c.balance),
            func.sum(c.charged_off),
            func.sum(c.recovered),
        ).group_by(*keys)
        return [
            (status, int(rebills), base, paid_on, bool(handed), int(n), int(b), int(p), int(bal), int(co), int(rec))
            for status, rebills, base, paid_on, handed, n, b, p, bal, co, rec in (await self.session.execute(stmt))
        ]

    async def held_payments_by_value_date(
        self, principal: Principal, as_of: dt.date
    ) -> list[tuple[str, dt.date, int, int]]:
        """(status, value date, count, open amount) of unmatched and overpaid payments with money held, received
        on or before ``as_of``; overpayments on sandbox orders' invoices are left out."""
        sandbox = (
            select(Invoice.id)
            .join(Order, and_(Order.tenant_id == Invoice.tenant_id, Order.id == Invoice.order_id))
            .where(Invoice.tenant_id == Payment.tenant_id, Invoice.id == Payment.invoice_id, Order.test_mode == true())
            .exists()
        )
        stmt = (
            readable_statement(Payment, principal)
            .with_only_columns(Payment.status, Payment.value_date, func.count(), func.sum(Payment.open_amount))
            .where(
                Payment.status.in_(("unmatched", "overpaid")),
                Payment.open_amount > 0,
                Payment.value_date <= as_of,
                ~sandbox,
            )
            .group_by(Payment.status, Payment.value_date)
        )
        return [(status, day, int(n), int(amount)) for status, day, n, amount in (await self.session.execute(stmt))]

    async def chains_by_issue_date(
        self, principal: Principal, first: dt.date, last: dt.date
    ) -> list[tuple[dt.date, int, int, int, int, int]]:
        """Per issue date of the chain's first invoice in [first, last]: (date, chains, billed, unpaid chains,
        unpaid billed amount, unpaid balance). Cancelled chains (ending voided) are not counted."""
        root = aliased(Invoice)
        is_open = Invoice.status.in_(OPEN_STATUSES)
        unpaid_billed = (Invoice.principal - Invoice.paid_principal) + (Invoice.fee - Invoice.paid_fee)
        # A waiver can leave less owed than the billed part unpaid: never count more than the balance.
        unpaid_amount = case((_balance < unpaid_billed, _balance), else_=unpaid_billed)
        stmt = (
            readable_statement(Invoice, principal)
            .with_only_columns(
                root.issue_date,
                func.count(),
                func.sum(Invoice.principal + Invoice.fee),
                func.sum(case((is_open, 1), else_=0)),
                func.sum(case((is_open, unpaid_amount), else_=0)),
                func.sum(case((is_open, _balance), else_=0)),
            )
            .join(
                root, and_(root.tenant_id == Invoice.tenant_id, root.id == func.coalesce(Invoice.chain_id, Invoice.id))
            )
            .join(Order, _live_order)
            .where(
                root.issue_date >= first,
                root.issue_date <= last,
                Invoice.status.not_in(("voided", "rebilled")),
                _terminal(),
            )
            .group_by(root.issue_date)
        )
        return [
            (day, int(n), int(billed), int(un), int(ua), int(ub))
            for day, n, billed, un, ua, ub in (await self.session.execute(stmt))
        ]


# --- reports ------------------------------------------------------------------------------------------------------


async def ar_aging(session: AsyncSession, principal: Principal, as_of: dt.date) -> ArAging:
    """Open invoices with a balance by days past their chain's base due date on ``as_of``.

    Days past due are calendar days after the base due date (``ladder.days_past_due``): 0 ("current") until the
    invoice is overdue, i.e. up to the due date, or up to the next bank business day when the due date is a bank
    holiday. Balances are today's: ``as_of`` moves the aging clock, it does not rebuild past balances.
    """
    rows = await ReportsRepository.from_session(session).open_balances_by_base_date(principal)
    buckets = [AgingBucket(b) for b in DPD_BUCKETS]
    for base, charged_off, count, amount in rows:
        target = buckets[_bucket_of(DPD_BUCKETS, days_past_due(base, as_of))]
        target.count += count
        target.amount += amount
        if charged_off:
            target.charged_off_count += count
            target.charged_off_amount += amount
    return ArAging(as_of=as_of, buckets=buckets)


async def collection_outcomes(
    session: AsyncSession, principal: Principal, date_from: dt.date, date_to: dt.date
) -> Outcomes:
    """What became of the chains whose base due date is in [date_from, date_to], by stage (``STAGES``).

    A paid chain is paid by due when its last payment's value date is on or before the last payment day (the due
    date, or the next bank business day), after notices when later but before any re-bill, after re-bill n when
    its last invoice is re-bill n, and in collection when it was handed off (a ``collection`` dunning action).
    A chain closed without a recorded payment counts as paid after notices.
    """
    _check_range("to", date_from, date_to)
    rows = await ReportsRepository.from_session(session).chain_outcomes(principal, date_from, date_to)
    fixed = {s: StageTotal(s) for s in STAGES if s != "paid_after_rebill"}
    rebills: dict[int, StageTotal] = {}
    for status, rebill_count, base, paid_on, handed_off, count, billed, paid, balance, charged_off, recovered in rows:
        row = StageTotal("", None, count, billed, paid, balance, charged_off, recovered)
        if status == "paid" and handed_off:
            fixed["paid_in_collection"].add(row)
        elif status == "paid" and rebill_count > 0:
            rebills.setdefault(rebill_count, StageTotal("paid_after_rebill", rebill_count)).add(row)
        elif status == "paid":
            on_time = paid_on is not None and paid_on <= last_payment_day(base)
            fixed["paid_by_due" if on_time else "paid_after_notices"].add(row)
        elif status in ("recovered", "in_collection", "charged_off"):
            fixed[status].add(row)
        elif status == "voided":
            fixed["cancelled"].add(row)
        else:  # issued, payment_pending, partially_paid, overdue
            fixed["open"].add(row)
    # Re-bills 1-3 (the default ladder) are always listed, more when a chain went further.
    for n in range(1, max([3, *rebills]) + 1):
        rebills.setdefault(n, StageTotal("paid_after_rebill", n))
    stages = [fixed["paid_by_due"], fixed["paid_after_notices"], *(rebills[n] for n in sorted(rebills))]
    stages += [fixed[s] for s in STAGES[3:]]
    return Outcomes(date_from=date_from, date_to=date_to, stages=stages)


async def suspense_aging(session: AsyncSession, principal: Principal, as_of: dt.date) -> SuspenseAging:
    """Money held on ``as_of`` by days since its value date: unmatched payments in suspense, and overpayments owed
    back. Amounts are what is still held (``open_amount``), as of now."""
    rows = await ReportsRepository.from_session(session).held_payments_by_value_date(principal, as_of)
    held = {
        "unmatched": [AgingBucket(b) for b in SUSPENSE_BUCKETS],
        "overpaid": [AgingBucket(b) for b in SUSPENSE_BUCKETS],
    }
    for status, value_date, count, amount in rows:
        target = held[status][_bucket_of(SUSPENSE_BUCKETS, (as_of - value_date).days)]
        target.count += count
        target.amount += amount
    return SuspenseAging(as_of=as_of, suspense=HeldAging(held["unmatched"]), overpayments=HeldAging(held["overpaid"]))


async def unpaid_rate(
    session: AsyncSession, principal: Principal, first_month: dt.date, last_month: dt.date, today: dt.date
) -> UnpaidRate:
    """不払い率 per month of issue (JST) from ``first_month`` to ``last_month`` (first days of months): chains
    issued, and of them still unpaid today, by count and amount. A chain counts once, in the month its first
    invoice was issued; the amount is what it billed (principal + consumer fee); cancelled chains are left out."""
    _check_range("to_month", first_month, last_month)
    months = (last_month.year - first_month.year) * 12 + last_month.month - first_month.month + 1
    if months > MAX_MONTHS:
        raise InvalidInput(
            f"At most {MAX_MONTHS} months per report.",
            code="validation_error",
            issues=[FieldIssue("query:to_month", f"at most {MAX_MONTHS} months after from_month", "too_long")],
        )
    keys = [_add_months(first_month, i) for i in range(months)]
    by_month = {k: MonthRate(k.strftime("%Y-%m")) for k in keys}
    end = _add_months(last_month, 1) - dt.timedelta(days=1)
    rows = await ReportsRepository.from_session(session).chains_by_issue_date(principal, first_month, end)
    for day, count, billed, unpaid, unpaid_amount, unpaid_balance in rows:
        m = by_month[day.replace(day=1)]
        m.issued_count += count
        m.issued_amount += billed
        m.unpaid_count += unpaid
        m.unpaid_amount += unpaid_amount
        m.unpaid_balance += unpaid_balance
    return UnpaidRate(as_of=today, months=[by_month[k] for k in keys])


def _add_months(first: dt.date, n: int) -> dt.date:
    months = first.year * 12 + first.month - 1 + n
    return dt.date(months // 12, months % 12 + 1, 1)


def _check_range(end_name: str, start: dt.date, end: dt.date) -> None:
    if end < start:
        raise InvalidInput(
            "The range ends before it starts.",
            code="validation_error",
            issues=[FieldIssue(f"query:{end_name}", "must not be before the start of the range", "range")],
        )
