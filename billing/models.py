"""Platform billing: the catalog, tenants' subscriptions and their change log, invoices with lines and a tax
summary per rate, credit notes (適格返還請求書), tenants' payments, and the platform's own ledger.

These rows are the platform's own documents (we are the issuer; an operator is the customer), so they are not
``TenantOwned``: ``tenant_id`` is a plain reference to the customer operator, and invoice numbers are unique per
issuer across every tenant. Operators read their own invoices through ``billing.repository.readable``.

What never changes, enforced by triggers on PostgreSQL (migration 0008) and by the service elsewhere:
plan versions once created; invoices, their lines and tax summaries once finalized; credit notes; the ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit import clock
from domain.kit.db import ID_LENGTH, Base, JSONType, Timestamped

PLAN_KINDS = ("base", "addon")
LINE_KINDS = ("base_fee", "addon_fee", "usage", "usage_correction")


class BillingIssuer(Timestamped, Base):
    """Who issues the invoices: the platform's company, with its 適格請求書発行事業者 registration number.

    One row (``id = "platform"``); every invoice keeps a snapshot of it, so a later change never alters an issued
    document."""

    __tablename__ = "billing_issuer"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    registration_number: Mapped[str] = mapped_column(String(14))  # T + 13 digits, check digit verified
    address: Mapped[str] = mapped_column(String(300))
    contact: Mapped[str] = mapped_column(String(200), default="")
    bank_account: Mapped[str] = mapped_column(String(200), default="")  # shown on the invoice: where to pay
    rounding: Mapped[str] = mapped_column(String(16), default="ROUND_DOWN")  # of tax, once per invoice per rate
    invoice_prefix: Mapped[str] = mapped_column(String(10), default="INV")
    credit_note_prefix: Mapped[str] = mapped_column(String(10), default="CN")
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=0)  # 0: end of the month of issue
    grace_days: Mapped[int] = mapped_column(Integer, default=3)  # days after month end before finalizing
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)


class Plan(Timestamped, Base):
    """A product of the catalog (``standard``, ``premium``, or an add-on such as ``chargeback_guarantee``)."""

    __tablename__ = "billing_plans"
    __table_args__ = (CheckConstraint("kind IN ('base', 'addon')", name="kind"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # base: one per tenant at a time | addon


class PlanVersion(Timestamped, Base):
    """The price of a plan from a version on: immutable (a price change is a new version; subscriptions keep the
    version they took until they change plan).

    ``charges`` is a list of usage charges, one per metric::

        [{"metric": "screening", "included": 1000,
          "tiers": [{"up_to": 10000, "unit_price": "4"}, {"up_to": null, "unit_price": "2.5"}]}]

    Tiers are graduated over the units *beyond* those included (``up_to`` counts those units, ``null`` is the
    last, open tier). Unit prices are decimal strings (fractional yen allowed); each line is rounded once.
    """

    __tablename__ = "billing_plan_versions"
    __table_args__ = (
        UniqueConstraint("plan_id", "version"),
        CheckConstraint("monthly_fee >= 0", name="fee_not_negative"),
        CheckConstraint("tax_rate IN (0, 8, 10)", name="tax_rate"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("billing_plans.id"))
    version: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    monthly_fee: Mapped[int] = mapped_column(BigInteger)  # tax excluded, minor units
    tax_rate: Mapped[int] = mapped_column(SmallInteger)  # percent: 10 standard, 8 reduced, 0 exempt
    charges: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    line_rounding: Mapped[str] = mapped_column(String(16), default="ROUND_DOWN")
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))


class Subscription(Timestamped, Base):
    """A tenant's subscription to one plan version over [start_date, end_date) (JST dates; ``end_date`` is the
    first day without service, ``None`` while open). A plan change ends one subscription and starts the next on
    the same day (``replaces_id``), so proration is the days each covers."""

    __tablename__ = "billing_subscriptions"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date > start_date", name="period"),
        Index("ix_billing_subscriptions_tenant", "tenant_id", "start_date"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("operators.id"))
    plan_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("billing_plans.id"))
    plan_version_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("billing_plan_versions.id"))
    kind: Mapped[str] = mapped_column(String(10))  # the plan's kind, copied for the overlap rule
    monthly_fee: Mapped[int] = mapped_column(BigInteger)  # the version's, copied: the stock revenue it carries
    currency: Mapped[str] = mapped_column(String(3))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    replaces_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    ended_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))


class SubscriptionChange(Base):
    """The append-only log every KPI is recomputed from: one row per start or end of a subscription, with the
    change of stock revenue (the fixed monthly fee) it makes on its effective date."""

    __tablename__ = "billing_subscription_changes"
    __table_args__ = (
        CheckConstraint("action IN ('start', 'end')", name="action"),
        UniqueConstraint("subscription_id", "action"),
        Index("ix_billing_subscription_changes_effective", "effective_date"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("operators.id"))
    subscription_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("billing_subscriptions.id"))
    action: Mapped[str] = mapped_column(String(10))  # start | end
    reason: Mapped[str] = mapped_column(String(20))  # new | plan_change | cancel
    effective_date: Mapped[dt.date] = mapped_column(Date)
    stock_delta: Mapped[int] = mapped_column(BigInteger)  # + fee on start, − fee on end
    currency: Mapped[str] = mapped_column(String(3))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)


class LateUsageMark(Base):
    """A hint that usage arrived for a month already past (ingested with an old ``occurred_at``): the billing run
    recounts that month for the tenant and bills any difference as a correction line. Correctness comes from the
    recount against what was billed; the mark only says where to look."""

    __tablename__ = "billing_late_usage"

    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("operators.id"), primary_key=True)
    service_month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    marked_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)


class BillingInvoice(Timestamped, Base):
    """A tenant's invoice for one service month (JST calendar month): a draft until finalized, then immutable.

    Numbers are given at finalization, gapless per issuer. Payment state is derived from payments and credit
    notes, never stored on the invoice."""

    __tablename__ = "billing_invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "service_month"),
        UniqueConstraint("number_seq"),
        UniqueConstraint("number"),
        CheckConstraint("status IN ('draft', 'finalized')", name="status"),
        CheckConstraint(
            "(status = 'draft' AND number IS NULL) OR (status = 'finalized' AND number IS NOT NULL)", name="numbered"
        ),
        CheckConstraint("total = subtotal + tax_total", name="total"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("operators.id"))
    service_month: Mapped[dt.date] = mapped_column(Date)  # the first day of the month billed
    status: Mapped[str] = mapped_column(String(10))
    number_seq: Mapped[int | None] = mapped_column(BigInteger)
    number: Mapped[str | None] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)  # tax excluded
    tax_total: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    issue_date: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    issuer: Mapped[dict[str, Any]] = mapped_column(default=dict)  # snapshot: name, registration number, address
    customer: Mapped[dict[str, Any]] = mapped_column(default=dict)  # snapshot: the operator's name and id
    rounding: Mapped[str] = mapped_column(String(16))
    computed_at: Mapped[dt.datetime]  # when the usage was last counted
    finalized_at: Mapped[dt.datetime | None]
    finalized_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))


class BillingInvoiceLine(Base):
    """One line: a monthly fee (prorated by days), the usage of one tier, or a correction for a past month.

    ``amount`` is rounded once per line; tax is never computed per line (see ``BillingInvoiceTax``)."""

    __tablename__ = "billing_invoice_lines"
    __table_args__ = (
        UniqueConstraint("invoice_id", "position"),
        CheckConstraint("kind IN ('base_fee', 'addon_fee', 'usage', 'usage_correction')", name="kind"),
        CheckConstraint("quantity >= 0 AND amount >= 0", name="not_negative"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("billing_invoices.id"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(300))
    subscription_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    plan_version_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    metric: Mapped[str | None] = mapped_column(String(40))
    service_month: Mapped[dt.date] = mapped_column(Date)  # a correction's is the month it corrects
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)  # exclusive
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[str] = mapped_column(String(30))  # decimal text; the prorated fee's is the full fee
    amount: Mapped[int] = mapped_column(BigInteger)  # tax excluded, rounded once
    tax_rate: Mapped[int] = mapped_column(SmallInteger)


class BillingInvoiceTax(Base):
    """The invoice's consumption tax: once per rate, on the rate's total (適格請求書: 税率ごとに1回の端数処理)."""

    __tablename__ = "billing_invoice_taxes"

    invoice_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("billing_invoices.id"), primary_key=True)
    tax_rate: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    taxable_base: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)


class UsageSnapshot(Base):
    """What an invoice billed for one subscription's usage of one metric in one month: the units counted then and
    the amount billed for them. A later recount that finds more bills only the difference (a correction line)."""

    __tablename__ = "billing_usage_snapshots"
    __table_args__ = (
        Index("ix_billing_usage_snapshots_key", "tenant_id", "subscription_id", "metric", "service_month"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("billing_invoices.id"))
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("operators.id"))
    subscription_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    metric: Mapped[str] = mapped_column(String(40))
    service_month: Mapped[dt.date] = mapped_column(Date)
    counted: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)


class CreditNote(Timestamped, Base):
    """A 適格返還請求書: a reduction of a finalized invoice, per tax rate, with its own gapless number."""

    __tablename__ = "billing_credit_notes"
    __table_args__ = (
        UniqueConstraint("number_seq"),
        UniqueConstraint("number"),
        CheckConstraint("subtotal > 0 AND tax_total >= 0 AND total = subtotal + tax_total", name="amounts"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("operators.id"))
    invoice_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("billing_invoices.id"))
    number_seq: Mapped[int] = mapped_column(BigInteger)
    number: Mapped[str] = mapped_column(String(30))
    issue_date: Mapped[dt.date] = mapped_column(Date)
    # The original sale (a 適格返還請求書 names it): the invoice's number, its month and its issue date.
    invoice_number: Mapped[str] = mapped_column(String(30))
    invoice_service_month: Mapped[dt.date] = mapped_column(Date)
    invoice_issue_date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(300))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    tax_total: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    # Under ¥10,000 tax included, a 適格返還請求書 need not be issued (消法57の4③); we issue it anyway and flag it.
    qualified_required: Mapped[bool]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)  # [{description, amount, tax_rate}]
    taxes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)  # [{tax_rate, taxable_base, tax}]
    issuer: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))


class BillingPayment(Timestamped, Base):
    """A tenant's payment of an invoice (bank transfer to the platform), recorded by platform finance."""

    __tablename__ = "billing_payments"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("operators.id"))
    invoice_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("billing_invoices.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_on: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))


class PlatformJournalEntry(Base):
    """The platform's own ledger: one balanced entry per invoice finalized, credit note and payment."""

    __tablename__ = "billing_journal_entries"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    source_ref: Mapped[str] = mapped_column(String(200), unique=True)  # posts once per business event
    tenant_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))  # the customer it concerns
    effective_date: Mapped[dt.date] = mapped_column(Date)
    memo: Mapped[str] = mapped_column(String(500), default="")
    posted_at: Mapped[dt.datetime] = mapped_column(default=clock.utc_now)


class PlatformPosting(Base):
    __tablename__ = "billing_postings"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("direction IN ('debit', 'credit')", name="direction"),
        Index("ix_billing_postings_entry", "entry_id"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("billing_journal_entries.id"))
    account: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(6))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
