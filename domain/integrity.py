"""Every invariant the platform promises, checked over the whole database (``bnpl check``).

Each check is one read-only SQL query (PostgreSQL and SQLite) that answers the rows violating it, so a clean
database answers nothing. They compare figures kept in two places, the way an auditor ties a sub-ledger to the
general ledger:

* the operators' double-entry ledgers: every entry balances per currency and has two postings or more; every
  tenant's debits equal its credits; the platform's own ledger balances;
* payments: none is applied twice (the cash a payment's allocations distribute is its amount, or nothing while it
  is unreconciled or reversed), none is recorded twice (external ids), and suspense (仮受金) holds exactly what the
  allocations put there;
* invoices: what each says was paid, per component, is what the allocations paid it;
* credit: each consumer's exposure is the sum of its orders';
* usage: no event is counted twice, and each screening event names a screening;
* settlement: each statement's arithmetic holds, its lines add up to its sales, refunds, claw-backs, consumers'
  payments and carry-in, and each payout booked equals its statement's payout;
* platform billing: each invoice's lines add up to it, and a month's usage is billed on one invoice;
* the outbox: nothing waits longer than ``stuck_after`` to be relayed, nothing is in flight longer than the
  redelivery allows; dead messages are reported (a person decides), not counted as violations.

The checks read committed data under one snapshot (REPEATABLE READ on PostgreSQL), so concurrent traffic cannot
make a consistent database look inconsistent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.kit import clock

SIGNED = "CASE WHEN p.direction = 'credit' THEN p.amount ELSE -p.amount END"  # + credit, − debit

# Allocation components that distribute a payment's cash (domain/collections/effects.py): the rest (waivers, the
# guarantee's bookkeeping, the exposure released) move no money.
CASH = "('late_fee', 'damages', 'fee', 'principal', 'overpayment', 'misc', 'suspense', 'refunded')"
RECOVERY = "'r:%'"


def _account_vs(account: str, component: str, *, sign: str = "") -> str:
    """A holding account's balance (credit-normal) against what the allocations put there, per tenant and
    currency."""
    return f"""
        WITH ledger AS (
            SELECT p.tenant_id, p.currency, SUM({SIGNED}) AS balance
            FROM ledger_postings p
            JOIN ledger_accounts a ON a.tenant_id = p.tenant_id AND a.id = p.account_id
            WHERE a.key = '{account}'
            GROUP BY p.tenant_id, p.currency
        ), held AS (
            SELECT al.tenant_id, pay.currency, {sign}SUM(al.amount) AS held
            FROM payment_allocations al
            JOIN payments pay ON pay.tenant_id = al.tenant_id AND pay.id = al.payment_id
            WHERE al.component = '{component}'
            GROUP BY al.tenant_id, pay.currency
        )
        SELECT COALESCE(l.tenant_id, h.tenant_id), COALESCE(l.currency, h.currency),
               COALESCE(l.balance, 0), COALESCE(h.held, 0)
        FROM ledger l FULL OUTER JOIN held h ON h.tenant_id = l.tenant_id AND h.currency = l.currency
        WHERE COALESCE(l.balance, 0) <> COALESCE(h.held, 0)
    """


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    promise: str  # what holds when the query answers nothing
    sql: str
    columns: tuple[str, ...]  # names of the answered columns, for the report
    dialects: tuple[str, ...] = ("postgresql", "sqlite")


CHECKS: tuple[Check, ...] = (
    Check(
        "ledger.entries_balance",
        "every journal entry's debits equal its credits, per currency",
        f"""SELECT p.tenant_id, p.entry_id, p.currency, SUM({SIGNED}) FROM ledger_postings p
            GROUP BY p.tenant_id, p.entry_id, p.currency HAVING SUM({SIGNED}) <> 0""",
        ("tenant", "entry", "currency", "credits - debits"),
    ),
    Check(
        "ledger.entries_have_two_postings",
        "every journal entry has two postings or more",
        """SELECT e.tenant_id, e.id, COUNT(p.id) FROM journal_entries e
            LEFT JOIN ledger_postings p ON p.tenant_id = e.tenant_id AND p.entry_id = e.id
            GROUP BY e.tenant_id, e.id HAVING COUNT(p.id) < 2""",
        ("tenant", "entry", "postings"),
    ),
    Check(
        "ledger.postings_agree_with_accounts",
        "every posting is in its account's tenant and currency",
        """SELECT p.tenant_id, p.id, p.currency, a.currency FROM ledger_postings p
            LEFT JOIN ledger_accounts a ON a.tenant_id = p.tenant_id AND a.id = p.account_id
            WHERE a.id IS NULL OR a.currency <> p.currency""",
        ("tenant", "posting", "posting currency", "account currency"),
    ),
    Check(
        "ledger.trial_balance",
        "each tenant's debits equal its credits, per currency (the trial balance's bottom line)",
        f"""SELECT p.tenant_id, p.currency, SUM({SIGNED}) FROM ledger_postings p
            GROUP BY p.tenant_id, p.currency HAVING SUM({SIGNED}) <> 0""",
        ("tenant", "currency", "credits - debits"),
    ),
    Check(
        "platform_ledger.entries_balance",
        "every entry of the platform's own ledger balances",
        """SELECT p.entry_id, SUM(CASE WHEN p.direction = 'credit' THEN p.amount ELSE -p.amount END)
            FROM billing_postings p GROUP BY p.entry_id
            HAVING SUM(CASE WHEN p.direction = 'credit' THEN p.amount ELSE -p.amount END) <> 0""",
        ("entry", "credits - debits"),
    ),
    Check(
        "payments.recorded_once",
        "a payment's external id is recorded once per operator",
        """SELECT tenant_id, external_id, COUNT(*) FROM payments GROUP BY tenant_id, external_id
            HAVING COUNT(*) > 1""",
        ("tenant", "external id", "rows"),
    ),
    Check(
        "payments.applied_once",
        "the cash a payment's allocations distribute is its amount (nothing while unreconciled or reversed)",
        f"""SELECT pay.tenant_id, pay.id, pay.status, pay.amount, COALESCE(SUM(al.amount), 0)
            FROM payments pay
            LEFT JOIN payment_allocations al ON al.tenant_id = pay.tenant_id AND al.payment_id = pay.id
                AND (al.component IN {CASH} OR al.component LIKE {RECOVERY})
            WHERE pay.kind = 'payment'
            GROUP BY pay.tenant_id, pay.id, pay.status, pay.amount
            HAVING COALESCE(SUM(al.amount), 0) <> CASE WHEN pay.status IN ('received', 'reversed') THEN 0
                                                       ELSE pay.amount END""",
        ("tenant", "payment", "status", "amount", "allocated cash"),
    ),
    Check(
        "payments.suspense_in_ledger",
        "the suspense account (仮受金) holds what the allocations put in suspense",
        _account_vs("suspense", "suspense"),
        ("tenant", "currency", "ledger", "allocations"),
        dialects=("postgresql",),  # FULL OUTER JOIN: SQLite 3.39+ only
    ),
    Check(
        "invoices.paid_is_allocated",
        "what each invoice says was paid, per component, is what the allocations paid it",
        """SELECT i.tenant_id, i.id,
                  i.paid_late_fee, i.paid_damages, i.paid_fee, i.paid_principal,
                  COALESCE(SUM(CASE WHEN al.component IN ('late_fee', 'r:late_fee') THEN al.amount END), 0),
                  COALESCE(SUM(CASE WHEN al.component IN ('damages', 'r:damages') THEN al.amount END), 0),
                  COALESCE(SUM(CASE WHEN al.component IN ('fee', 'r:fee') THEN al.amount END), 0),
                  COALESCE(SUM(CASE WHEN al.component IN ('principal', 'r:principal') THEN al.amount END), 0)
            FROM invoices i
            LEFT JOIN payment_allocations al ON al.tenant_id = i.tenant_id AND al.invoice_id = i.id
            GROUP BY i.tenant_id, i.id, i.paid_late_fee, i.paid_damages, i.paid_fee, i.paid_principal
            HAVING i.paid_late_fee <> COALESCE(SUM(CASE WHEN al.component IN ('late_fee', 'r:late_fee')
                                                        THEN al.amount END), 0)
                OR i.paid_damages <> COALESCE(SUM(CASE WHEN al.component IN ('damages', 'r:damages')
                                                       THEN al.amount END), 0)
                OR i.paid_fee <> COALESCE(SUM(CASE WHEN al.component IN ('fee', 'r:fee') THEN al.amount END), 0)
                OR i.paid_principal <> COALESCE(SUM(CASE WHEN al.component IN ('principal', 'r:principal')
                                                         THEN al.amount END), 0)""",
        (
            "tenant",
            "invoice",
            "paid late fee",
            "paid damages",
            "paid fee",
            "paid principal",
            "allocated late fee",
            "allocated damages",
            "allocated fee",
            "allocated principal",
        ),
    ),
    Check(
        "credit.exposure",
        "each consumer's credit exposure is the sum of its orders' (merged consumers' orders count for the survivor)",
        """WITH owner AS (
                SELECT o.tenant_id, COALESCE(c.merged_into, c.id) AS consumer_id, SUM(o.exposure) AS exposure
                FROM orders o JOIN consumers c ON c.tenant_id = o.tenant_id AND c.id = o.consumer_id
                GROUP BY o.tenant_id, COALESCE(c.merged_into, c.id)
            )
            SELECT c.tenant_id, c.id, c.outstanding, COALESCE(w.exposure, 0) FROM consumers c
            LEFT JOIN owner w ON w.tenant_id = c.tenant_id AND w.consumer_id = c.id
            WHERE c.merged_into IS NULL AND c.outstanding <> COALESCE(w.exposure, 0)""",
        ("tenant", "consumer", "outstanding", "orders' exposure"),
    ),
    Check(
        "usage.counted_once",
        "a billable event is recorded once per operator, kind and source",
        """SELECT tenant_id, kind, source_id, COUNT(*) FROM usage_events GROUP BY tenant_id, kind, source_id
            HAVING COUNT(*) > 1""",
        ("tenant", "kind", "source", "rows"),
    ),
    Check(
        "usage.screenings_exist",
        "every screening usage event names a screening of its operator",
        """SELECT u.tenant_id, u.id, u.source_id FROM usage_events u
            LEFT JOIN fraud_screenings s ON s.tenant_id = u.tenant_id AND s.id = u.source_id
            WHERE u.kind = 'screening' AND s.id IS NULL""",
        ("tenant", "usage event", "screening"),
    ),
    Check(
        "settlement.statement_arithmetic",
        "net = sales − refunds − claw-backs + consumers' payments + carry-in − fees − tax, and "
        "net = payout + carry-out + transfer fee",
        """SELECT tenant_id, id, net, payout, carry_out, transfer_fee FROM settlements
            WHERE net <> sales - refunds - clawbacks + unguaranteed_paid + carry_in - rate_fee - invoice_fees
                         - monthly_fee - fee_tax
               OR net <> payout + carry_out + transfer_fee""",
        ("tenant", "statement", "net", "payout", "carry-out", "transfer fee"),
    ),
    Check(
        "settlement.lines_add_up",
        "a statement's lines add up to its sales, refunds, claw-backs, consumers' payments, carry-in and monthly fee",
        """SELECT s.tenant_id, s.id,
                  s.sales - s.refunds - s.clawbacks + s.unguaranteed_paid + s.carry_in - s.monthly_fee,
                  COALESCE(SUM(l.amount), 0)
            FROM settlements s
            LEFT JOIN settlement_lines l ON l.tenant_id = s.tenant_id AND l.settlement_id = s.id
            GROUP BY s.tenant_id, s.id, s.sales, s.refunds, s.clawbacks, s.unguaranteed_paid, s.carry_in, s.monthly_fee
            HAVING s.sales - s.refunds - s.clawbacks + s.unguaranteed_paid + s.carry_in - s.monthly_fee
                   <> COALESCE(SUM(l.amount), 0)""",
        ("tenant", "statement", "statement total", "lines"),
    ),
    Check(
        "settlement.payouts_booked",
        "each payout booked moves exactly its statement's payout off the merchant payable",
        """SELECT s.tenant_id, s.id, s.payout, SUM(CASE WHEN p.direction = 'debit' THEN p.amount ELSE 0 END)
            FROM settlements s
            JOIN journal_entries e ON e.tenant_id = s.tenant_id AND e.source_ref = 'payout:' || s.id
            JOIN ledger_postings p ON p.tenant_id = e.tenant_id AND p.entry_id = e.id
            JOIN ledger_accounts a ON a.tenant_id = p.tenant_id AND a.id = p.account_id AND a.key = 'merchant_payable'
            GROUP BY s.tenant_id, s.id, s.payout
            HAVING SUM(CASE WHEN p.direction = 'debit' THEN p.amount ELSE 0 END) <> s.payout""",
        ("tenant", "statement", "payout", "booked"),
    ),
    Check(
        "settlement.paid_statements_booked",
        "every statement in a payout file has its payout booked",
        """SELECT s.tenant_id, s.id, s.status FROM settlements s
            LEFT JOIN journal_entries e ON e.tenant_id = s.tenant_id AND e.source_ref = 'payout:' || s.id
            WHERE s.payout_file_id IS NOT NULL AND e.id IS NULL""",
        ("tenant", "statement", "status"),
    ),
    Check(
        "billing.invoices_add_up",
        "each platform invoice's lines add up to its subtotal, and subtotal + tax = total",
        """SELECT i.id, i.subtotal, i.tax_total, i.total, COALESCE(SUM(l.amount), 0)
            FROM billing_invoices i LEFT JOIN billing_invoice_lines l ON l.invoice_id = i.id
            GROUP BY i.id, i.subtotal, i.tax_total, i.total
            HAVING i.subtotal <> COALESCE(SUM(l.amount), 0) OR i.total <> i.subtotal + i.tax_total""",
        ("invoice", "subtotal", "tax", "total", "lines"),
    ),
    Check(
        "billing.usage_billed_once",
        "an operator's usage of a month is billed on one invoice (later usage only as a correction)",
        """SELECT i.tenant_id, l.service_month, l.metric, COUNT(DISTINCT i.id) FROM billing_invoice_lines l
            JOIN billing_invoices i ON i.id = l.invoice_id
            WHERE l.kind = 'usage'
            GROUP BY i.tenant_id, l.service_month, l.metric, l.subscription_id
            HAVING COUNT(DISTINCT i.id) > 1""",
        ("operator", "month", "metric", "invoices"),
    ),
)


@dataclass(slots=True)
class Outcome:
    check: Check
    rows: list[Sequence[Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rows


@dataclass(slots=True)
class OutboxState:
    pending: int
    oldest_pending_age_s: float | None
    in_flight: int
    oldest_in_flight_age_s: float | None
    dead: int

    def violations(self, *, stuck_after: dt.timedelta, in_flight_limit: dt.timedelta) -> list[str]:
        problems = []
        if self.oldest_pending_age_s is not None and self.oldest_pending_age_s > stuck_after.total_seconds():
            problems.append(
                f"{self.pending} message(s) waiting to be relayed, the oldest for {self.oldest_pending_age_s:.0f} s "
                f"(limit {stuck_after.total_seconds():.0f} s): is any relay (API, scheduler) running and the "
                "broker reachable?"
            )
        if self.oldest_in_flight_age_s is not None and self.oldest_in_flight_age_s > in_flight_limit.total_seconds():
            problems.append(
                f"{self.in_flight} message(s) relayed and not completed, the oldest for "
                f"{self.oldest_in_flight_age_s:.0f} s (limit {in_flight_limit.total_seconds():.0f} s): are "
                "workers running?"
            )
        return problems


@dataclass(slots=True)
class Report:
    outcomes: list[Outcome]
    outbox: OutboxState
    outbox_problems: list[str]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and not self.outbox_problems


async def outbox_state(session: AsyncSession) -> OutboxState:
    now = clock.utc_now()
    row = (
        await session.execute(
            text(
                """SELECT
                    SUM(CASE WHEN relayed_at IS NULL AND failed_at IS NULL THEN 1 ELSE 0 END),
                    MIN(CASE WHEN relayed_at IS NULL AND failed_at IS NULL THEN available_at END),
                    SUM(CASE WHEN relayed_at IS NOT NULL AND completed_at IS NULL AND failed_at IS NULL
                             THEN 1 ELSE 0 END),
                    MIN(CASE WHEN relayed_at IS NOT NULL AND completed_at IS NULL AND failed_at IS NULL
                             THEN created_at END),
                    SUM(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END)
                FROM outbox_messages
                WHERE completed_at IS NULL"""
            )
        )
    ).one()

    def age(value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite answers text from an aggregate
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return max(0.0, (now - value).total_seconds())

    return OutboxState(
        pending=int(row[0] or 0),
        oldest_pending_age_s=age(row[1]),
        in_flight=int(row[2] or 0),
        oldest_in_flight_age_s=age(row[3]),
        dead=int(row[4] or 0),
    )


async def run_checks(
    session: AsyncSession,
    *,
    stuck_after: dt.timedelta = dt.timedelta(minutes=10),
    in_flight_limit: dt.timedelta = dt.timedelta(minutes=30),
    limit: int = 20,
) -> Report:
    """Run every check in ``session`` (read only); at most ``limit`` violating rows are kept per check."""
    dialect = session.get_bind().dialect.name
    outcomes = []
    for check in CHECKS:
        if dialect not in check.dialects:
            continue
        rows = (await session.execute(text(check.sql + f" LIMIT {int(limit)}"))).all()
        outcomes.append(Outcome(check, [tuple(r) for r in rows]))
    outbox = await outbox_state(session)
    return Report(outcomes, outbox, outbox.violations(stuck_after=stuck_after, in_flight_limit=in_flight_limit))
