"""Reconciling an imported file in chunks: set-based for the common case, one by one for the rest.

Most lines of a bank or convenience-store file pay exactly the balance of an open invoice found by its virtual
account or payment number. Those are applied set-based: a handful of statements per chunk whatever its size (lock
the orders, consumers and invoices in id order; close the invoices; release the credit exposure; mark the payments;
write their allocation rows; post one ledger entry whose lines are the sum of the payments' rows). Everything else
(partial, over, after close, name + amount, suspense, 速報, reversals, charged-off, out-of-guarantee orders) goes
through ``reconcile.reconcile`` one payment at a time. Both paths write the same allocation rows and book the same
accounts (``effects.py``), so a file reconciles to the same result whichever path a line takes.

A chunk is one transaction. A worker killed mid-chunk loses the chunk's work (rolled back) and the rerun picks up
the payments still ``received``: nothing is applied twice, nothing is lost.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from domain.checkout.models import Consumer, Order
from domain.checkout.policy import CreditPolicy
from domain.collections import effects, reconcile
from domain.collections.models import PAYMENT, Payment, PaymentAllocation, PaymentFile
from domain.invoicing.models import OVERDUE_STATUSES, Invoice
from domain.invoicing.service import render_invoice
from domain.kit import audit, bulk, clock
from domain.kit.dialect import for_update, is_postgres
from domain.kit.ids import new_id
from domain.ledger import post_entry
from domain.webhooks import emit
from domain.webhooks.repository import WebhookRepository

CHUNK = 5_000
# Statuses the set-based path closes (charged-off invoices book recoveries, payment_pending ones are fine too).
_FAST_STATUSES = ("issued", "payment_pending", "partially_paid", "overdue", "in_collection")


@dataclass(frozen=True, slots=True)
class ChunkResult:
    processed: int
    fast: int
    remaining: bool


async def reconcile_chunk(
    session: AsyncSession, tenant_id: str, file_id: str, policy: CreditPolicy, *, limit: int = CHUNK
) -> ChunkResult:
    """Reconcile up to ``limit`` of the file's payments still ``received`` (in line order), in the caller's
    transaction. When none remain, the file is marked reconciled with its outcome counts."""
    p = Payment.__table__
    rows = (
        await session.execute(
            select(
                p.c.id, p.c.kind, p.c.account, p.c.payment_number, p.c.amount, p.c.channel, p.c.currency, p.c.line_no
            )
            .where(p.c.tenant_id == tenant_id, p.c.file_id == file_id, p.c.status == "received")
            .order_by(p.c.line_no)
            .limit(limit)
            # Two runners of one file (the worker and the CLI, a redelivered message) share it, never a payment.
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not rows:
        await _finish_file(session, tenant_id, file_id)
        return ChunkResult(0, 0, False)
    fast = await _apply_exact(session, tenant_id, [_Row(*row) for row in rows], file_id)
    rest = [row.id for row in rows if row.id not in fast]
    for start in range(0, len(rest), 1_000):
        payments = (
            await session.scalars(
                select(Payment)
                .where(Payment.tenant_id == tenant_id, Payment.id.in_(rest[start : start + 1_000]))
                .order_by(Payment.line_no)
            )
        ).all()
        for payment in payments:
            await reconcile.reconcile(session, payment, policy)
    await session.flush()
    if len(rows) < limit:
        await _finish_file(session, tenant_id, file_id)
    return ChunkResult(len(rows), len(fast), len(rows) == limit)


@dataclass(frozen=True, slots=True)
class _Row:
    """A received payment as the set-based path needs it."""

    id: str
    kind: str
    account: str | None
    payment_number: str | None
    amount: int
    channel: str
    currency: str
    line_no: int | None


@dataclass(slots=True)
class _Invoice:
    """An invoice as the set-based path needs it (Core rows: no ORM identity map to keep in step)."""

    id: str
    status: str
    virtual_account: str
    payment_number: str
    order_id: str
    merchant_id: str
    late_fee: int
    damages: int
    fee: int
    principal: int
    paid_late_fee: int
    paid_damages: int
    paid_fee: int
    paid_principal: int
    paid_amount: int
    waived: int

    @property
    def balance(self) -> int:
        return self.late_fee + self.damages + self.fee + self.principal - self.paid_amount - self.waived


_INVOICE_COLUMNS = [Invoice.__table__.c[name] for name in _Invoice.__slots__]  # type: ignore[attr-defined]


async def _finish_file(session: AsyncSession, tenant_id: str, file_id: str) -> None:
    record = await session.get(PaymentFile, (tenant_id, file_id))
    if record is None or record.status == "reconciled":
        return
    rows = (
        await session.execute(
            select(Payment.outcome, func.count(), func.coalesce(func.sum(Payment.amount), 0))
            .where(Payment.tenant_id == tenant_id, Payment.file_id == file_id)
            .group_by(Payment.outcome)
        )
    ).all()
    record.summary = {str(outcome): {"count": count, "amount": int(amount)} for outcome, count, amount in rows}
    record.status = "reconciled"
    record.reconciled_at = clock.utc_now()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor="system",
        action="payment_file.reconciled",
        resource_type="payment_file",
        resource_id=file_id,
        data=record.summary,
    )


async def _apply_exact(session: AsyncSession, tenant_id: str, payments: list[_Row], file_id: str) -> set[str]:
    """Apply, set-based, the payments that pay exactly the balance of an open invoice found by its virtual account
    or payment number. Returns the ids of the payments applied."""
    wanted = [p for p in payments if p.kind == PAYMENT and (p.account or p.payment_number)]
    if not wanted:
        return set()
    accounts = sorted({p.account for p in wanted if p.account})
    numbers = sorted({p.payment_number for p in wanted if p.payment_number})
    by_account: dict[str, list[_Invoice]] = defaultdict(list)
    by_number: dict[str, _Invoice] = {}
    if accounts:
        for invoice in await _invoices(session, tenant_id, Invoice.virtual_account, accounts):
            by_account[invoice.virtual_account].append(invoice)
    if numbers:
        for invoice in await _invoices(session, tenant_id, Invoice.payment_number, numbers):
            by_number[invoice.payment_number] = invoice
    candidates: dict[str, tuple[_Row, str, _Invoice]] = {}  # invoice id -> (payment, method, invoice as read)
    taken: Counter[str] = Counter()
    for payment in wanted:
        invoice, method = None, None
        if payment.account:
            holders = by_account.get(payment.account, [])
            open_holders = [i for i in holders if i.status not in ("paid", "recovered", "voided", "rebilled")]
            if len(open_holders) == 1 and len(holders) == len(open_holders):
                invoice, method = open_holders[0], "virtual_account"
            elif holders:
                continue  # reused account or superseded invoice: the careful path decides
        if invoice is None and payment.payment_number:
            invoice, method = by_number.get(payment.payment_number), "payment_number"
        if invoice is None or invoice.status not in _FAST_STATUSES or invoice.balance != payment.amount:
            continue
        taken[invoice.id] += 1
        candidates[invoice.id] = (payment, method or "", invoice)
    candidates = {k: v for k, v in candidates.items() if taken[k] == 1}
    if not candidates:
        return set()
    return await _close_invoices(session, tenant_id, candidates, file_id)


async def _invoices(session: AsyncSession, tenant_id: str, column: Any, values: list[str]) -> list[_Invoice]:
    found: list[_Invoice] = []
    t = Invoice.__table__
    for start in range(0, len(values), 1_000):
        stmt = select(*_INVOICE_COLUMNS).where(t.c.tenant_id == tenant_id, column.in_(values[start : start + 1_000]))
        found.extend(_Invoice(*row) for row in (await session.execute(stmt)).all())
    return found


async def _close_invoices(
    session: AsyncSession, tenant_id: str, candidates: dict[str, tuple[_Row, str, _Invoice]], file_id: str
) -> set[str]:
    o, c = Order.__table__, Consumer.__table__
    # Lock in the fixed order: orders, consumers (each in id order), then the invoices as they are closed.
    order_ids = sorted({invoice.order_id for _, _, invoice in candidates.values()})
    orders: dict[str, tuple[str | None, int, str, bool]] = {}
    for part in _parts(order_ids):
        stmt = (
            select(o.c.id, o.c.consumer_id, o.c.exposure, o.c.guarantee, o.c.test_mode)
            .where(o.c.tenant_id == tenant_id, o.c.id.in_(part))
            .order_by(o.c.id)
        )
        for oid, consumer_id, exposure, guarantee, test_mode in (
            await session.execute(for_update(session, stmt))
        ).all():
            orders[oid] = (consumer_id, exposure, guarantee, test_mode)
    consumer_ids = sorted({row[0] for row in orders.values() if row[0]})
    merged: set[str] = set()
    for part in _parts(consumer_ids):
        stmt = select(c.c.id, c.c.merged_into).where(c.c.tenant_id == tenant_id, c.c.id.in_(part)).order_by(c.c.id)
        merged.update(cid for cid, into in (await session.execute(for_update(session, stmt))).all() if into is not None)
    # Orders out of the guarantee book an extra line, merged consumers resolve elsewhere: the careful path.
    wanted = {
        invoice_id: (payment, method, seen)
        for invoice_id, (payment, method, seen) in candidates.items()
        if seen.order_id in orders
        and orders[seen.order_id][2] != "unguaranteed"
        and orders[seen.order_id][0] not in merged
    }
    now = clock.utc_now()
    # Close the invoices that are still as they were read (same status, nothing paid since): the UPDATE takes their
    # locks and checks them in one statement; one that changed is left to the careful path.
    closed = await _close_unchanged(session, tenant_id, list(wanted.values()), now)
    chosen = [(payment, seen, method) for invoice_id, (payment, method, seen) in wanted.items() if invoice_id in closed]
    if not chosen:
        return set()
    rows_total: dict[tuple[str, str, str], int] = defaultdict(int)  # (currency, source, component) -> amount
    allocations: list[tuple[object, ...]] = []
    order_release: dict[str, int] = defaultdict(int)
    consumer_release: dict[str, int] = defaultdict(int)
    consumer_overdue: dict[str, int] = defaultdict(int)
    for payment, invoice, _method in chosen:
        consumer_id, exposure, _guarantee, test_mode = orders[invoice.order_id]
        source = effects.source_account(payment.channel)
        for component in ("late_fee", "damages", "fee", "principal"):
            amount = getattr(invoice, component) - getattr(invoice, f"paid_{component}")
            if amount:
                allocations.append((tenant_id, new_id("pal"), payment.id, invoice.id, component, amount, now))
                if not test_mode:  # sandbox orders book nothing (as in checkout)
                    rows_total[(payment.currency, source, component)] += amount
        unpaid_principal = invoice.principal - invoice.paid_principal
        release = max(0, min(exposure - order_release[invoice.order_id], unpaid_principal))
        if release < unpaid_principal:  # what a reversal gives back (effects.py)
            allocations.append(
                (tenant_id, new_id("pal"), payment.id, invoice.id, "unreleased", unpaid_principal - release, now)
            )
        if release > 0:
            order_release[invoice.order_id] += release
            if consumer_id:
                consumer_release[consumer_id] += release
        if invoice.status in OVERDUE_STATUSES and consumer_id:
            consumer_overdue[consumer_id] += 1
    if order_release:
        ids, releases = zip(*sorted(order_release.items()), strict=True)
        await _bulk_update(
            session,
            "UPDATE orders SET exposure = exposure - v.release FROM {values} WHERE orders.tenant_id = :tenant"
            " AND orders.id = v.id",
            tenant_id,
            ("id", "release"),
            (list(ids), list(releases)),
        )
    consumers = sorted(set(consumer_release) | set(consumer_overdue))
    if consumers:
        await _bulk_update(
            session,
            "UPDATE consumers SET outstanding = outstanding - v.release, overdue_count = overdue_count - v.overdue"
            " FROM {values} WHERE consumers.tenant_id = :tenant AND consumers.id = v.id",
            tenant_id,
            ("id", "release", "overdue"),
            (
                consumers,
                [consumer_release.get(k, 0) for k in consumers],
                [consumer_overdue.get(k, 0) for k in consumers],
            ),
        )
    await _bulk_update(
        session,
        "UPDATE payments SET status = 'applied', outcome = 'exact', match_method = v.method, invoice_id = v.invoice,"
        " reconciled_at = :now FROM {values} WHERE payments.tenant_id = :tenant AND payments.id = v.id"
        " AND payments.status = 'received'",
        tenant_id,
        ("id", "method", "invoice"),
        (
            [payment.id for payment, _, _ in chosen],
            [method for _, _, method in chosen],
            [invoice.id for _, invoice, _ in chosen],
        ),
        now=now,
    )
    await bulk.insert_rows(session, PaymentAllocation.__table__, _ALLOCATION_COLUMNS, allocations)
    by_source: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for (currency, source, component), amount in rows_total.items():
        by_source[(currency, source)].append((component, amount))
    first, last = chosen[0][0], chosen[-1][0]
    for (currency, source), rows in sorted(by_source.items()):
        await post_entry(
            session,
            tenant_id,
            kind="payment.exact.batch",
            lines=effects.lines_for(rows, source=source, currency=currency),
            source_ref=f"payments:{file_id}:{first.line_no}-{last.line_no}:{source}:{currency}",
            memo=f"{len(chosen)} payments of file {file_id}",
        )
    pending = [invoice.id for _, invoice, _ in chosen if invoice.status == "payment_pending"]
    for part in _parts(pending):
        await reconcile.confirm_preliminaries(session, tenant_id, part)
    await _emit_paid(session, tenant_id, [invoice for _, invoice, _ in chosen])
    return {payment.id for payment, _, _ in chosen}


_ALLOCATION_COLUMNS = ("tenant_id", "id", "payment_id", "invoice_id", "component", "amount", "created_at")


async def _close_unchanged(
    session: AsyncSession, tenant_id: str, wanted: list[tuple[_Row, str, _Invoice]], now: dt.datetime
) -> set[str]:
    """Mark paid, in full, each invoice still in the status and with the paid amount it was read with; the ids
    closed. PostgreSQL: one ``UPDATE … FROM unnest(…) … RETURNING``; elsewhere a read under the (database) lock."""
    t = Invoice.__table__
    full = {
        "paid_late_fee": t.c.late_fee,
        "paid_damages": t.c.damages,
        "paid_fee": t.c.fee,
        "paid_principal": t.c.principal,
        "paid_amount": t.c.late_fee + t.c.damages + t.c.fee + t.c.principal,
        "status": "paid",
        "closed_at": now,
        "payment_pending_since": None,
    }
    if is_postgres(session):
        closed: set[str] = set()
        for part in _parts(wanted, 5_000):
            v = (
                select(
                    func.unnest(bindparam("ids", [seen.id for _, _, seen in part], type_=ARRAY(String))).label("id"),
                    func.unnest(bindparam("statuses", [seen.status for _, _, seen in part], type_=ARRAY(String))).label(
                        "status"
                    ),
                    func.unnest(
                        bindparam("paid", [seen.paid_amount for _, _, seen in part], type_=ARRAY(BigInteger))
                    ).label("paid"),
                )
            ).subquery("v")
            result = await session.execute(
                update(t)
                .where(
                    t.c.tenant_id == tenant_id,
                    t.c.id == v.c.id,
                    t.c.status == v.c.status,
                    t.c.paid_amount == v.c.paid,
                    t.c.waived == 0,
                )
                .values(**full)
                .returning(t.c.id)
            )
            closed.update(result.scalars().all())
        return closed
    rows = {}
    for part in _parts([seen.id for _, _, seen in wanted]):
        stmt = select(t.c.id, t.c.status, t.c.paid_amount, t.c.waived).where(
            t.c.tenant_id == tenant_id, t.c.id.in_(part)
        )
        rows.update({row.id: row for row in (await session.execute(stmt)).all()})
    unchanged = [
        seen.id
        for _, _, seen in wanted
        if (row := rows.get(seen.id)) is not None
        and row.status == seen.status
        and row.paid_amount == seen.paid_amount
        and row.waived == 0
    ]
    for part in _parts(unchanged):
        await session.execute(update(t).where(t.c.tenant_id == tenant_id, t.c.id.in_(part)).values(**full))
    return set(unchanged)


async def _emit_paid(session: AsyncSession, tenant_id: str, paid: list[_Invoice]) -> None:
    """``invoice.paid`` for each invoice; only a merchant with a live endpoint costs more than one query."""
    repo = WebhookRepository.from_session(session)
    listening: dict[str, bool] = {}
    for invoice in paid:
        if invoice.merchant_id not in listening:
            listening[invoice.merchant_id] = bool(await repo.live_endpoints(tenant_id, invoice.merchant_id))
        if listening[invoice.merchant_id]:
            fresh = await session.get(Invoice, (tenant_id, invoice.id), populate_existing=True)
            assert fresh is not None
            await emit(
                session, tenant_id=tenant_id, merchant_id=invoice.merchant_id, type="invoice.paid", data=_render(fresh)
            )


def _parts(values: list[Any], size: int = 1_000) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


async def _bulk_update(
    session: AsyncSession,
    sql: str,
    tenant_id: str,
    names: tuple[str, ...],
    columns: tuple[list[Any], ...],
    **params: Any,
) -> None:
    """One ``UPDATE … FROM`` over many rows: on PostgreSQL the rows travel as arrays (``unnest``), one statement
    whatever their number; on SQLite as a ``VALUES`` list in parts."""
    if is_postgres(session):
        arrays = ", ".join(f"CAST(:{name} AS {_PG_TYPES[name]}[])" for name in names)
        values = f"unnest({arrays}) AS v({', '.join(names)})"
        await session.execute(
            text(sql.format(values=values)),
            {"tenant": tenant_id, **params, **dict(zip(names, columns, strict=True))},
        )
        return
    rows = list(zip(*columns, strict=True))
    for part in _parts(rows, 300):
        placeholders = ", ".join("(" + ", ".join(f":{name}_{i}" for name in names) + ")" for i in range(len(part)))
        select_values = f"(SELECT {', '.join(f'column{j + 1} AS {name}' for j, name in enumerate(names))}"
        values = f"{select_values} FROM (VALUES {placeholders})) AS v"
        bound = {f"{name}_{i}": row[j] for i, row in enumerate(part) for j, name in enumerate(names)}
        await session.execute(text(sql.format(values=values)), {"tenant": tenant_id, **params, **bound})


_PG_TYPES = {"id": "text", "release": "bigint", "overdue": "bigint", "method": "text", "invoice": "text"}


def _render(invoice: Invoice) -> dict[str, Any]:
    return render_invoice(invoice)
