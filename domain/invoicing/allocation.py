"""The payment waterfall: how money paid on an invoice is split among what the invoice bills.

Order (民法489条: costs, then interest, then principal): re-bill fees (延滞事務手数料) → late damages (遅延損害金)
→ the consumer fee (請求手数料) → principal; anything beyond the balance is an overpayment the caller handles.
``take_back`` undoes a payment in the reverse order (principal first), for reversals and for amounts an invoice
no longer bills (a refund, a lowered order).

Pure: it changes the invoice's ``paid_*`` columns in memory and returns the split; the caller posts the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.invoicing.models import Invoice

COMPONENTS = ("late_fee", "damages", "fee", "principal")


@dataclass(frozen=True, slots=True)
class Split:
    late_fee: int = 0
    damages: int = 0
    fee: int = 0
    principal: int = 0
    excess: int = 0  # beyond the balance (allocate) or beyond what was paid (take_back)

    @property
    def applied(self) -> int:
        return self.late_fee + self.damages + self.fee + self.principal

    @property
    def charges(self) -> int:
        """The part booked to late_fee_receivable (re-bill fees and damages)."""
        return self.late_fee + self.damages

    @property
    def receivable(self) -> int:
        """The part booked to consumer_receivable (consumer fee and principal)."""
        return self.fee + self.principal


def unpaid(invoice: Invoice, component: str) -> int:
    return getattr(invoice, component) - getattr(invoice, f"paid_{component}")


def allocate(invoice: Invoice, amount: int) -> Split:
    """Apply ``amount`` to the invoice's unpaid components in waterfall order, up to its balance. (A waiver only
    ever closes an invoice, so an invoice with a balance has waived nothing.)"""
    if amount < 0:
        raise ValueError("amount must not be negative")
    left = min(amount, max(invoice.balance, 0))
    parts: dict[str, int] = {}
    for component in COMPONENTS:
        take = min(left, unpaid(invoice, component))
        parts[component] = take
        setattr(invoice, f"paid_{component}", getattr(invoice, f"paid_{component}") + take)
        left -= take
    applied = sum(parts.values())
    invoice.paid_amount += applied
    return Split(**parts, excess=amount - applied)


def take_back(invoice: Invoice, amount: int) -> Split:
    """Undo up to ``amount`` of what was paid, principal first (the reverse of the waterfall)."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    left = min(amount, invoice.paid_amount)
    parts: dict[str, int] = {}
    for component in reversed(COMPONENTS):
        take = min(left, getattr(invoice, f"paid_{component}"))
        parts[component] = take
        setattr(invoice, f"paid_{component}", getattr(invoice, f"paid_{component}") - take)
        left -= take
    taken = sum(parts.values())
    invoice.paid_amount -= taken
    return Split(**parts, excess=amount - taken)


def copy_paid(source: Invoice, target: Invoice) -> None:
    """A successor invoice carries what was paid on (and forgiven of) the one it replaces."""
    for component in COMPONENTS:
        setattr(target, f"paid_{component}", getattr(source, f"paid_{component}"))
    target.paid_amount = source.paid_amount
    target.waived = source.waived
