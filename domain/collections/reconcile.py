"""Reconciliation (消込): find the invoice a payment is for, apply it with the waterfall, book it.

Matching, in order (DOMAIN.md §4): the credited virtual account → the convenience-store payment number → a
transfer reference (振込依頼人番号) in the remitter code, the EDI field or the remitter name → the remitter's
normalised kana name with the exact amount among open invoices (exactly one) → nothing: suspense (仮受金), the
manual queue. A key found on a superseded invoice (re-billed, or re-issued after a change) follows the chain to
the invoice that replaced it, so the old slip still pays.

Outcomes: ``exact`` (the balance, closed), ``partial`` (dunning goes on), ``over`` (closed; the excess is owed back,
or kept as income up to the policy's small-overpayment maximum), ``waived`` (the original amount paid after
re-bills: closed, the re-bill charges forgiven when the policy says so), ``recovery`` (paid after charge-off),
``after_close`` (the invoice was cancelled or already paid: all of it is owed back), ``unidentified`` (suspense).
Convenience-store 速報 put the invoice in ``payment_pending`` (dunning pauses) and book nothing; 確報 is the
payment. Reversals (取消, 訂正, a returned transfer) undo everything the payment did.

Locks: the order, then the consumer, then the invoice (the order every path in checkout takes). Every step
writes allocation rows (``effects.py``) and one balanced ledger entry built from them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.checkout import credit
from domain.checkout.models import Order
from domain.checkout.policy import CreditPolicy
from domain.checkout.repository import CheckoutRepository
from domain.collections import effects
from domain.collections.ladder import CollectionsPolicy, is_overdue, preliminary_hold_until
from domain.collections.models import PAYMENT, PRELIMINARY, PRELIMINARY_CANCEL, REVERSAL, Payment, PaymentAllocation
from domain.invoicing import allocation, keys
from domain.invoicing import service as invoicing
from domain.invoicing.models import OPEN_STATUSES, Invoice
from domain.kit import audit, clock
from domain.kit.dialect import for_update
from domain.kit.ids import new_id
from domain.kit.kana import match_key
from domain.ledger import post_entry
from domain.webhooks import emit

SUPERSEDED = ("rebilled", "voided")


@dataclass(frozen=True, slots=True)
class Match:
    invoice: Invoice | None
    method: str | None


# -- matching --------------------------------------------------------------------------------------------------


async def find_invoice(session: AsyncSession, payment: Payment, policy: CreditPolicy) -> Match:
    """The invoice ``payment`` is for (the head of its chain), by the first key that identifies one."""
    tenant_id = payment.tenant_id
    if payment.account:
        found = await _by_account(session, tenant_id, payment.account)
        if found is not None:
            return Match(await head_of(session, found), "virtual_account")
    if payment.payment_number:
        try:
            number = keys.parse_payment_number(payment.payment_number)
        except keys.InvalidPaymentKey:
            number = None
        if number is not None and number.issuer_code == policy.issuer_code:
            found = await _by_number(session, tenant_id, number.seq)
            if found is not None:
                return Match(await head_of(session, found), "payment_number")
    seq = keys.find_transfer_reference(payment.payer_code, payment.edi, payment.payer_name)
    if seq is not None:
        found = await _by_number(session, tenant_id, seq)
        if found is not None:
            return Match(await head_of(session, found), "reference")
    key = match_key(payment.payer_name)
    if key is not None:
        candidates = [
            invoice
            for invoice in (
                await session.scalars(
                    select(Invoice).where(
                        Invoice.tenant_id == tenant_id,
                        Invoice.payer_kana == key,
                        Invoice.status.in_(OPEN_STATUSES),
                    )
                )
            ).all()
            if invoice.balance == payment.amount
        ]
        if len(candidates) == 1:
            return Match(candidates[0], "name_amount")
    return Match(None, None)


async def _by_account(session: AsyncSession, tenant_id: str, account: str) -> Invoice | None:
    """The invoice holding a virtual account: an open one first, then one superseded (its successor holds the
    debt), then the latest (a payment after close). Accounts are reused in a cycle, so the newest wins a tie."""
    rows = (
        await session.scalars(
            select(Invoice)
            .where(Invoice.tenant_id == tenant_id, Invoice.virtual_account == account)
            .order_by(Invoice.number.desc())
            .limit(20)
        )
    ).all()
    for wanted in (OPEN_STATUSES, SUPERSEDED):
        for invoice in rows:
            if invoice.status in wanted:
                return invoice
    return rows[0] if rows else None


async def _by_number(session: AsyncSession, tenant_id: str, number: int) -> Invoice | None:
    return (
        await session.scalars(select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.number == number))
    ).one_or_none()


async def head_of(session: AsyncSession, invoice: Invoice) -> Invoice:
    """The invoice that now carries ``invoice``'s debt: its latest successor, following re-bills and re-issues."""
    for _ in range(64):
        if invoice.status not in SUPERSEDED:
            return invoice
        successor = (
            await session.scalars(
                select(Invoice)
                .where(Invoice.tenant_id == invoice.tenant_id, Invoice.supersedes_id == invoice.id)
                .order_by(Invoice.number.desc())
                .limit(1)
            )
        ).one_or_none()
        if successor is None:
            return invoice
        invoice = successor
    return invoice


# -- reconcile one payment ---------------------------------------------------------------------------------------


async def reconcile(session: AsyncSession, payment: Payment, policy: CreditPolicy) -> Payment:
    """Reconcile one received payment or notice (idempotent: anything but ``received`` is left alone).

    The payment row is re-read under its lock first: two runners of one file (the worker and ``bnpl payments
    import``, or a redelivered message) must not both act on a copy that said ``received``."""
    locked = (
        await session.scalars(
            for_update(
                session, select(Payment).where(Payment.tenant_id == payment.tenant_id, Payment.id == payment.id)
            ).execution_options(populate_existing=True)
        )
    ).one()
    if locked.status != "received":
        return locked
    payment = locked
    if payment.kind == PAYMENT:
        await _apply_payment(session, payment, policy)
    elif payment.kind == PRELIMINARY:
        await _preliminary(session, payment, policy)
    elif payment.kind == PRELIMINARY_CANCEL:
        await _preliminary_cancel(session, payment)
    elif payment.kind == REVERSAL:
        await _reverse(session, payment, policy)
    payment.reconciled_at = clock.utc_now()
    await session.flush()
    return payment


async def _apply_payment(session: AsyncSession, payment: Payment, policy: CreditPolicy) -> None:
    match = await find_invoice(session, payment, policy)
    if match.invoice is None:
        await _hold(session, payment, "suspense", "unidentified", policy)
        return
    invoice = await lock_chain(session, match.invoice)
    payment.invoice_id, payment.match_method = invoice.id, match.method
    if invoice.status not in OPEN_STATUSES:
        await _hold(session, payment, "overpayment", "after_close", policy)
        return
    await apply_to_invoice(session, payment, invoice, payment.amount, policy.collections)


async def lock_chain(session: AsyncSession, invoice: Invoice) -> Invoice:
    """Lock the invoice's order, its consumer, then the invoice (re-read: the chain may have moved on while
    unlocked), returning the chain's head as it stands under the locks."""
    order = await CheckoutRepository.from_session(session).lock_by_id(invoice.tenant_id, invoice.order_id)
    assert order is not None
    if order.consumer_id:
        await credit.hold(CheckoutRepository.from_session(session), order.tenant_id, order.consumer_id)
    locked = (
        await session.scalars(
            for_update(
                session,
                select(Invoice)
                .where(Invoice.tenant_id == invoice.tenant_id, Invoice.order_id == invoice.order_id)
                .order_by(Invoice.id)
                .execution_options(populate_existing=True),
            )
        )
    ).all()
    by_id = {i.id: i for i in locked}
    return await head_of(session, by_id[invoice.id])


async def apply_to_invoice(
    session: AsyncSession,
    payment: Payment,
    invoice: Invoice,
    amount: int,
    policy: CollectionsPolicy,
    *,
    step: str | None = None,
) -> None:
    """Apply ``amount`` of ``payment`` to a locked open invoice (the waterfall), hold any excess, book it all.
    ``payment.amount`` may differ from ``amount`` when the money is matched out of suspense by hand."""
    now = clock.utc_now()
    charged_off = invoice.status == "charged_off"
    split = allocation.allocate(invoice, amount)
    prefix = effects.RECOVERY_PREFIX if charged_off else ""
    rows: list[tuple[str, int]] = [
        (prefix + component, getattr(split, component))
        for component in allocation.COMPONENTS
        if getattr(split, component)
    ]
    outcome = "exact"
    if (
        invoice.balance > 0
        and not charged_off
        and policy.waive_charges_when_original_paid
        and invoice.paid_amount >= invoice.principal + invoice.fee
    ):
        # The consumer paid what they were first billed: the re-bill charges still open are forgiven.
        unpaid_charges = (invoice.late_fee - invoice.paid_late_fee) + (invoice.damages - invoice.paid_damages)
        unpaid_receivable = invoice.balance - unpaid_charges
        rows += [("waiver_c", unpaid_charges), ("waiver_r", unpaid_receivable)]
        invoice.waived += invoice.balance
        outcome = "waived"
    order = await session.get(Order, (invoice.tenant_id, invoice.order_id))
    assert order is not None
    if split.principal and order.guarantee == "unguaranteed":
        rows.append(("unguaranteed", split.principal))
    release = min(order.exposure, split.principal)
    if release:
        order.exposure -= release
        if order.consumer_id:
            await credit.adjust(CheckoutRepository.from_session(session), order.tenant_id, order.consumer_id, -release)
    if split.principal > release:
        rows.append(("unreleased", split.principal - release))
    if charged_off:
        invoice.recovered_amount += split.applied
        outcome = "recovery"
    if split.excess:
        rows.append(_excess_row(split.excess, policy))
        payment.open_amount += split.excess if rows[-1][0] == "overpayment" else 0
        outcome = "over"
    if invoice.balance == 0:
        invoice.closed_at = now
        invoice.payment_pending_since = None
        await invoicing.set_status(session, invoice, "recovered" if charged_off else "paid")
    else:
        if outcome == "exact":
            outcome = "partial"
        if invoice.status in ("issued", "payment_pending"):
            invoice.payment_pending_since = None
            await invoicing.set_status(session, invoice, "partially_paid")
    payment.invoice_id = invoice.id
    payment.status = "overpaid" if payment.open_amount else "applied"
    payment.outcome = outcome
    await book(session, payment, rows, invoice=invoice, kind=f"payment.{outcome}", step=step, post=not order.test_mode)
    if payment.channel == "convenience_store":
        await confirm_preliminaries(session, invoice.tenant_id, [invoice.id])
    audit.record(
        session,
        tenant_id=payment.tenant_id,
        actor=payment.resolved_by or "system",
        action="invoice.payment_applied",
        resource_type="invoice",
        resource_id=invoice.id,
        data={"payment_id": payment.id, "amount": amount, "outcome": outcome, "balance": invoice.balance},
    )
    if invoice.balance == 0:
        await emit(
            session,
            tenant_id=invoice.tenant_id,
            merchant_id=invoice.merchant_id,
            type="invoice.paid",
            data=lambda: invoicing.render_invoice(invoice),
        )


async def confirm_preliminaries(session: AsyncSession, tenant_id: str, invoice_ids: list[str]) -> None:
    """A 確報 confirms the 速報 that stood for it (they stop counting as pending)."""
    await session.execute(
        update(Payment)
        .where(
            Payment.tenant_id == tenant_id,
            Payment.invoice_id.in_(invoice_ids),
            Payment.kind == PRELIMINARY,
            Payment.status == "pending",
        )
        .values(status="confirmed")
        .execution_options(synchronize_session=False)
    )


def _excess_row(excess: int, policy: CollectionsPolicy) -> tuple[str, int]:
    return ("misc" if excess <= policy.small_overpayment_max else "overpayment", excess)


async def _hold(session: AsyncSession, payment: Payment, holding: str, outcome: str, policy: CreditPolicy) -> None:
    """Hold the whole payment: in suspense (not identified) or as an overpayment (nothing left to pay)."""
    if holding == "overpayment":
        row = _excess_row(payment.amount, policy.collections)
    else:
        row = ("suspense", payment.amount)
    payment.open_amount = payment.amount if row[0] != "misc" else 0
    payment.status = {"suspense": "unmatched", "overpayment": "overpaid", "misc": "applied"}[row[0]]
    payment.outcome = outcome
    await book(
        session, payment, [row], invoice=None, kind=f"payment.{outcome}", post=not await _sandbox(session, payment)
    )


async def _sandbox(session: AsyncSession, payment: Payment) -> bool:
    """Whether the payment was matched to a sandbox (test-mode) order's invoice: it books nothing, as in checkout."""
    if not payment.invoice_id:
        return False
    invoice = await session.get(Invoice, (payment.tenant_id, payment.invoice_id))
    if invoice is None:
        return False
    order = await session.get(Order, (invoice.tenant_id, invoice.order_id))
    return order is not None and order.test_mode


async def book(
    session: AsyncSession,
    payment: Payment,
    rows: list[tuple[str, int]],
    *,
    invoice: Invoice | None,
    kind: str,
    step: str | None = None,
    post: bool = True,
    source: str | None = None,
) -> None:
    """Store the allocation rows and post their ledger entry (once per payment and step; ``post=False`` for a
    sandbox (test-mode) order, which books nothing, as in checkout). ``source``: where the money is, when not
    where the payment's channel puts it (a reversal paired by hand: the money already left into suspense)."""
    now = clock.utc_now()
    for component, amount in rows:
        session.add(
            PaymentAllocation(
                tenant_id=payment.tenant_id,
                id=new_id("pal"),
                payment_id=payment.id,
                invoice_id=invoice.id if invoice is not None else (payment.invoice_id or ""),
                component=component,
                amount=amount,
                created_at=now,
            )
        )
    lines = effects.lines_for(
        rows,
        source=source or effects.source_account(payment.channel),
        currency=payment.currency,
        late_fee=invoice.late_fee if invoice is not None else 0,
        late_fee_tax=invoice.late_fee_tax if invoice is not None else 0,
    )
    if lines and post:
        await post_entry(
            session,
            payment.tenant_id,
            kind=kind,
            lines=lines,
            source_ref=f"payment:{payment.id}" + (f":{step}" if step else ""),
            memo=payment.external_id[:100],
        )


# -- convenience-store notices -------------------------------------------------------------------------------------


async def _preliminary(session: AsyncSession, payment: Payment, policy: CreditPolicy) -> None:
    """速報: the consumer paid at the till. Dunning pauses (payment_pending) until the 確報; nothing is booked."""
    match = await find_invoice(session, payment, policy)
    payment.status, payment.outcome = "pending", "preliminary"
    if match.invoice is None:
        payment.outcome = "preliminary_unmatched"
        return
    invoice = await lock_chain(session, match.invoice)
    payment.invoice_id, payment.match_method = invoice.id, match.method
    if await _cancelled_before(session, payment):
        return
    if invoice.status not in OPEN_STATUSES:
        # Already paid (its 確報 came first, or in the same file) or cancelled: nothing to pause.
        payment.status, payment.outcome = "confirmed" if invoice.status == "paid" else "recorded", "preliminary_closed"
        return
    invoice.payment_pending_since = clock.utc_now()
    if invoice.status in ("issued", "partially_paid"):
        await invoicing.set_status(session, invoice, "payment_pending")


async def _cancelled_before(session: AsyncSession, notice: Payment) -> bool:
    """A 速報取消 may arrive before its 速報 (another file, another day): it waited as ``cancel_unmatched``. Then the
    速報 is void on arrival and pauses nothing; the cancel is paired with it. (Called with the invoice's chain
    locked, so the lock order is the usual one.)"""
    cancel = (
        await session.scalars(
            for_update(
                session,
                select(Payment).where(
                    Payment.tenant_id == notice.tenant_id,
                    Payment.kind == PRELIMINARY_CANCEL,
                    Payment.reverses_external_id == notice.external_id,
                    Payment.outcome == "cancel_unmatched",
                ),
            )
            .order_by(Payment.id)
            .limit(1)
        )
    ).one_or_none()
    if cancel is None:
        return False
    notice.status, notice.outcome, notice.reversed_by_id = "cancelled", "preliminary", cancel.id
    cancel.outcome, cancel.invoice_id = "preliminary_cancel", notice.invoice_id
    return True


async def _preliminary_cancel(session: AsyncSession, payment: Payment) -> None:
    """速報取消: the till voided the sale. The invoice goes back to where it was unless another 速報 stands.

    Lock order as everywhere: the invoice's order (and chain) first, then the 速報's payment row."""
    payment.status, payment.outcome = "recorded", "preliminary_cancel"
    seen = await payment_by_external_id(session, payment.tenant_id, payment.reverses_external_id, lock=False)
    if seen is None or seen.kind != PRELIMINARY or seen.status != "pending":
        payment.outcome = "cancel_unmatched"
        return
    invoice = await session.get(Invoice, (payment.tenant_id, seen.invoice_id)) if seen.invoice_id else None
    if invoice is not None:
        invoice = await lock_chain(session, invoice)
    original = await payment_by_external_id(session, payment.tenant_id, payment.reverses_external_id)
    if original is None or original.status != "pending":  # confirmed or cancelled meanwhile
        payment.outcome = "cancel_unmatched"
        return
    original.status = "cancelled"
    original.reversed_by_id = payment.id
    if invoice is None:
        return
    payment.invoice_id = invoice.id
    others = await session.scalar(
        select(func.count())
        .select_from(Payment)
        .where(
            Payment.tenant_id == payment.tenant_id,
            Payment.invoice_id == invoice.id,
            Payment.kind == PRELIMINARY,
            Payment.status == "pending",
        )
    )
    if not others:
        invoice.payment_pending_since = None
        if invoice.status == "payment_pending":
            await invoicing.set_status(session, invoice, "partially_paid" if invoice.paid_amount else "issued")


def pending_until(invoice: Invoice, policy: CollectionsPolicy) -> dt.date | None:
    """The last day a standing 速報 pauses dunning (the 確報 normally arrives within days)."""
    if invoice.payment_pending_since is None:
        return None
    return preliminary_hold_until(policy, invoice.payment_pending_since.astimezone(clock.JST).date())


async def payment_by_external_id(
    session: AsyncSession, tenant_id: str, external_id: str | None, *, lock: bool = True
) -> Payment | None:
    if not external_id:
        return None
    stmt = select(Payment).where(Payment.tenant_id == tenant_id, Payment.external_id == external_id)
    if lock:
        stmt = for_update(session, stmt).execution_options(populate_existing=True)
    return (await session.scalars(stmt)).one_or_none()


# -- reversals ----------------------------------------------------------------------------------------------------


async def _reverse(session: AsyncSession, notice: Payment, policy: CreditPolicy) -> None:
    """取消 / 訂正 / a returned transfer: undo everything the original payment did. An amount already paid back
    to the payer cannot be taken back from the invoice's side: it goes to suspense for the manual queue.

    A reversal names the payment it reverses (``reverses_external_id``) and carries its amount. One that names a
    notice (a 速報) reverses no money. One that names nothing we know, or another amount, is still money that left
    the bank: it is booked out of the bank into suspense (a debit) and waits, ``unmatched``, for a person to take it
    up with the bank; the manual queue's refund and write-off do not apply to it."""
    notice.status = "recorded"
    original = await payment_by_external_id(session, notice.tenant_id, notice.reverses_external_id)
    if original is not None and original.kind != PAYMENT:
        notice.outcome = "reversal_of_notice"
        return
    if original is None or original.amount != notice.amount:
        notice.outcome = "reversal_unmatched" if original is None else "reversal_mismatch"
        notice.status = "unmatched"
        notice.open_amount = notice.amount
        await book(session, notice, [("suspense", -notice.amount)], invoice=None, kind="payment.reversal_unmatched")
        return
    if original.status == "reversed":
        notice.outcome = "duplicate"
        return
    if original.status == "received":  # reversed before it was reconciled: it never did anything
        original.status, original.reversed_by_id, notice.outcome = "reversed", notice.id, "reversed"
        original.reconciled_at = clock.utc_now()
        return
    await reverse_payment(session, original, policy, by=notice)
    notice.invoice_id, notice.outcome = original.invoice_id, "reversed"


async def reverse_payment(
    session: AsyncSession, original: Payment, policy: CreditPolicy, *, by: Payment, source: str | None = None
) -> None:
    """Negate every allocation row of ``original``, restoring the invoices it paid, and book the mirror (against
    ``source`` when the money is not where the payment's channel puts it)."""
    rows = (
        await session.scalars(
            select(PaymentAllocation)
            .where(PaymentAllocation.tenant_id == original.tenant_id, PaymentAllocation.payment_id == original.id)
            .order_by(PaymentAllocation.id)
        )
    ).all()
    net: dict[tuple[str, str], int] = {}
    for row in rows:
        net[(row.invoice_id, row.component)] = net.get((row.invoice_id, row.component), 0) + row.amount
    by_invoice: dict[str, list[tuple[str, int]]] = {}
    for (invoice_id, component), amount in net.items():
        if amount:
            by_invoice.setdefault(invoice_id, []).append((component, amount))
    sandbox = await _sandbox(session, original)
    for invoice_id, components in sorted(by_invoice.items()):
        invoice = await session.get(Invoice, (original.tenant_id, invoice_id)) if invoice_id else None
        undo: list[tuple[str, int]] = []
        written_off: tuple[int, int] | None = None
        if invoice is not None:
            invoice = await lock_chain(session, invoice)
            written_off = await _restore_invoice(session, invoice, dict(components))
        for component, amount in components:
            if component == "refunded":
                undo.append(("suspense", -amount))  # paid out already: owed back to us, chased by hand
            else:
                undo.append((component, -amount))
        step = f"reversal:{by.id}:{invoice_id}"
        await book(
            session,
            original,
            undo,
            invoice=invoice,
            kind="payment.reversed",
            step=step,
            post=not sandbox,
            source=source,
        )
        if written_off is not None and not sandbox:
            # The invoice was charged off after this payment: what the reversal puts back on it is bad debt too.
            receivable, charges = written_off
            assert invoice is not None
            await post_entry(
                session,
                original.tenant_id,
                kind="dunning.charge_off",
                lines=effects.charge_off_lines(receivable, charges, invoice.currency),
                source_ref=f"payment:{original.id}:{step}:charge_off",
                memo=f"reversal of {original.external_id[:80]}",
            )
    original.status, original.open_amount, original.reversed_by_id = "reversed", 0, by.id


async def _restore_invoice(
    session: AsyncSession, invoice: Invoice, components: dict[str, int]
) -> tuple[int, int] | None:
    """Take a reversed payment's share back off the invoice (per component), give back the credit exposure it
    released, and reopen it. When the invoice was charged off after the payment, what comes back is charged off
    too: answers (receivable, charges) to write off, else ``None``."""
    for component in allocation.COMPONENTS:
        paid = components.get(component, 0) + components.get(effects.RECOVERY_PREFIX + component, 0)
        if paid:
            setattr(invoice, f"paid_{component}", getattr(invoice, f"paid_{component}") - paid)
            invoice.paid_amount -= paid
    invoice.waived -= components.get("waiver_c", 0) + components.get("waiver_r", 0)
    recovered = sum(a for c, a in components.items() if c.startswith(effects.RECOVERY_PREFIX))
    invoice.recovered_amount -= recovered
    principal = components.get("principal", 0) + components.get(effects.RECOVERY_PREFIX + "principal", 0)
    released = principal - components.get("unreleased", 0)
    if released > 0:
        order = await session.get(Order, (invoice.tenant_id, invoice.order_id))
        assert order is not None
        if order.consumer_id and order.status not in ("cancelled", "expired", "declined"):
            order.exposure += released
            await credit.adjust(CheckoutRepository.from_session(session), order.tenant_id, order.consumer_id, released)
    written_off = None
    if invoice.status == "charged_off":
        receivable = components.get("fee", 0) + components.get("principal", 0)
        charges = components.get("late_fee", 0) + components.get("damages", 0)
        if receivable + charges:
            invoice.charged_off_amount += receivable + charges
            written_off = (receivable, charges)
    if invoice.balance > 0 and invoice.status in ("paid", "recovered", "partially_paid", "payment_pending", "issued"):
        invoice.closed_at = None
        await invoicing.set_status(session, invoice, reopened_status(invoice))
    return written_off


def reopened_status(invoice: Invoice, today: dt.date | None = None) -> str:
    """The status an invoice with a balance has, from the facts (what dunning reached, what was paid)."""
    today = today or clock.jst_today()
    if invoice.charged_off_amount:
        return "charged_off"
    if invoice.status == "in_collection":
        return "in_collection"
    if invoice.dunning_base_date is not None and is_overdue(invoice.dunning_base_date, today):
        return "overdue"
    if invoice.payment_pending_since is not None:
        return "payment_pending"
    return "partially_paid" if invoice.paid_amount else "issued"
