"""Issuing and voiding consumer invoices, and the print data of an enclosed (同梱) invoice.

Checkout decides *when* (capture for 別送, authorization for 同梱); this module decides *what*: the number, the
due date (issue date in JST + the policy's days), the fee and its tax, and the payment keys, which derive from
the invoice number so that reconciliation can parse them back (``domain/invoicing/keys.py``). Money movements
are posted by checkout, which knows why the money moves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.checkout.models import Consumer
from domain.checkout.policy import CreditPolicy
from domain.invoicing import allocation, keys
from domain.invoicing.models import OPEN_STATUSES, OVERDUE_STATUSES, Invoice
from domain.kit import audit, clock, counters
from domain.kit.ids import new_id
from domain.kit.tenancy import Principal, readable_statement

INVOICE_COUNTER = "invoice"


def virtual_account_for(number: int) -> str:
    """The invoice's virtual account: the branch's 999,999 numbers are handed out in a cycle (an account comes
    back to the pool long after its invoice closed; reconciliation matches it to the open invoice holding it)."""
    return keys.virtual_account_number((number - 1) % keys.MAX_VIRTUAL_ACCOUNT_SEQ + 1)


def fee_tax(fee: int, rate_percent: int) -> int:
    """The consumption tax included in a tax-inclusive fee, rounded down (端数切捨て)."""
    return fee * rate_percent // (100 + rate_percent)


async def issue(
    session: AsyncSession,
    *,
    tenant_id: str,
    order_id: str,
    merchant_id: str,
    consumer_id: str | None,
    delivery: str,
    currency: str,
    principal: int,
    fee: int,
    policy: CreditPolicy,
    capture_id: str | None = None,
    supersedes: Invoice | None = None,
    actor: Principal | str = "system",
    payer_kana: str | None = None,
    due_days: int | None = None,
    continues_dunning: bool | None = None,
    today: dt.date | None = None,
) -> Invoice:
    """Issue an invoice today (JST), due ``due_days`` later (the policy's days by default).

    A successor of ``supersedes`` keeps what was paid, forgiven and charged on it, its fee recognition and its holds.
    It continues the dunning of its predecessor (same chain, same base date, same status) when
    ``continues_dunning`` (by default: when the predecessor is past due); otherwise it starts a chain of its own.
    """
    number = await counters.next_value(session, tenant_id, INVOICE_COUNTER)
    today = today or clock.jst_today()
    reissue = supersedes.reissue + 1 if supersedes is not None else 0
    due_date = today + dt.timedelta(days=policy.invoice_due_days if due_days is None else due_days)
    if continues_dunning is None:
        continues_dunning = supersedes is not None and supersedes.status in OVERDUE_STATUSES
    invoice = Invoice(
        tenant_id=tenant_id,
        id=new_id("inv"),
        number=number,
        order_id=order_id,
        merchant_id=merchant_id,
        consumer_id=consumer_id,
        capture_id=capture_id,
        delivery=delivery,
        status="issued",
        currency=currency,
        principal=principal,
        fee=fee,
        fee_tax=fee_tax(fee, policy.fee_tax_rate_percent),
        fee_recognized=supersedes.fee_recognized if supersedes is not None else False,
        paid_amount=supersedes.paid_amount if supersedes is not None else 0,
        issue_date=today,
        due_date=due_date,
        payment_number=keys.payment_number(policy.issuer_code, number, min(reissue, keys.MAX_REISSUE)),
        virtual_account=(
            f"{policy.virtual_account_bank}-{policy.virtual_account_branch}-{virtual_account_for(number)}"
        ),
        reissue=reissue,
        supersedes_id=supersedes.id if supersedes is not None else None,
        payer_kana=payer_kana if supersedes is None else supersedes.payer_kana,
        created_at=clock.utc_now(),
    )
    if supersedes is not None:
        carry_over(supersedes, invoice)
    if supersedes is not None and continues_dunning:
        invoice.chain_id, invoice.dunning_base_date = supersedes.chain_id, supersedes.dunning_base_date
        invoice.rebill_count = supersedes.rebill_count
    else:
        invoice.chain_id, invoice.dunning_base_date = invoice.id, due_date
    session.add(invoice)
    if supersedes is not None and continues_dunning and supersedes.status in OVERDUE_STATUSES:
        await set_status(session, invoice, supersedes.status)
    elif invoice.paid_amount and invoice.balance > 0:
        invoice.status = "partially_paid"
    elif invoice.payment_pending_since is not None:
        invoice.status = "payment_pending"
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="invoice.issued",
        resource_type="invoice",
        resource_id=invoice.id,
        data={"order_id": order_id, "principal": principal, "fee": fee, "supersedes": invoice.supersedes_id},
    )
    await session.flush()
    return invoice


# What a successor invoice carries over from the invoice it replaces, besides what was paid (allocation.copy_paid).
_CARRIED = (
    "late_fee",
    "late_fee_tax",
    "damages",
    "promise_to_pay_date",
    "dispute_hold",
    "payment_pending_since",
    "charged_off_amount",
    "recovered_amount",
)


def carry_over(old: Invoice, new: Invoice) -> None:
    """A successor keeps what was billed, paid and forgiven on the invoice it replaces, and its holds."""
    allocation.copy_paid(old, new)
    for name in _CARRIED:
        setattr(new, name, getattr(old, name))


def rebill_successor(
    old: Invoice, *, number: int, invoice_id: str, policy: CreditPolicy, due_days: int, today: dt.date
) -> Invoice:
    """The next version of an overdue invoice (再請求), built in memory for a caller that issues many at once (the
    dunning sweep): a new number and payment keys, due ``due_days`` after ``today``, everything billed and paid
    carried over, the same chain, base date and status. The caller adds it, marks ``old`` re-billed (the consumer's
    overdue count is unchanged: one past-due invoice replaces another) and adds the re-bill's charges."""
    reissue = old.reissue + 1
    new = Invoice(
        tenant_id=old.tenant_id,
        id=invoice_id,
        number=number,
        order_id=old.order_id,
        merchant_id=old.merchant_id,
        consumer_id=old.consumer_id,
        capture_id=old.capture_id,
        delivery=old.delivery,
        status=old.status,
        currency=old.currency,
        principal=old.principal,
        fee=old.fee,
        fee_tax=old.fee_tax,
        fee_recognized=old.fee_recognized,
        issue_date=today,
        due_date=today + dt.timedelta(days=due_days),
        payment_number=keys.payment_number(policy.issuer_code, number, min(reissue, keys.MAX_REISSUE)),
        virtual_account=f"{policy.virtual_account_bank}-{policy.virtual_account_branch}-{virtual_account_for(number)}",
        reissue=reissue,
        supersedes_id=old.id,
        payer_kana=old.payer_kana,
        chain_id=old.chain_id,
        dunning_base_date=old.dunning_base_date,
        rebill_count=old.rebill_count + 1,
        created_at=clock.utc_now(),
    )
    carry_over(old, new)
    return new


def date_from(invoice: Invoice, policy: CreditPolicy) -> None:
    """Date an unpaid invoice from today (JST): issue date today, due date + the policy's days. The payment
    keys do not change (the barcode's due date is computed from the invoice when printed)."""
    if invoice.paid_amount or invoice.status != "issued":
        return
    today = clock.jst_today()
    invoice.issue_date, invoice.due_date = today, today + dt.timedelta(days=policy.invoice_due_days)


async def set_status(session: AsyncSession, invoice: Invoice, status: str) -> None:
    """Move an invoice to ``status``, keeping its consumer's ``overdue_count`` (the invoices past due, which
    checkout reads to decline) in step when the invoice enters or leaves the past-due statuses."""
    before = invoice.status in OVERDUE_STATUSES
    invoice.status = status
    after = status in OVERDUE_STATUSES
    if before != after and invoice.consumer_id is not None:
        await adjust_overdue_count(session, invoice.tenant_id, invoice.consumer_id, 1 if after else -1)


async def adjust_overdue_count(session: AsyncSession, tenant_id: str, consumer_id: str, delta: int) -> None:
    """Change a consumer's overdue count by ``delta``, following merges (a merged consumer's counts moved to the
    consumer it was merged into)."""
    for _ in range(6):
        result = await session.execute(
            update(Consumer)
            .where(Consumer.tenant_id == tenant_id, Consumer.id == consumer_id, Consumer.merged_into.is_(None))
            .values(overdue_count=Consumer.overdue_count + delta)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return
        merged_into = await session.scalar(
            select(Consumer.merged_into).where(Consumer.tenant_id == tenant_id, Consumer.id == consumer_id)
        )
        if merged_into is None:
            return  # the consumer is gone (cannot happen: consumers are never deleted)
        consumer_id = merged_into
    raise RuntimeError(f"consumer {consumer_id}: merge chain did not settle")


async def void(invoice: Invoice, reason: str, session: AsyncSession, actor: Principal | str = "system") -> None:
    """Void an open invoice (its payment keys stop being accepted as this invoice's)."""
    await set_status(session, invoice, "voided")
    invoice.voided_at = clock.utc_now()
    invoice.void_reason = reason
    audit.record(
        session,
        tenant_id=invoice.tenant_id,
        actor=actor,
        action="invoice.voided",
        resource_type="invoice",
        resource_id=invoice.id,
        data={"reason": reason},
    )


async def open_invoices_of_order(session: AsyncSession, tenant_id: str, order_id: str) -> list[Invoice]:
    """The order's open invoices, newest first, locked (the order row is locked first by every caller)."""
    stmt = (
        select(Invoice)
        .where(Invoice.tenant_id == tenant_id, Invoice.order_id == order_id, Invoice.status.in_(OPEN_STATUSES))
        .order_by(Invoice.id.desc())
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return list((await session.scalars(stmt)).all())


async def invoices_of_order(session: AsyncSession, principal: Principal, order_id: str) -> list[Invoice]:
    stmt = readable_statement(Invoice, principal).where(Invoice.order_id == order_id).order_by(Invoice.id)
    return list((await session.scalars(stmt)).all())


def barcode_data(invoice: Invoice, policy: CreditPolicy) -> str | None:
    """The GS1-128 convenience-store barcode data of an invoice; ``None`` above the slip maximum (¥999,999).

    The stamp-duty flag is set when the tax-exclusive total reaches ¥50,000 (taken as total × 100/110: the
    consumer fee and most goods are at 10 %; a reduced-rate order errs towards the flag)."""
    if not 1 <= invoice.balance <= keys.MAX_BARCODE_AMOUNT:
        return None
    return keys.gs1_128_barcode_data(
        company_code=policy.barcode_company_code,
        issuer_code=policy.issuer_code,
        seq=invoice.number,
        due_date=invoice.due_date,
        amount=invoice.balance,
        reissue=min(invoice.reissue, keys.MAX_REISSUE),
        stamp=invoice.balance * 100 >= 50_000 * 110,
    )


def render_invoice(invoice: Invoice) -> dict[str, Any]:
    """The merchant's and the webhook's view of an invoice."""
    return {
        "object": "invoice",
        "id": invoice.id,
        "number": invoice.number,
        "order_id": invoice.order_id,
        "status": invoice.status,
        "delivery": invoice.delivery,
        "currency": invoice.currency,
        "principal": invoice.principal,
        "fee": invoice.fee,
        "fee_tax": invoice.fee_tax,
        "total": invoice.total,
        "late_fee": invoice.late_fee,
        "damages": invoice.damages,
        "paid_amount": invoice.paid_amount,
        "waived": invoice.waived,
        "rebill_count": invoice.rebill_count,
        "transfer_reference": keys.transfer_reference(invoice.number) if invoice.number < 10**9 else None,
        "balance": invoice.balance,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "payment_number": invoice.payment_number,
        "virtual_account": invoice.virtual_account,
        "supersedes_id": invoice.supersedes_id,
        "voided_at": invoice.voided_at.isoformat() if invoice.voided_at else None,
        "created_at": invoice.created_at.isoformat(),
    }
