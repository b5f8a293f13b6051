"""Payment intake and the manual queue: single notifications, file imports, and what an operator does by hand.

Intake records first and reconciles after: a payment row is written exactly once per source id (``external_id``,
unique per tenant), whatever arrives twice. A single notification (``POST /admin/v1/payments``) is reconciled in
the same request; a file's payments are reconciled by the worker (``collections.reconcile_file``), enqueued in
the import's transaction (the outbox), in chunks that each commit on their own so a killed worker resumes
where it stopped and never applies a payment twice.

The manual queue is every payment holding money (``open_amount`` > 0): unidentified payments in suspense and
overpayments owed back. An operator matches a suspense payment to an invoice, refunds a held amount to the payer,
or takes it to income.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from itertools import islice
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.checkout.models import Order
from domain.checkout.service import active_policy
from domain.collections import reconcile
from domain.collections.formats import FileRejected, IncomingPayment, detect_and_parse
from domain.collections.models import HELD_STATUSES, PAYMENT, REVERSAL, Payment, PaymentFile
from domain.collections.reconcile import apply_to_invoice, book
from domain.invoicing.models import OPEN_STATUSES, Invoice
from domain.kit import audit, bulk, clock, context, outbox
from domain.kit.dialect import for_update, insert_ignore, insert_ignore_into, is_postgres
from domain.kit.errors import FieldIssue, InvalidInput, NotFound, StateConflict
from domain.kit.ids import new_id
from domain.kit.pagination import Page, PageRequest, paginate
from domain.kit.tenancy import Principal, readable_statement

RECONCILE_ACTOR = "collections.reconcile_file"
MAX_FILE_BYTES = 64 * 1024 * 1024


class PaymentFileRejected(InvalidInput):
    code = "payment_file_rejected"
    title = "The payment file was rejected"


class PaymentNotFound(NotFound):
    code = "payment_not_found"


class ExternalIdReused(StateConflict):
    code = "external_id_reused"


class NotInQueue(StateConflict):
    code = "payment_not_in_queue"


# -- single notifications ----------------------------------------------------------------------------------------

_RECORD_FIELDS = (
    "kind",
    "channel",
    "amount",
    "value_date",
    "payer_name",
    "payer_code",
    "edi",
    "account",
    "payment_number",
    "reverses_external_id",
)


async def record_payment(
    session: AsyncSession, principal: Principal, incoming: IncomingPayment, *, currency: str = "JPY"
) -> tuple[Payment, bool]:
    """Record one notification (payment agent or bank API push) and reconcile it now. The same ``external_id``
    again returns the payment as it stands (``False``); with different details it is refused."""
    tenant_id = principal.require_tenant()
    existing = await reconcile.payment_by_external_id(session, tenant_id, incoming.external_id)
    if existing is not None:
        _same_or_refuse(existing, incoming)
        return existing, False
    payment = Payment(
        tenant_id=tenant_id,
        id=new_id("pay"),
        external_id=incoming.external_id,
        source="api",
        created_by=principal.api_key_id,
        currency=currency,
        status="received",
        open_amount=0,
        note="",
        **{name: getattr(incoming, name) for name in _RECORD_FIELDS},
    )
    inserted = await session.execute(
        insert_ignore(session, Payment, **_row_values(payment)).returning(Payment.__table__.c.id)
    )
    if inserted.scalar_one_or_none() is None:  # a concurrent request recorded it first
        existing = await reconcile.payment_by_external_id(session, tenant_id, incoming.external_id)
        assert existing is not None
        _same_or_refuse(existing, incoming)
        return existing, False
    payment = await reconcile.payment_by_external_id(session, tenant_id, incoming.external_id, lock=True)
    assert payment is not None
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="payment.recorded",
        resource_type="payment",
        resource_id=payment.id,
        # The origin of an API payment: the key (actor) and the request that carried it.
        data={
            "external_id": payment.external_id,
            "kind": payment.kind,
            "amount": payment.amount,
            "request_id": context.correlation_id.get(),
        },
    )
    payment = await reconcile.reconcile(session, payment, await active_policy(session, tenant_id))
    return payment, True


def _same_or_refuse(existing: Payment, incoming: IncomingPayment) -> None:
    differs = [name for name in _RECORD_FIELDS if getattr(existing, name) != getattr(incoming, name)]
    if differs:
        raise ExternalIdReused(
            f"payment {incoming.external_id!r} was already recorded with other details ({', '.join(differs)})",
            issues=[FieldIssue(f"#/{name}", "differs from the recorded payment", "conflict") for name in differs],
        )


def _row_values(payment: Payment) -> dict[str, Any]:
    return {c.key: getattr(payment, c.key) for c in Payment.__table__.columns if getattr(payment, c.key) is not None}


# -- files ------------------------------------------------------------------------------------------------------


async def import_file(
    session: AsyncSession, principal: Principal, data: bytes, filename: str = ""
) -> tuple[PaymentFile, bool]:
    """Record a payment file and its payments, and enqueue their reconciliation. The same bytes again return the
    first import (``False``); a record already imported from another file is skipped. A malformed file is
    rejected whole (``PaymentFileRejected`` naming each bad line), with nothing written."""
    tenant_id = principal.require_tenant()
    if not data:
        raise PaymentFileRejected("the file is empty", issues=[FieldIssue("#/file", "empty file", "empty")])
    if len(data) > MAX_FILE_BYTES:
        raise PaymentFileRejected(f"the file is larger than {MAX_FILE_BYTES} bytes", code="payment_file_too_large")
    digest = hashlib.sha256(data).hexdigest()
    existing = (
        await session.scalars(
            select(PaymentFile).where(PaymentFile.tenant_id == tenant_id, PaymentFile.sha256 == digest)
        )
    ).one_or_none()
    if existing is not None:
        return existing, False
    try:
        parsed = detect_and_parse(data, filename)
    except FileRejected as exc:
        raise PaymentFileRejected(
            f"the file was rejected: {len(exc.issues)} problem(s), nothing was imported",
            issues=[FieldIssue(f"#/line/{i.line}/{i.field}", i.message, "invalid_record") for i in exc.issues],
            extra={"lines": [{"line": i.line, "field": i.field, "message": i.message} for i in exc.issues]},
        ) from None
    now = clock.utc_now()
    record = PaymentFile(
        tenant_id=tenant_id,
        id=new_id("pf"),
        kind=parsed.kind,
        filename=filename[:200],
        sha256=digest,
        size=len(data),
        content=data,
        record_count=parsed.record_count,
        payment_count=len(parsed.payments),
        total_amount=parsed.total_amount,
        status="received",
        summary={},
        created_by=principal.api_key_id,
        created_at=now,
    )
    session.add(record)
    await session.flush()
    session.expire(record, ["content"])  # stored: the session need not hold the file's bytes any longer
    await _insert_payments(session, tenant_id, record, parsed.payments, principal.api_key_id, now)
    await outbox.enqueue(session, RECONCILE_ACTOR, {"tenant_id": tenant_id, "file_id": record.id}, tenant_id=tenant_id)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="payment_file.imported",
        resource_type="payment_file",
        resource_id=record.id,
        data={"kind": parsed.kind, "payments": len(parsed.payments), "total": parsed.total_amount},
    )
    return record, True


_BATCH = 5_000


_COLUMNS = (
    "tenant_id",
    "id",
    "external_id",
    "source",
    "file_id",
    "line_no",
    "created_by",
    "kind",
    "channel",
    "currency",
    "amount",
    "value_date",
    "payer_name",
    "payer_code",
    "edi",
    "account",
    "payment_number",
    "reverses_external_id",
    "status",
    "open_amount",
    "note",
    "created_at",
)


async def _insert_payments(
    session: AsyncSession,
    tenant_id: str,
    record: PaymentFile,
    payments: list[IncomingPayment],
    created_by: str,
    now: dt.datetime,
) -> None:
    """Insert the file's payments, skipping any record already imported (same ``external_id``)."""
    rows = (
        (
            tenant_id,
            new_id("pay"),
            p.external_id,
            "file",
            record.id,
            p.line_no,
            created_by,
            p.kind,
            p.channel,
            "JPY",
            p.amount,
            p.value_date,
            p.payer_name,
            p.payer_code,
            p.edi,
            p.account,
            p.payment_number,
            p.reverses_external_id,
            "received",
            0,
            "",
            now,
        )
        for p in payments
    )  # a generator: the rows are made a block at a time, never all at once
    if is_postgres(session):
        await _copy_payments(session, rows)
        return
    statement = insert_ignore_into(session, Payment.__table__)
    while part := [dict(zip(_COLUMNS, row, strict=True)) for row in islice(rows, _BATCH)]:
        await session.execute(statement, part)


async def _copy_payments(session: AsyncSession, rows: Iterable[tuple[Any, ...]]) -> None:
    """PostgreSQL: COPY the rows into a session-local staging table, then one ``INSERT … SELECT … ON CONFLICT DO
    NOTHING`` (a line imported before keeps its first record). In the caller's transaction."""
    names = ", ".join(_COLUMNS)
    await session.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS payments_staging (LIKE payments INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
    )
    await bulk.copy_into(session, "payments_staging", _COLUMNS, rows)
    await session.execute(
        text(f"INSERT INTO payments ({names}) SELECT {names} FROM payments_staging ON CONFLICT DO NOTHING")  # noqa: S608
    )
    await session.execute(text("DELETE FROM payments_staging"))


async def get_file(session: AsyncSession, principal: Principal, file_id: str) -> PaymentFile:
    found = (
        await session.scalars(readable_statement(PaymentFile, principal).where(PaymentFile.id == file_id))
    ).one_or_none()
    if found is None:
        raise NotFound(f"no payment file {file_id}", code="payment_file_not_found")
    return found


async def file_lines(session: AsyncSession, principal: Principal, file_id: str) -> list[Payment]:
    await get_file(session, principal, file_id)
    stmt = readable_statement(Payment, principal).where(Payment.file_id == file_id).order_by(Payment.line_no)
    return list((await session.scalars(stmt)).all())


# -- reads ------------------------------------------------------------------------------------------------------


async def get_payment(session: AsyncSession, principal: Principal, payment_id: str, *, lock: bool = False) -> Payment:
    stmt = readable_statement(Payment, principal).where(Payment.id == payment_id)
    if lock:
        stmt = for_update(session, stmt)
    found = (await session.scalars(stmt)).one_or_none()
    if found is None:
        raise PaymentNotFound(f"no payment {payment_id}")
    return found


# -- the manual queue ---------------------------------------------------------------------------------------------


async def match_manually(
    session: AsyncSession, principal: Principal, payment_id: str, invoice_id: str, note: str = ""
) -> Payment:
    """Apply a payment held in suspense to an invoice (不明入金振替). The invoice must be open; what exceeds its
    balance stays with the payment as an overpayment."""
    payment = await get_payment(session, principal, payment_id, lock=True)
    if payment.status != "unmatched" or payment.kind != PAYMENT or payment.open_amount <= 0:
        raise NotInQueue(f"payment {payment_id} is not waiting in suspense (status {payment.status})")
    invoice = (
        await session.scalars(readable_statement(Invoice, principal).where(Invoice.id == invoice_id))
    ).one_or_none()
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id}", code="invoice_not_found")
    invoice = await reconcile.lock_chain(session, invoice)
    if invoice.status not in OPEN_STATUSES:
        raise StateConflict(f"invoice {invoice.id} is {invoice.status}: nothing to pay", code="invoice_not_open")
    order = await session.get(Order, (invoice.tenant_id, invoice.order_id))
    if order is not None and order.test_mode:
        raise StateConflict(
            f"invoice {invoice.id} belongs to a sandbox (test-mode) order: real money cannot pay it",
            code="invoice_is_sandbox",
        )
    amount = payment.open_amount
    step = f"match:{invoice.id}"
    # Out of suspense, onto the invoice: the suspense row is negated and the invoice's rows are added.
    await book(session, payment, [("suspense", -amount)], invoice=invoice, kind="payment.matched", step=step + ":out")
    payment.open_amount = 0
    payment.resolved_by = principal.api_key_id
    payment.match_method = "manual"
    payment.note = note[:500]
    await _apply_held(session, payment, invoice, amount, step)
    return payment


async def _apply_held(session: AsyncSession, payment: Payment, invoice: Invoice, amount: int, step: str) -> None:
    policy = await active_policy(session, payment.tenant_id)
    await apply_to_invoice(session, payment, invoice, amount, policy.collections, step=step)


async def pair_reversal(
    session: AsyncSession, principal: Principal, reversal_id: str, payment_id: str, note: str = ""
) -> Payment:
    """Pair a bank reversal that matched nothing with the payment it reverses, when the bank's record did not name
    it (another 照会番号, a returned transfer reported later): the payment is undone as if the reversal had named
    it, and the money that left into suspense comes out of it (suspense back to zero)."""
    reversal = await get_payment(session, principal, reversal_id, lock=True)
    if reversal.kind != REVERSAL or reversal.status != "unmatched":
        raise NotInQueue(
            f"payment {reversal_id} is not a bank reversal waiting to be paired (status {reversal.status})"
        )
    original = await get_payment(session, principal, payment_id, lock=True)
    problems = []
    if original.kind != PAYMENT or original.status in ("received", "reversed"):
        problems.append(FieldIssue("#/payment_id", f"a {original.kind} in status {original.status}", "not_reversible"))
    if original.amount != reversal.amount:
        problems.append(FieldIssue("#/payment_id", f"amount {original.amount} ≠ {reversal.amount}", "amount_differs"))
    if original.channel != reversal.channel:
        problems.append(
            FieldIssue("#/payment_id", f"channel {original.channel} ≠ {reversal.channel}", "channel_differs")
        )
    if problems:
        raise StateConflict(
            f"payment {payment_id} is not what reversal {reversal_id} reverses",
            code="reversal_mismatch",
            issues=problems,
        )
    await reconcile.reverse_payment(
        session, original, await active_policy(session, reversal.tenant_id), by=reversal, source="suspense"
    )
    # The reversal's hold comes out of suspense: the ledger line is the mirror reverse_payment just posted (its
    # source), so only the allocation row is written, and suspense stays equal to what the allocations hold.
    await book(session, reversal, [("suspense", reversal.amount)], invoice=None, kind="payment.paired", post=False)
    reversal.outcome, reversal.invoice_id = "reversed", original.invoice_id
    return _resolved(session, principal, reversal, "recorded", note, {"paired_with": original.id}, action="paired")


async def refund(session: AsyncSession, principal: Principal, payment_id: str, note: str = "") -> Payment:
    """Pay a held amount back to the payer (the transfer itself is made by the operator's bank)."""
    payment = await get_payment(session, principal, payment_id, lock=True)
    holding = _holding(payment)
    amount = payment.open_amount
    await book(
        session,
        payment,
        [(holding, -amount), ("refunded", amount)],
        invoice=None,
        kind="payment.refunded",
        step="refund",
    )
    return _resolved(session, principal, payment, "refunded", note, {"amount": amount})


async def write_to_income(session: AsyncSession, principal: Principal, payment_id: str, note: str = "") -> Payment:
    """Take a held amount to income (雑収入): a payer who cannot be found or reached, a small remainder."""
    payment = await get_payment(session, principal, payment_id, lock=True)
    holding = _holding(payment)
    amount = payment.open_amount
    rows = [(holding, -amount), ("misc", amount)]
    await book(session, payment, rows, invoice=None, kind="payment.written_off", step="income")
    return _resolved(session, principal, payment, "written_off", note, {"amount": amount})


def _holding(payment: Payment) -> str:
    if payment.kind != PAYMENT:
        # A bank reversal nobody could place: the money left us, there is nothing to pay back or keep.
        raise NotInQueue(
            f"payment {payment.id} is a {payment.kind} the bank made that matched nothing: take it up with the bank",
            code="reversal_not_resolvable_here",
        )
    if payment.status not in HELD_STATUSES or payment.open_amount <= 0:
        raise NotInQueue(f"payment {payment.id} holds no money (status {payment.status})")
    return "suspense" if payment.status == "unmatched" else "overpayment"


def _resolved(
    session: AsyncSession,
    principal: Principal,
    payment: Payment,
    status: str,
    note: str,
    data: dict[str, Any],
    *,
    action: str | None = None,
) -> Payment:
    """A person dealt with a payment from the manual queue: it holds nothing any more, and the audit says who."""
    payment.status = status
    payment.open_amount = 0
    payment.resolved_by = principal.api_key_id
    payment.note = note[:500]
    audit.record(
        session,
        tenant_id=payment.tenant_id,
        actor=principal,
        action=f"payment.{action or status}",
        resource_type="payment",
        resource_id=payment.id,
        data=data,
    )
    return payment


def render_payment(payment: Payment) -> dict[str, Any]:
    return {
        "object": "payment",
        "id": payment.id,
        "external_id": payment.external_id,
        "source": payment.source,
        "file_id": payment.file_id,
        "line_no": payment.line_no,
        "kind": payment.kind,
        "channel": payment.channel,
        "currency": payment.currency,
        "amount": payment.amount,
        "value_date": payment.value_date.isoformat(),
        "payer_name": payment.payer_name,
        "account": payment.account,
        "payment_number": payment.payment_number,
        "status": payment.status,
        "outcome": payment.outcome,
        "match_method": payment.match_method,
        "invoice_id": payment.invoice_id,
        "open_amount": payment.open_amount,
        "reversed_by_id": payment.reversed_by_id,
        "note": payment.note,
        "created_at": payment.created_at.isoformat(),
        "reconciled_at": payment.reconciled_at.isoformat() if payment.reconciled_at else None,
    }


async def list_payments(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    status: str | None = None,
    file_id: str | None = None,
    invoice_id: str | None = None,
    held: bool = False,
) -> Page[Payment]:
    """Payments, newest first; ``held``: the manual queue (money in suspense or owed back)."""
    stmt = readable_statement(Payment, principal)
    if status is not None:
        stmt = stmt.where(Payment.status == status)
    if file_id is not None:
        stmt = stmt.where(Payment.file_id == file_id)
    if invoice_id is not None:
        stmt = stmt.where(Payment.invoice_id == invoice_id)
    if held:
        stmt = stmt.where(Payment.status.in_(HELD_STATUSES), Payment.open_amount > 0)
    return await paginate(session, stmt, Payment, page)


async def list_files(session: AsyncSession, principal: Principal, page: PageRequest) -> Page[PaymentFile]:
    return await paginate(session, readable_statement(PaymentFile, principal), PaymentFile, page)


async def set_hold(
    session: AsyncSession,
    principal: Principal,
    invoice_id: str,
    *,
    dispute_hold: bool | None,
    promise_to_pay_date: dt.date | None,
    clear_promise: bool,
) -> Invoice:
    """Put dunning of an invoice on hold (a dispute, a promise to pay) or take the hold off. The hold follows
    the invoice's successors (re-bills carry it)."""
    invoice = (
        await session.scalars(readable_statement(Invoice, principal).where(Invoice.id == invoice_id))
    ).one_or_none()
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id}", code="invoice_not_found")
    invoice = await reconcile.lock_chain(session, invoice)
    if invoice.status not in OPEN_STATUSES:
        raise StateConflict(f"invoice {invoice.id} is {invoice.status}: nothing to hold", code="invoice_not_open")
    if clear_promise and promise_to_pay_date is not None:
        raise InvalidInput(
            "give promise_to_pay_date or clear_promise, not both",
            issues=[FieldIssue("#/clear_promise", "conflicts with promise_to_pay_date", "conflict")],
        )
    if promise_to_pay_date is not None and promise_to_pay_date < clock.jst_today():
        raise InvalidInput(
            "a promise to pay lies in the future",
            issues=[FieldIssue("#/promise_to_pay_date", "must be today or later (JST)", "in_past")],
        )
    if dispute_hold is not None:
        invoice.dispute_hold = dispute_hold
    if promise_to_pay_date is not None:
        invoice.promise_to_pay_date = promise_to_pay_date
    if clear_promise:
        invoice.promise_to_pay_date = None
    audit.record(
        session,
        tenant_id=invoice.tenant_id,
        actor=principal,
        action="invoice.hold_changed",
        resource_type="invoice",
        resource_id=invoice.id,
        data={
            "dispute_hold": invoice.dispute_hold,
            "promise_to_pay_date": invoice.promise_to_pay_date.isoformat() if invoice.promise_to_pay_date else None,
        },
    )
    await session.flush()
    return invoice
