"""Settlement runs, maker-checker approval, payout files and the bank's answer (docs/settlement.md).

A run (``run_settlement``, the scheduler every morning or ``bnpl jobs run settlement --as-of``) makes, for each
merchant with a contract, one statement per cut-off passed since its last one. A statement's lines are written by
``INSERT … SELECT … ON CONFLICT DO NOTHING`` from the business records, each source at most once:

* ``sale``: a capture advanced this cycle: with ``advance_on = arrival`` (the default) once arrival is confirmed
  (the order is guaranteed), with ``shipment`` once shipped (unless it fell out of the guarantee);
* ``refund``: a refund of an order whose sale was advanced (in this statement or before), negative;
* ``clawback``: an order that fell out of the guarantee after its sale was advanced, negative, for what was
  advanced on it net of its refunds;
* ``unguaranteed_paid``: what consumers paid on orders out of the guarantee (the payment allocations), positive;
* ``carry_in``: the previous statement's carry-over, or a payout the bank returned;
* ``monthly_fee``: the contract's monthly fee, once per calendar month of cut-off.

Fees (rate on the sales, per invoice, monthly, the transfer fee) are computed once per statement, their tax once
per statement per rate (the rate fee is taxable only under the payment-agency model). A net below the minimum
payout, or negative, is carried to the next statement.

Ledger (the sales, refunds and claw-backs were booked by checkout, the consumers' payments by collections):

* calculated: Dr merchant_payable / Cr merchant_fee_revenue + output_consumption_tax (the fees); a negative net
  moves to merchant_receivable (Dr merchant_receivable / Cr merchant_payable), taken back when carried in;
* payout file generated: Dr merchant_payable / Cr payouts_in_transit (pending);
* the bank confirms: Dr payouts_in_transit / Cr bank; a returned transfer: Dr payouts_in_transit / Cr
  merchant_payable (the payable reopens and the payout is carried into the next statement).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.checkout.models import Capture, Order, Refund
from domain.checkout.policy import CreditPolicy
from domain.checkout.service import active_policy
from domain.collections.models import PaymentAllocation
from domain.invoicing.models import Invoice
from domain.kit import audit, clock, counters
from domain.kit.calendar import is_bank_business_day
from domain.kit.dialect import advisory_xact_lock, for_update, insert_ignore_into
from domain.kit.errors import FieldIssue, InvalidInput, NotFound, PermissionDenied, StateConflict
from domain.kit.ids import new_id
from domain.kit.money import Money
from domain.kit.pagination import Page, PageRequest, paginate
from domain.kit.tenancy import Principal, readable_statement
from domain.ledger import credit, debit, post_entry
from domain.settlement import cycles
from domain.settlement.bank import bank_branch
from domain.settlement.models import MerchantContract, PayoutFile, Settlement, SettlementLine
from domain.settlement.zengin_transfer import Transfer, TransferHeader, build_transfer_file
from domain.tenancy.models import Merchant

STATEMENT_COUNTER = "settlement"
# Merchants whose lines one INSERT … SELECT writes: at about a thousand orders a week each, some 100,000 rows a
# statement, a few seconds, far inside the connection's statement timeout (15 s by default).
LINES_PER_STATEMENT_GROUP = 100
SYSTEM = "system"


class SettlementNotFound(NotFound):
    code = "settlement_not_found"


class ApprovalRefused(StateConflict):
    code = "approval_refused"


# -- runs -------------------------------------------------------------------------------------------------------


async def run_settlement(
    session: AsyncSession, tenant_id: str, as_of: dt.date, actor: str = SYSTEM
) -> list[Settlement]:
    """Make every statement due by ``as_of`` (cut-offs before it) for the tenant's merchants with a contract;
    the statements made. Running it again makes none (one statement per merchant and cut-off).

    Set-based: the statements due are grouped by (cut-off, advance condition) — a daily run has one group per cycle
    — and each group's lines are written for all its merchants at once, one ``INSERT … SELECT`` per kind; a
    merchant with several cut-offs due (a run missed) has them made in order, one group after another."""
    if as_of > clock.jst_today() + dt.timedelta(days=1):
        raise InvalidInput(
            f"as_of {as_of} is in the future: a period is settled after it closed",
            code="as_of_in_future",
            issues=[FieldIssue("#/as_of", "at most tomorrow (JST)", "in_future")],
        )
    await advisory_xact_lock(session, "settlement_run", tenant_id)  # two runs of one tenant wait for each other
    policy = await active_policy(session, tenant_id)
    contracts = [
        contract
        for contract, test_mode in (
            await session.execute(
                select(MerchantContract, Merchant.test_mode)
                .join(
                    Merchant,
                    and_(Merchant.tenant_id == MerchantContract.tenant_id, Merchant.id == MerchantContract.merchant_id),
                )
                .where(MerchantContract.tenant_id == tenant_id)
                .order_by(MerchantContract.merchant_id)
            )
        ).all()
        if not test_mode  # a sandbox merchant's orders are not real: nothing to pay
    ]
    last_ends = dict(
        (
            await session.execute(
                select(Settlement.merchant_id, func.max(Settlement.period_end))
                .where(Settlement.tenant_id == tenant_id)
                .group_by(Settlement.merchant_id)
            )
        ).all()
    )
    due: list[list[tuple[MerchantContract, dt.date]]] = []  # due[k]: each merchant's k-th cut-off due
    for contract in contracts:
        # The first statement closes at the first cut-off on or after the contract's day (everything advanced
        # before it included).
        start_after = last_ends.get(contract.merchant_id) or (
            contract.created_at.astimezone(clock.JST).date() - dt.timedelta(days=1)
        )
        for k, cutoff in enumerate(cycles.cutoffs(contract.cycle, start_after, as_of - dt.timedelta(days=1))):
            if len(due) <= k:
                due.append([])
            due[k].append((contract, cutoff))
    made: list[Settlement] = []
    for wave in due:
        groups: dict[tuple[dt.date, str], list[MerchantContract]] = {}
        for contract, cutoff in wave:
            groups.setdefault((cutoff, contract.advance_on), []).append(contract)
        for (cutoff, advance_on), members in sorted(groups.items()):
            made += await _group(session, tenant_id, members, cutoff, advance_on, policy, actor)
    return made


async def _group(
    session: AsyncSession,
    tenant_id: str,
    contracts: list[MerchantContract],
    cutoff: dt.date,
    advance_on: str,
    policy: CreditPolicy,
    actor: str,
) -> list[Settlement]:
    """The statements of one cut-off for merchants sharing the advance condition, written set-based."""
    end = clock.jst_midnight_utc(cutoff + dt.timedelta(days=1))  # everything before the end of the cut-off day
    numbers = await counters.next_values(session, tenant_id, STATEMENT_COUNTER, len(contracts))
    now = clock.utc_now()
    statements = [
        Settlement(
            tenant_id=tenant_id,
            id=new_id("stl"),
            number=number,
            merchant_id=contract.merchant_id,
            cycle=contract.cycle,
            period_start=cycles.previous_cutoff(contract.cycle, cutoff) + dt.timedelta(days=1),
            period_end=cutoff,
            pay_date=cycles.pay_date(contract.cycle, cutoff),
            status="calculated",
            **dict.fromkeys(_AMOUNT_FIELDS, 0),
            terms={},
            calculated_by=actor,
            created_at=now,
        )
        for contract, number in zip(contracts, numbers, strict=True)
    ]
    session.add_all(statements)
    await session.flush()
    ids = [s.id for s in statements]
    for start in range(0, len(ids), LINES_PER_STATEMENT_GROUP):  # each INSERT stays well inside a statement timeout
        await _lines(session, tenant_id, ids[start : start + LINES_PER_STATEMENT_GROUP], advance_on, end)
    by_merchant = {c.merchant_id: c for c in contracts}
    await _carried(session, tenant_id, statements, by_merchant)
    totals = await _totals(session, tenant_id, ids)
    move = 0
    for statement in statements:
        move += _compute(
            statement, by_merchant[statement.merchant_id], policy, totals.get(statement.id, _empty_totals())
        )
        audit.record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="settlement.calculated",
            resource_type="settlement",
            resource_id=statement.id,
            data={"merchant_id": statement.merchant_id, "period_end": cutoff.isoformat(), "payout": statement.payout},
        )
    await _book_group(session, tenant_id, statements, cutoff, move)
    await session.flush()
    return statements


_AMOUNT_FIELDS = (
    "sales",
    "refunds",
    "clawbacks",
    "unguaranteed_paid",
    "rate_fee",
    "invoice_fees",
    "invoice_count",
    "monthly_fee",
    "transfer_fee",
    "fee_tax",
    "carry_in",
    "net",
    "payout",
    "carry_out",
)

_LINE_FIELDS = [
    "tenant_id",
    "id",
    "settlement_id",
    "merchant_id",
    "kind",
    "source_id",
    "order_id",
    "merchant_order_id",
    "delivery",
    "amount",
    "occurred_at",
    "created_at",
]


async def _insert_lines(session: AsyncSession, tenant_id: str, kind: str, query: Any) -> None:
    """``query`` selects (settlement_id, merchant_id, source_id, order_id, merchant_order_id, delivery, amount,
    occurred_at) of new lines; a source already settled is skipped (unique per kind)."""
    sub = query.subquery()
    now = clock.utc_now()
    # A source is settled once per kind, so the kind's letter and the source id make the line's id.
    stmt = insert_ignore_into(session, SettlementLine.__table__).from_select(
        _LINE_FIELDS,
        select(
            literal(tenant_id),
            literal(f"{kind[0]}_") + sub.c.source_id,
            sub.c.settlement_id,
            sub.c.merchant_id,
            literal(kind),
            sub.c.source_id,
            sub.c.order_id,
            sub.c.merchant_order_id,
            sub.c.delivery,
            sub.c.amount,
            sub.c.occurred_at,
            literal(now, SettlementLine.__table__.c.created_at.type),
        ).where(sub.c.amount.is_not(None)),  # (SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT)
    )
    await session.execute(stmt)


def _sold(order_id: Any) -> Any:
    """The order's sale was advanced (in this run or before)."""
    return exists().where(
        SettlementLine.tenant_id == Order.tenant_id, SettlementLine.order_id == order_id, SettlementLine.kind == "sale"
    )


async def _lines(session: AsyncSession, tenant_id: str, ids: list[str], advance_on: str, end: dt.datetime) -> None:
    stl = Settlement.__table__
    of_group = and_(
        Order.tenant_id == tenant_id,
        Order.test_mode.is_(False),
        stl.c.tenant_id == Order.tenant_id,
        stl.c.merchant_id == Order.merchant_id,
        stl.c.id.in_(ids),
    )
    # Sales: captures advanced by the end of the cut-off day. (A capture reported after it waits for the next
    # statement, whatever date it says it shipped.)
    if advance_on == "arrival":
        advanced = and_(Capture.created_at < end, Order.guarantee == "guaranteed", Order.arrival_confirmed_at < end)
    else:
        advanced = and_(Capture.created_at < end, Order.guarantee != "unguaranteed")
    head = (stl.c.id.label("settlement_id"), Order.merchant_id.label("merchant_id"))
    await _insert_lines(
        session,
        tenant_id,
        "sale",
        select(
            *head,
            Capture.id.label("source_id"),
            Order.id.label("order_id"),
            Order.merchant_order_id.label("merchant_order_id"),
            Order.invoice_delivery.label("delivery"),
            Capture.amount.label("amount"),
            Capture.shipped_at.label("occurred_at"),
        )
        .select_from(Capture)
        .join(Order, and_(Order.tenant_id == Capture.tenant_id, Order.id == Capture.order_id))
        .join(stl, of_group)
        .where(advanced),
    )
    merchants = select(stl.c.merchant_id).where(stl.c.tenant_id == tenant_id, stl.c.id.in_(ids))
    # The rare kinds first ask whether there is anything at all (a cheap indexed probe): most weeks have no
    # refunds and no orders out of the guarantee, and the full statements would read every order of the group.
    has_refunds = await _any(
        session,
        select(Refund.id)
        .join(Order, and_(Order.tenant_id == Refund.tenant_id, Order.id == Refund.order_id))
        .where(Order.tenant_id == tenant_id, Order.merchant_id.in_(merchants), Refund.created_at < end),
    )
    has_unguaranteed = await _any(
        session,
        select(Order.id).where(
            Order.tenant_id == tenant_id, Order.merchant_id.in_(merchants), Order.guarantee == "unguaranteed"
        ),
    )
    if has_refunds:
        await _refund_lines(session, tenant_id, stl, of_group, head, end)
    if has_unguaranteed:
        await _unguaranteed_lines(session, tenant_id, stl, of_group, head, end)


async def _any(session: AsyncSession, stmt: Any) -> bool:
    return (await session.execute(stmt.limit(1))).first() is not None


async def _refund_lines(
    session: AsyncSession, tenant_id: str, stl: Any, of_group: Any, head: tuple[Any, ...], end: dt.datetime
) -> None:
    # Refunds: of orders whose sale was advanced, all of it; of orders out of the guarantee, the part the consumer
    # had paid (and the merchant was paid through an unguaranteed_paid line): the rest came off the unguaranteed
    # payable, never the merchant's.
    await _insert_lines(
        session,
        tenant_id,
        "refund",
        select(
            *head,
            Refund.id.label("source_id"),
            Order.id.label("order_id"),
            Order.merchant_order_id.label("merchant_order_id"),
            literal(None).label("delivery"),
            case((Refund.unguaranteed, -Refund.consumer_refund_due), else_=-Refund.amount).label("amount"),
            Refund.created_at.label("occurred_at"),
        )
        .select_from(Refund)
        .join(Order, and_(Order.tenant_id == Refund.tenant_id, Order.id == Refund.order_id))
        .join(stl, of_group)
        .where(
            Refund.created_at < end,
            or_(
                and_(Refund.unguaranteed.is_(False), _sold(Order.id)),
                and_(Refund.unguaranteed.is_(True), Refund.consumer_refund_due > 0),
            ),
        ),
    )


async def _unguaranteed_lines(
    session: AsyncSession, tenant_id: str, stl: Any, of_group: Any, head: tuple[Any, ...], end: dt.datetime
) -> None:
    # Claw-backs: orders out of the guarantee whose sale was advanced, for what was advanced net of refunds.
    line = SettlementLine.__table__.alias("advanced")
    advanced_net = (
        select(func.coalesce(func.sum(line.c.amount), 0))
        .where(line.c.tenant_id == Order.tenant_id, line.c.order_id == Order.id, line.c.kind.in_(("sale", "refund")))
        .scalar_subquery()
    )
    await _insert_lines(
        session,
        tenant_id,
        "clawback",
        select(
            *head,
            Order.id.label("source_id"),
            Order.id.label("order_id"),
            Order.merchant_order_id.label("merchant_order_id"),
            literal(None).label("delivery"),
            (-advanced_net).label("amount"),
            Order.guarantee_deadline.label("occurred_at"),
        )
        .select_from(Order)
        .join(stl, of_group)
        .where(Order.guarantee == "unguaranteed", Order.guarantee_deadline < end, _sold(Order.id)),
    )
    # What consumers paid on orders out of the guarantee (the merchant is owed it again).
    await _insert_lines(
        session,
        tenant_id,
        "unguaranteed_paid",
        select(
            *head,
            PaymentAllocation.id.label("source_id"),
            Order.id.label("order_id"),
            Order.merchant_order_id.label("merchant_order_id"),
            literal(None).label("delivery"),
            PaymentAllocation.amount.label("amount"),
            PaymentAllocation.created_at.label("occurred_at"),
        )
        .select_from(PaymentAllocation)
        .join(
            Invoice,
            and_(Invoice.tenant_id == PaymentAllocation.tenant_id, Invoice.id == PaymentAllocation.invoice_id),
        )
        .join(Order, and_(Order.tenant_id == Invoice.tenant_id, Order.id == Invoice.order_id))
        .join(stl, of_group)
        .where(PaymentAllocation.component == "unguaranteed", PaymentAllocation.created_at < end),
    )


async def _carried(
    session: AsyncSession,
    tenant_id: str,
    statements: list[Settlement],
    contracts: dict[str, MerchantContract],
) -> None:
    """Carried in: the previous statements' carry-over and returned payouts; and the monthly fee, once a month."""
    merchants = [s.merchant_id for s in statements]
    ids = [s.id for s in statements]
    previous = (
        await session.scalars(
            select(Settlement).where(
                Settlement.tenant_id == tenant_id,
                Settlement.merchant_id.in_(merchants),
                Settlement.id.not_in(ids),
                or_(Settlement.carry_out != 0, Settlement.status == "returned"),
            )
        )
    ).all()
    by_merchant = {s.merchant_id: s for s in statements}
    now = clock.utc_now()
    rows: list[dict[str, Any]] = []
    for prev in previous:
        statement = by_merchant[prev.merchant_id]
        if prev.period_end >= statement.period_end:
            continue
        if prev.carry_out:
            rows.append(_carry(statement, f"carry:{prev.id}", prev.carry_out, now))
        if prev.status == "returned" and prev.payout:
            rows.append(_carry(statement, f"return:{prev.id}", prev.payout, now))
    for statement in statements:
        fee = contracts[statement.merchant_id].monthly_fee
        if fee:
            month = statement.period_end.strftime("%Y-%m")
            rows.append({**_carry(statement, f"{statement.merchant_id}:{month}", -fee, now), "kind": "monthly_fee"})
    for start in range(0, len(rows), 1_000):
        await session.execute(insert_ignore_into(session, SettlementLine.__table__).values(rows[start : start + 1_000]))


def _carry(statement: Settlement, source_id: str, amount: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "tenant_id": statement.tenant_id,
        "id": new_id("sli"),
        "settlement_id": statement.id,
        "merchant_id": statement.merchant_id,
        "kind": "carry_in",
        "source_id": source_id,
        "order_id": None,
        "merchant_order_id": None,
        "delivery": None,
        "amount": amount,
        "occurred_at": now,
        "created_at": now,
    }


def _empty_totals() -> dict[str, Any]:
    return {
        "sale": 0,
        "refund": 0,
        "clawback": 0,
        "unguaranteed_paid": 0,
        "carry_in": 0,
        "monthly_fee": 0,
        "owed_before": 0,
        "invoices": {"separate": 0, "enclosed": 0},
    }


async def _totals(session: AsyncSession, tenant_id: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per statement: the sums of its lines by kind, its invoices (別送: one per sale line; 同梱: one per order),
    and the negative carry-over it takes back (``owed_before``)."""
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 1_000):
        part = ids[start : start + 1_000]
        rows = (
            await session.execute(
                select(
                    SettlementLine.settlement_id,
                    SettlementLine.kind,
                    SettlementLine.delivery,
                    func.count(),
                    func.sum(SettlementLine.amount),
                    func.count(func.distinct(SettlementLine.order_id)),
                    func.sum(
                        case(
                            (
                                and_(SettlementLine.amount < 0, SettlementLine.source_id.like("carry:%")),
                                SettlementLine.amount,
                            ),
                            else_=0,
                        )
                    ),
                )
                .where(SettlementLine.tenant_id == tenant_id, SettlementLine.settlement_id.in_(part))
                .group_by(SettlementLine.settlement_id, SettlementLine.kind, SettlementLine.delivery)
            )
        ).all()
        for settlement_id, kind, delivery, count, amount, orders, negative_carry in rows:
            totals = out.setdefault(settlement_id, _empty_totals())
            totals[kind] = totals.get(kind, 0) + int(amount or 0)
            totals["owed_before"] -= int(negative_carry or 0)
            if kind == "sale" and delivery == "separate":
                totals["invoices"]["separate"] += count  # 別送: one invoice per shipment
            elif kind == "sale" and delivery == "enclosed":
                totals["invoices"]["enclosed"] += orders  # 同梱: one invoice per order
    return out


def _compute(statement: Settlement, contract: MerchantContract, policy: CreditPolicy, totals: dict[str, Any]) -> int:
    """The statement's figures from its line totals and the contract (all yen, fees tax-exclusive); answers how
    much of what merchants owe us moves to merchant_receivable (negative: back from it)."""
    sp = policy.settlement
    statement.sales = totals["sale"]
    statement.refunds = -totals["refund"]
    statement.clawbacks = -totals["clawback"]
    statement.unguaranteed_paid = totals["unguaranteed_paid"]
    statement.carry_in = totals["carry_in"]
    statement.monthly_fee = -totals["monthly_fee"]
    statement.rate_fee = statement.sales * contract.fee_rate_bp // 10_000  # 1 円未満切捨て, once per statement
    separate, enclosed = totals["invoices"]["separate"], totals["invoices"]["enclosed"]
    statement.invoice_count = separate + enclosed
    statement.invoice_fees = separate * contract.invoice_fee_separate + enclosed * contract.invoice_fee_enclosed
    taxable = statement.invoice_fees + statement.monthly_fee
    if sp.fee_tax_model == "payment_agency":
        taxable += statement.rate_fee
    statement.fee_tax = taxable * sp.tax_rate_percent // 100  # once per statement per rate, rounded down
    statement.net = (
        statement.sales
        - statement.refunds
        - statement.clawbacks
        + statement.unguaranteed_paid
        + statement.carry_in
        - statement.rate_fee
        - statement.invoice_fees
        - statement.monthly_fee
        - statement.fee_tax
    )
    after_transfer = statement.net - contract.transfer_fee
    if after_transfer >= max(1, contract.minimum_payout):
        statement.transfer_fee = contract.transfer_fee
        statement.payout, statement.carry_out, statement.status = after_transfer, 0, "calculated"
    else:
        statement.transfer_fee = 0
        statement.payout, statement.carry_out, statement.status = 0, statement.net, "carried_over"
    statement.terms = {
        "fee_rate_bp": contract.fee_rate_bp,
        "invoice_fee_separate": contract.invoice_fee_separate,
        "invoice_fee_enclosed": contract.invoice_fee_enclosed,
        "monthly_fee": contract.monthly_fee,
        "transfer_fee": contract.transfer_fee,
        "minimum_payout": contract.minimum_payout,
        "advance_on": contract.advance_on,
        "fee_tax_model": sp.fee_tax_model,
        "tax_rate_percent": sp.tax_rate_percent,
        "bank_code": contract.bank_code,
        "branch_code": contract.branch_code,
        "account_type": contract.account_type,
        "account_number": contract.account_number,
        "holder_kana": contract.holder_kana,
    }
    # What the merchant owes us now, less what it owed before and this statement took back: to merchant_receivable.
    owed_now = -statement.carry_out if statement.carry_out < 0 else 0
    return owed_now - totals.get("owed_before", 0)


async def _book_group(
    session: AsyncSession, tenant_id: str, statements: list[Settlement], cutoff: dt.date, move: int
) -> None:
    """One entry for a group's statements: their fees and tax (Dr merchant_payable), the transfer fees charged on
    (4130, reference T5), and what merchants owe us moving to merchant_receivable (or back, once carried in). The
    statements and their lines say which merchant each amount is."""
    fees = sum(s.rate_fee + s.invoice_fees + s.monthly_fee for s in statements)
    tax = sum(s.fee_tax for s in statements)
    transfer = sum(s.transfer_fee for s in statements)
    currency = "JPY"
    lines = []
    if fees + tax + transfer:
        lines.append(debit("merchant_payable", Money(fees + tax + transfer, currency)))
        if fees:
            lines.append(credit("merchant_fee_revenue", Money(fees, currency)))
        if tax:
            lines.append(credit("output_consumption_tax", Money(tax, currency)))
        if transfer:
            lines.append(credit("reissue_fee_income", Money(transfer, currency)))
    if move > 0:
        lines += [
            debit("merchant_receivable", Money(move, currency)),
            credit("merchant_payable", Money(move, currency)),
        ]
    elif move < 0:
        lines += [
            debit("merchant_payable", Money(-move, currency)),
            credit("merchant_receivable", Money(-move, currency)),
        ]
    if lines:
        first = min(s.number for s in statements)
        last = max(s.number for s in statements)
        await post_entry(
            session,
            tenant_id,
            kind="settlement.calculated",
            lines=lines,
            effective_date=cutoff,
            source_ref=f"settlements:{first}-{last}",
            memo=f"statements {first}–{last} ({len(statements)}) of {cutoff}",
        )


# -- approval, payout files, the bank's answer ------------------------------------------------------------------


async def get_settlement(
    session: AsyncSession, principal: Principal, settlement_id: str, *, lock: bool = False
) -> Settlement:
    stmt = readable_statement(Settlement, principal).where(Settlement.id == settlement_id)
    if principal.merchant_id is not None:
        stmt = stmt.where(Settlement.merchant_id == principal.merchant_id)
    if lock:
        stmt = for_update(session, stmt)
    found = (await session.scalars(stmt)).one_or_none()
    if found is None:
        raise SettlementNotFound(f"no settlement {settlement_id}")
    return found


async def approve(session: AsyncSession, principal: Principal, settlement_id: str) -> Settlement:
    """The second person's approval (maker-checker): not the one who calculated it, and only once."""
    statement = await get_settlement(session, principal, settlement_id, lock=True)
    if statement.status != "calculated":
        raise ApprovalRefused(
            f"settlement {settlement_id} is {statement.status}: only a calculated statement is approved",
            code="settlement_not_calculated",
        )
    if statement.calculated_by == principal.api_key_id:
        raise PermissionDenied(
            "the statement was calculated with this key: a second person approves it", code="own_statement"
        )
    statement.status, statement.approved_by, statement.approved_at = "approved", principal.api_key_id, clock.utc_now()
    audit.record(
        session,
        tenant_id=statement.tenant_id,
        actor=principal,
        action="settlement.approved",
        resource_type="settlement",
        resource_id=statement.id,
        data={"payout": statement.payout},
    )
    await session.flush()
    return statement


async def generate_payout_file(session: AsyncSession, principal: Principal, pay_date: dt.date) -> PayoutFile:
    """A Zengin 総合振込 file for every approved statement paying on ``pay_date``; each becomes
    ``file_generated`` and its payout leaves the payable for payouts in transit."""
    tenant_id = principal.require_tenant()
    if pay_date < clock.jst_today():
        raise InvalidInput(
            f"{pay_date} has passed: the bank executes files for today or later",
            code="pay_date_passed",
            issues=[FieldIssue("#/pay_date", "in the past (JST)", "in_past")],
        )
    if not is_bank_business_day(pay_date):
        raise InvalidInput(
            f"{pay_date} is not a bank business day (weekends, national holidays and 12/31–1/3 are not)",
            code="pay_date_not_business_day",
            issues=[FieldIssue("#/pay_date", "not a bank business day", "bank_holiday")],
        )
    statements = list(
        (
            await session.scalars(
                for_update(
                    session,
                    select(Settlement)
                    .where(
                        Settlement.tenant_id == tenant_id,
                        Settlement.pay_date == pay_date,
                        Settlement.status == "approved",
                    )
                    .order_by(Settlement.number),
                )
            )
        ).all()
    )
    if not statements:
        raise InvalidInput(
            f"no approved statement pays on {pay_date}",
            code="nothing_to_pay",
            issues=[FieldIssue("#/pay_date", "no approved statement pays on this date", "nothing_to_pay")],
        )
    own = [s.id for s in statements if s.approved_by == principal.api_key_id]
    if own:
        raise PermissionDenied(
            f"this key approved {', '.join(own)}: a second person sends the payout file (maker-checker)",
            code="own_approval",
        )
    sp = (await active_policy(session, tenant_id)).settlement
    try:
        ours = bank_branch(sp.bank_code, sp.branch_code)
    except LookupError as exc:
        raise InvalidInput(
            f"the paying account in the settlement policy: {exc}", code="unknown_bank", issues=[]
        ) from None
    header = TransferHeader(
        requester_code=sp.requester_code,
        requester_name=sp.requester_name,
        pay_date=pay_date,
        bank_code=sp.bank_code,
        bank_name=ours.bank_kana,
        branch_code=sp.branch_code,
        branch_name=ours.branch_kana,
        account_type=sp.account_type,
        account_number=sp.account_number,
    )
    transfers = []
    for statement in statements:
        terms = statement.terms
        try:
            theirs = bank_branch(terms["bank_code"], terms["branch_code"])
        except LookupError as exc:  # the bank merged or closed the branch since the contract was written
            raise InvalidInput(
                f"statement {statement.id} (merchant {statement.merchant_id}): {exc}; update the contract",
                code="unknown_bank",
                issues=[FieldIssue("#/pay_date", f"statement {statement.id}: {exc}", "unknown_bank")],
            ) from None
        transfers.append(
            Transfer(
                bank_code=terms["bank_code"],
                bank_name=theirs.bank_kana,
                branch_code=terms["branch_code"],
                branch_name=theirs.branch_kana,
                account_type=terms["account_type"],
                account_number=terms["account_number"],
                holder_name=terms["holder_kana"],
                amount=statement.payout,
                edi=f"STL{statement.number:010d}",  # the statement number, on the merchant's bank statement
            )
        )
    content = build_transfer_file(header, transfers)
    record = PayoutFile(
        tenant_id=tenant_id,
        id=new_id("pof"),
        pay_date=pay_date,
        status="generated",
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        record_count=len(transfers),
        total_amount=sum(t.amount for t in transfers),
        created_by=principal.api_key_id,
        created_at=clock.utc_now(),
    )
    session.add(record)
    for statement in statements:
        statement.status, statement.payout_file_id = "file_generated", record.id
        money = Money(statement.payout, "JPY")
        await post_entry(
            session,
            tenant_id,
            kind="settlement.payout_pending",
            lines=[debit("merchant_payable", money), credit("payouts_in_transit", money)],
            source_ref=f"payout:{statement.id}",
            memo=f"statement {statement.number}",
        )
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="payout_file.generated",
        resource_type="payout_file",
        resource_id=record.id,
        data={"pay_date": pay_date.isoformat(), "transfers": len(transfers), "total": record.total_amount},
    )
    await session.flush()
    return record


async def get_payout_file(session: AsyncSession, principal: Principal, file_id: str) -> PayoutFile:
    found = (
        await session.scalars(readable_statement(PayoutFile, principal).where(PayoutFile.id == file_id))
    ).one_or_none()
    if found is None:
        raise NotFound(f"no payout file {file_id}", code="payout_file_not_found")
    return found


async def confirm_payout_file(session: AsyncSession, principal: Principal, file_id: str) -> PayoutFile:
    """The bank executed the file: every statement in it not returned is paid (Dr payouts in transit / Cr bank)."""
    record = await get_payout_file(session, principal, file_id)
    if record.status == "confirmed":
        return record
    statements = (
        await session.scalars(
            for_update(
                session,
                select(Settlement)
                .where(Settlement.tenant_id == record.tenant_id, Settlement.payout_file_id == record.id)
                .order_by(Settlement.id),
            )
        )
    ).all()
    now = clock.utc_now()
    for statement in statements:
        if statement.status != "file_generated":
            continue
        money = Money(statement.payout, "JPY")
        await post_entry(
            session,
            record.tenant_id,
            kind="settlement.paid",
            lines=[debit("payouts_in_transit", money), credit("bank", money)],
            source_ref=f"paid:{statement.id}",
            memo=f"statement {statement.number}",
        )
        statement.status, statement.paid_at = "paid", now
    record.status, record.confirmed_at = "confirmed", now
    audit.record(
        session,
        tenant_id=record.tenant_id,
        actor=principal,
        action="payout_file.confirmed",
        resource_type="payout_file",
        resource_id=record.id,
        data={},
    )
    await session.flush()
    return record


async def mark_returned(session: AsyncSession, principal: Principal, settlement_id: str) -> Settlement:
    """The bank returned a transfer (組戻し / 振込不能): the payable reopens and the payout carries into the next
    statement. Before the file was confirmed the pending entry is undone; after, the money came back to the bank."""
    statement = await get_settlement(session, principal, settlement_id, lock=True)
    if statement.status not in ("file_generated", "paid"):
        raise StateConflict(
            f"settlement {settlement_id} is {statement.status}: only a transfer sent can come back",
            code="settlement_not_sent",
        )
    money = Money(statement.payout, "JPY")
    source = "payouts_in_transit" if statement.status == "file_generated" else "bank"
    await post_entry(
        session,
        statement.tenant_id,
        kind="settlement.returned",
        lines=[debit(source, money), credit("merchant_payable", money)],
        source_ref=f"returned:{statement.id}",
        memo=f"statement {statement.number}",
    )
    statement.status, statement.returned_at = "returned", clock.utc_now()
    audit.record(
        session,
        tenant_id=statement.tenant_id,
        actor=principal,
        action="settlement.returned",
        resource_type="settlement",
        resource_id=statement.id,
        data={"payout": statement.payout},
    )
    await session.flush()
    return statement


# -- reads --------------------------------------------------------------------------------------------------------


async def list_settlements(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    merchant_id: str | None = None,
    status: str | None = None,
    pay_date: dt.date | None = None,
) -> Page[Settlement]:
    stmt = readable_statement(Settlement, principal)
    if principal.merchant_id is not None:
        stmt = stmt.where(Settlement.merchant_id == principal.merchant_id)
    if merchant_id is not None:
        stmt = stmt.where(Settlement.merchant_id == merchant_id)
    if status is not None:
        stmt = stmt.where(Settlement.status == status)
    if pay_date is not None:
        stmt = stmt.where(Settlement.pay_date == pay_date)
    return await paginate(session, stmt, Settlement, page)


async def lines_of(session: AsyncSession, statement: Settlement) -> list[SettlementLine]:
    return list(
        (
            await session.scalars(
                select(SettlementLine)
                .where(SettlementLine.tenant_id == statement.tenant_id, SettlementLine.settlement_id == statement.id)
                .order_by(SettlementLine.kind, SettlementLine.occurred_at, SettlementLine.id)
            )
        ).all()
    )


CSV_COLUMNS = ("kind", "merchant_order_id", "order_id", "source_id", "amount", "occurred_at")


def lines_csv(statement: Settlement, lines: list[SettlementLine]) -> bytes:
    """The statement's lines as CSV (UTF-8 with BOM, for people opening it in a spreadsheet), totals last."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        writer.writerow(
            (
                line.kind,
                line.merchant_order_id or "",
                line.order_id or "",
                line.source_id,
                line.amount,
                line.occurred_at.astimezone(clock.JST).isoformat(timespec="seconds"),
            )
        )
    for label, amount in (
        ("rate_fee", -statement.rate_fee),
        ("invoice_fees", -statement.invoice_fees),
        ("fee_tax", -statement.fee_tax),
        ("transfer_fee", -statement.transfer_fee),
        ("payout", statement.payout),
        ("carry_out", statement.carry_out),
    ):
        writer.writerow((label, "", "", "", amount, ""))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def render_settlement(statement: Settlement) -> dict[str, Any]:
    return {
        "object": "settlement",
        "id": statement.id,
        "number": statement.number,
        "merchant_id": statement.merchant_id,
        "cycle": statement.cycle,
        "period_start": statement.period_start.isoformat(),
        "period_end": statement.period_end.isoformat(),
        "pay_date": statement.pay_date.isoformat(),
        "status": statement.status,
        "currency": "JPY",
        "sales": statement.sales,
        "refunds": statement.refunds,
        "clawbacks": statement.clawbacks,
        "unguaranteed_paid": statement.unguaranteed_paid,
        "rate_fee": statement.rate_fee,
        "invoice_count": statement.invoice_count,
        "invoice_fees": statement.invoice_fees,
        "monthly_fee": statement.monthly_fee,
        "transfer_fee": statement.transfer_fee,
        "fee_tax": statement.fee_tax,
        "carry_in": statement.carry_in,
        "net": statement.net,
        "payout": statement.payout,
        "carry_out": statement.carry_out,
        "approved_at": statement.approved_at.isoformat() if statement.approved_at else None,
        "paid_at": statement.paid_at.isoformat() if statement.paid_at else None,
        "created_at": statement.created_at.isoformat(),
    }
