"""What a payment did, as allocation rows, and the ledger lines that book it.

A payment's effect is a list of (component, amount) rows in ``payment_allocations``; the ledger entry of any step
(apply, match from suspense, refund, write-off, reversal) is a pure function of the rows that step adds and of the
account the money came from. One function books both the per-payment path and the set-based path (which sums the
rows of thousands of payments into one entry), and a reversal books the mirror of the rows it negates.

Components and where they are credited when money comes in (the debit is the source: bank, agent collections in
transit for a convenience-store 確報, or suspense when a held payment is matched by hand):

============== =================================== ==================================================
component      credit                              meaning
============== =================================== ==================================================
late_fee       late_fee_receivable                 re-bill fees (延滞事務手数料) paid
damages        late_fee_receivable                 late damages (遅延損害金) paid
fee            consumer_receivable                 the consumer fee (請求手数料) paid
principal      consumer_receivable                 the goods amount paid
r:<component>  recoveries                          paid after the invoice was charged off
overpayment    consumer_overpayments               beyond what the invoice owed: owed back (refund)
misc           misc_income                         a small overpayment kept as income (policy)
suspense       suspense                            not identified: held for the manual queue
refunded       — (no posting: a marker)                a held amount paid back (its row pairs with a negative
                                                   overpayment/suspense row, which debits the holding account
                                                   and credits the source: the money left)
============== =================================== ==================================================

Taking a held amount to income is a negative ``overpayment``/``suspense`` row and a ``misc`` row. The rows of a
payment always add up to its amount (non-cash rows aside); a reversal adds their negation, so they add up to zero.

Non-cash rows (they do not add up to the payment's amount):

* ``waiver_c`` / ``waiver_r``: charges forgiven when the original amount was paid; the forgiven amount is taken
  off the receivable still holding it (``late_fee_receivable`` / ``consumer_receivable``) and out of the income it
  was booked to (re-bill fee income with its tax first, then late-damage income).
* ``unguaranteed``: principal paid on an order out of the payment guarantee: the merchant is owed it again
  (Dr unguaranteed_payable / Cr merchant_payable).
* ``unreleased``: principal paid beyond what the order still held of the consumer's credit exposure (no posting;
  a reversal gives back exactly the exposure the payment released).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from domain.kit.money import Money
from domain.ledger import Line, credit, debit

CREDIT_ACCOUNT = {
    "late_fee": "late_fee_receivable",
    "damages": "late_fee_receivable",
    "fee": "consumer_receivable",
    "principal": "consumer_receivable",
    "overpayment": "consumer_overpayments",
    "misc": "misc_income",
    "suspense": "suspense",
}
RECOVERY_PREFIX = "r:"
CASH_COMPONENTS = (*CREDIT_ACCOUNT, "refunded")
NON_CASH_COMPONENTS = ("waiver_c", "waiver_r", "unguaranteed", "unreleased")

SOURCE_BY_CHANNEL = {"convenience_store": "agent_collections_in_transit"}


def source_account(channel: str) -> str:
    """Where a payment's money is: the collection bank account, or the agent's for a convenience-store 確報."""
    return SOURCE_BY_CHANNEL.get(channel, "bank")


def lines_for(
    rows: Iterable[tuple[str, int]],
    *,
    source: str,
    currency: str,
    late_fee: int = 0,
    late_fee_tax: int = 0,
) -> list[Line]:
    """The balanced lines that book ``rows`` (component, signed amount) with money from ``source``.

    A positive row credits its component's account and debits ``source``; a negative row (a reversal, or money
    leaving a holding account) does the opposite. ``late_fee`` and ``late_fee_tax`` (the invoice's billed re-bill
    fees and the tax they included) split a waiver between fee income, its tax and damages income: the fee is
    forgiven first, with its share of the tax as booked (all of it when the whole fee is forgiven)."""
    totals: dict[str, int] = defaultdict(int)

    def add(account: str, amount: int) -> None:  # + credit, - debit
        totals[account] += amount

    for component, amount in rows:
        if not amount:
            continue
        if component.startswith(RECOVERY_PREFIX):
            add("recoveries", amount)
            add(source, -amount)
        elif component in CREDIT_ACCOUNT:
            add(CREDIT_ACCOUNT[component], amount)
            add(source, -amount)
        elif component == "refunded":
            continue
        elif component == "unreleased":  # bookkeeping of the credit exposure, not money
            continue
        elif component in ("waiver_c", "waiver_r"):
            add("late_fee_receivable" if component == "waiver_c" else "consumer_receivable", amount)
        elif component == "unguaranteed":
            add("merchant_payable", amount)
            add("unguaranteed_payable", -amount)
        else:
            raise ValueError(f"unknown allocation component {component!r}")
    waived = sum(a for c, a in rows if c in ("waiver_c", "waiver_r"))
    if waived:
        fee_part = max(-late_fee, min(waived, late_fee)) if waived > 0 else max(waived, -late_fee)
        tax = (late_fee_tax * abs(fee_part) // late_fee if late_fee else 0) * (1 if fee_part > 0 else -1)
        add("reissue_fee_income", -(fee_part - tax))
        add("output_consumption_tax", -tax)
        add("late_damage_income", -(waived - fee_part))
    lines: list[Line] = []
    for account in sorted(totals):
        amount = totals[account]
        if amount > 0:
            lines.append(credit(account, Money(amount, currency)))
        elif amount < 0:
            lines.append(debit(account, Money(-amount, currency)))
    return lines


def charge_off_lines(receivable: int, charges: int, currency: str) -> list[Line]:
    """Writing off what an invoice still owes: Dr bad_debt_expense / Cr consumer_receivable (fee and principal)
    + Cr late_fee_receivable (re-bill fees and damages)."""
    lines = [debit("bad_debt_expense", Money(receivable + charges, currency))]
    if receivable:
        lines.append(credit("consumer_receivable", Money(receivable, currency)))
    if charges:
        lines.append(credit("late_fee_receivable", Money(charges, currency)))
    return lines


def rebill_lines(fees: int, taxes: int, damages: int, currency: str) -> list[Line]:
    """Re-bill charges billed: Dr late_fee_receivable / Cr reissue_fee_income (the fees net of their tax) + Cr
    output_consumption_tax + Cr late_damage_income."""
    lines = [debit("late_fee_receivable", Money(fees + damages, currency))]
    if fees - taxes:
        lines.append(credit("reissue_fee_income", Money(fees - taxes, currency)))
    if taxes:
        lines.append(credit("output_consumption_tax", Money(taxes, currency)))
    if damages:
        lines.append(credit("late_damage_income", Money(damages, currency)))
    return lines
