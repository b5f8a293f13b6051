"""Schemas of platform billing: plans, subscriptions, usage events, invoices, credit notes, payments, the issuer and
KPIs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StrictInt

from app.http.schemas.common import Name, ReadModel, WriteModel
from billing.models import BillingIssuer, CreditNote, Plan, PlanVersion, Subscription
from billing.service import InvoiceView

Metric = Annotated[
    str,
    Field(
        min_length=2,
        max_length=40,
        pattern=r"^[a-z][a-z0-9_]+$",
        description="The billable metric: `screening`, or another metered product such as `omotion_check`.",
        examples=["screening"],
    ),
]
Price = Annotated[
    str,
    Field(
        pattern=r"^\d{1,9}(\.\d{1,6})?$",
        description='A unit price in yen as a decimal string (fractional allowed: "2.5").',
        examples=["4"],
    ),
]
Rate = Literal[10, 8, 0]
Rounding = Literal["ROUND_DOWN", "ROUND_HALF_UP", "ROUND_UP"]
Id = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[\x21-\x7e]+$")]
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters (PostgreSQL text refuses NUL)


class TierIn(WriteModel):
    up_to: StrictInt | None = Field(
        ge=1,
        le=10**12,
        description="The last unit of the tier, counted beyond the included units; null for the last (open) tier.",
        examples=[9000],
    )
    unit_price: Price


class ChargeIn(WriteModel):
    metric: Metric
    included: StrictInt = Field(ge=0, le=10**12, description="Units included in the monthly fee.", examples=[1000])
    tiers: list[TierIn] = Field(min_length=1, max_length=20, description="Graduated prices of the extra units.")


class PlanVersionIn(WriteModel):
    currency: Literal["JPY"] = "JPY"
    monthly_fee: StrictInt = Field(ge=0, le=100_000_000, description="Yen per month, tax excluded.", examples=[4000])
    tax_rate: Rate = Field(default=10, description="Consumption tax rate in percent (SaaS fees: 10).")
    charges: list[ChargeIn] = Field(default_factory=list, max_length=10, description="Usage charges, one per metric.")
    line_rounding: Rounding = Field(default="ROUND_DOWN", description="How a fractional line amount is rounded.")


class PlanCreate(PlanVersionIn):
    code: str = Field(min_length=2, max_length=60, pattern=r"^[a-z][a-z0-9_\-]+$", examples=["standard"])
    name: Name = Field(examples=["スタンダード (不正チェック)"])
    kind: Literal["base", "addon"] = Field(
        default="base", description="base: one per operator at a time; addon: an option on top (fee only)."
    )


class PlanVersionOut(ReadModel):
    object: Literal["plan_version"] = "plan_version"
    id: str = Field(examples=["plv_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    version: int
    currency: str
    monthly_fee: int
    tax_rate: int
    charges: list[dict[str, Any]]
    line_rounding: str
    created_at: dt.datetime

    @classmethod
    def of(cls, version: PlanVersion) -> PlanVersionOut:
        return cls.model_validate(version)


class PlanOut(ReadModel):
    object: Literal["plan"] = "plan"
    id: str = Field(examples=["pln_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    code: str
    name: str
    kind: Literal["base", "addon"]
    versions: list[PlanVersionOut] = Field(description="Oldest first; the last is what new subscriptions take.")
    created_at: dt.datetime

    @classmethod
    def of(cls, plan: Plan, versions: list[PlanVersion]) -> PlanOut:
        return cls(
            id=plan.id,
            code=plan.code,
            name=plan.name,
            kind=plan.kind,  # type: ignore[arg-type]
            versions=[PlanVersionOut.of(v) for v in versions],
            created_at=plan.created_at,
        )


class SubscriptionCreate(WriteModel):
    operator_id: Id = Field(description="The operator subscribing (the platform's customer).")
    plan_id: Id
    version_id: Id | None = Field(default=None, description="A version of the plan; default its latest.")
    start_date: dt.date | None = Field(default=None, description="First day of service (JST); default today.")


class SubscriptionCancel(WriteModel):
    effective_date: dt.date | None = Field(
        default=None, description="First day without service (JST); default the 1st of next month."
    )


class SubscriptionChangeIn(WriteModel):
    plan_id: Id
    version_id: Id | None = None
    effective_date: dt.date | None = Field(default=None, description="Day the new plan starts (JST); default today.")


class SubscriptionOut(ReadModel):
    object: Literal["subscription"] = "subscription"
    id: str = Field(examples=["sub_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    operator_id: str = Field(validation_alias="tenant_id")
    plan_id: str
    plan_version_id: str
    kind: Literal["base", "addon"]
    monthly_fee: int
    currency: str
    start_date: dt.date
    end_date: dt.date | None = Field(description="First day without service; null while open.")
    replaces_id: str | None
    created_at: dt.datetime

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        return cls.model_validate(sub)


class UsageEventIn(WriteModel):
    operator_id: Id
    metric: Metric
    key: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[\x21-\x7e]+$",
        description="Your unique id of the event: the same key is counted once (per operator and metric).",
        examples=["omotion:2026-12-01:000123"],
    )
    quantity: StrictInt = Field(default=1, ge=1, le=1_000_000, description="Units (default 1).")
    occurred_at: AwareDatetime = Field(description="When it happened (RFC 3339 with offset); at most 60 days ago.")


class UsageEventOut(ReadModel):
    object: Literal["usage_event"] = "usage_event"
    id: str = Field(examples=["use_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    operator_id: str
    metric: str
    key: str
    quantity: int
    occurred_at: dt.datetime
    duplicate: bool = Field(description="True when this key was already recorded (the first event stands).")


class UsageSummaryOut(ReadModel):
    object: Literal["usage_summary"] = "usage_summary"
    month: str = Field(examples=["2026-11"])
    data: dict[str, dict[str, int]] = Field(description="operator id → metric → units in the month (JST).")


class BillingRunIn(WriteModel):
    as_of: dt.date = Field(description="The business date (JST): drafts the month before it, finalizes what is due.")


class IssuerIn(WriteModel):
    legal_name: Name = Field(examples=["株式会社BNPLプラットフォーム"])
    registration_number: str = Field(
        min_length=1,
        max_length=20,
        description="適格請求書発行事業者登録番号: T + 13 digits.",
        examples=["T7123456789012"],
    )
    address: str = Field(min_length=1, max_length=300, pattern=PRINTABLE, examples=["東京都港区赤坂4-3-2"])
    contact: str = Field(default="", max_length=200, pattern=PRINTABLE)
    bank_account: str = Field(
        default="", max_length=200, pattern=PRINTABLE, description="Where tenants pay, printed on invoices."
    )
    rounding: Rounding = Field(default="ROUND_DOWN", description="Tax rounding, once per invoice per rate.")
    invoice_prefix: str = Field(default="INV", pattern=r"^[A-Z]{1,10}$")
    credit_note_prefix: str = Field(default="CN", pattern=r"^[A-Z]{1,10}$")
    payment_terms_days: StrictInt = Field(default=0, ge=0, le=120, description="0: due at the end of the month.")
    grace_days: StrictInt = Field(default=3, ge=0, le=28, description="Days after month end before finalizing.")


class IssuerOut(ReadModel):
    object: Literal["billing_issuer"] = "billing_issuer"
    legal_name: str
    registration_number: str
    address: str
    contact: str
    bank_account: str
    rounding: str
    invoice_prefix: str
    credit_note_prefix: str
    payment_terms_days: int
    grace_days: int
    updated_at: dt.datetime

    @classmethod
    def of(cls, issuer: BillingIssuer) -> IssuerOut:
        return cls.model_validate(issuer)


class PlatformInvoiceLineOut(ReadModel):
    position: int
    kind: Literal["base_fee", "addon_fee", "usage", "usage_correction"]
    description: str
    metric: str | None
    subscription_id: str | None
    service_month: dt.date
    period_start: dt.date
    period_end: dt.date = Field(description="Exclusive.")
    quantity: int
    unit_price: str
    amount: int = Field(description="Tax excluded, rounded once.")
    tax_rate: int


class TaxOut(ReadModel):
    tax_rate: int
    taxable_base: int
    tax: int


class PlatformInvoiceOut(ReadModel):
    object: Literal["billing_invoice"] = "billing_invoice"
    id: str = Field(examples=["binv_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    number: str | None = Field(description="Gapless per issuer, given at finalization.", examples=["INV-00000042"])
    status: Literal["draft", "finalized"]
    payment_status: Literal["draft", "unpaid", "partially_paid", "paid", "credited"]
    operator_id: str
    service_month: str = Field(examples=["2026-11"])
    issue_date: dt.date | None
    due_date: dt.date | None
    currency: str
    subtotal: int
    tax_total: int
    total: int
    credited: int
    paid: int
    outstanding: int
    taxes: list[TaxOut] = Field(description="The tax per rate, computed once on the rate's total.")
    lines: list[PlatformInvoiceLineOut]
    issuer: dict[str, Any] = Field(description="The issuer as it was at finalization (name, T-number, address).")
    customer: dict[str, Any]
    finalized_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, view: InvoiceView, *, with_lines: bool = True) -> PlatformInvoiceOut:
        inv = view.invoice
        return cls(
            id=inv.id,
            number=inv.number,
            status=inv.status,  # type: ignore[arg-type]
            payment_status=view.payment_status,  # type: ignore[arg-type]
            operator_id=inv.tenant_id,
            service_month=f"{inv.service_month:%Y-%m}",
            issue_date=inv.issue_date,
            due_date=inv.due_date,
            currency=inv.currency,
            subtotal=inv.subtotal,
            tax_total=inv.tax_total,
            total=inv.total,
            credited=view.credited,
            paid=view.paid,
            outstanding=view.outstanding,
            taxes=[TaxOut.model_validate(t) for t in view.taxes],
            lines=[PlatformInvoiceLineOut.model_validate(ln) for ln in view.lines] if with_lines else [],
            issuer=inv.issuer,
            customer=inv.customer,
            finalized_at=inv.finalized_at,
            created_at=inv.created_at,
        )


class BillingRunOut(ReadModel):
    object: Literal["billing_run"] = "billing_run"
    as_of: dt.date
    service_month: str
    drafted: int
    finalized: int


class CreditLineIn(WriteModel):
    description: str = Field(
        min_length=1, max_length=200, pattern=PRINTABLE, examples=["2026年11月分 審査料金の値引き"]
    )
    amount: StrictInt = Field(ge=1, le=10**10, description="Yen, tax excluded.", examples=[1000])
    tax_rate: Rate = 10


class CreditNoteIn(WriteModel):
    reason: str = Field(min_length=1, max_length=300, pattern=PRINTABLE, examples=["障害による返金 (11/12 の審査停止)"])
    lines: list[CreditLineIn] = Field(min_length=1, max_length=50)


class CreditNoteOut(ReadModel):
    object: Literal["credit_note"] = "credit_note"
    id: str = Field(examples=["bcn_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    number: str = Field(examples=["CN-00000001"])
    operator_id: str = Field(validation_alias="tenant_id")
    invoice_id: str
    issue_date: dt.date
    invoice_number: str = Field(description="The original invoice (the sale this returns part of).")
    invoice_service_month: str = Field(
        description="The month the original invoice billed (the sale's date), YYYY-MM.", examples=["2026-11"]
    )
    invoice_issue_date: dt.date
    reason: str
    currency: str
    subtotal: int
    tax_total: int
    total: int
    qualified_required: bool = Field(
        description="¥10,000 or more tax included: a 適格返還請求書 is required (under it, it may be omitted)."
    )
    lines: list[dict[str, Any]]
    taxes: list[dict[str, Any]]
    issuer: dict[str, Any]
    created_at: dt.datetime

    @classmethod
    def of(cls, note: CreditNote) -> CreditNoteOut:
        return cls.model_validate(
            {
                **{name: getattr(note, name) for name in cls.model_fields if hasattr(note, name)},
                "tenant_id": note.tenant_id,
                "invoice_service_month": f"{note.invoice_service_month:%Y-%m}",
            }
        )


class PlatformPaymentIn(WriteModel):
    amount: StrictInt = Field(ge=1, le=10**11, examples=[5940])
    paid_on: dt.date = Field(examples=["2026-12-25"])
    reference: str = Field(default="", max_length=100, pattern=PRINTABLE, examples=["振込 ｶ)ﾃﾞﾓBNPL"])


class PlatformPaymentOut(ReadModel):
    object: Literal["billing_payment"] = "billing_payment"
    id: str
    invoice_id: str
    operator_id: str = Field(validation_alias="tenant_id")
    amount: int
    currency: str
    paid_on: dt.date
    reference: str
    created_at: dt.datetime


class KpiOut(ReadModel):
    object: Literal["kpis"] = "kpis"
    month: str = Field(examples=["2026-11"])
    currency: str
    stock_start: int = Field(description="Fixed monthly fees of the subscriptions active at 00:00 JST on the 1st.")
    new: int
    expansion: int
    contraction: int
    churn: int
    stock_end: int = Field(description="= stock_start + new + expansion − contraction − churn.")
    customers_start: int
    customers_new: int
    customers_churned: int
    customers_end: int
    screenings: int = Field(description="Billable screenings in the month (JST), after deduplication.")
    gross_churn_rate: str | None = Field(description="churn / stock_start, as a decimal string; null if no stock.")
    net_churn_rate: str | None = Field(description="(churn − new) / stock_start; negative when new outgrows churn.")
