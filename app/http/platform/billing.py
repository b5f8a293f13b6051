"""Platform API: billing of tenants (catalog, subscriptions, usage, invoices, credit notes, payments, KPIs).

Writes need the platform key; reads also answer a platform finance key (``sk_pfin_``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import LIST, READ, WRITE, problems
from app.http.schemas.billing import (
    BillingRunIn,
    BillingRunOut,
    CreditNoteIn,
    CreditNoteOut,
    IssuerIn,
    IssuerOut,
    KpiOut,
    PlanCreate,
    PlanOut,
    PlanVersionIn,
    PlanVersionOut,
    PlatformInvoiceOut,
    PlatformPaymentIn,
    PlatformPaymentOut,
    SubscriptionCancel,
    SubscriptionChangeIn,
    SubscriptionCreate,
    SubscriptionOut,
    UsageEventIn,
    UsageEventOut,
    UsageSummaryOut,
)
from app.http.schemas.common import ID_PATTERN, CreatedGte, CreatedLt, Limit, ListOf, StartingAfter, page_request
from app.idempotency import Idempotency
from app.uow import Database
from billing import kpis as kpi_service
from billing import service
from billing.pricing import month_start
from domain.kit import clock
from domain.kit.errors import FieldIssue, InvalidInput
from domain.kit.tenancy import Principal, Role

WRITE_ROLES = (Role.PLATFORM,)
READ_ROLES = (Role.PLATFORM, Role.PLATFORM_FINANCE)

PlanId = Annotated[str, Parameter(title="Plan id", description="A plan's id (pln_…).", pattern=ID_PATTERN)]
SubscriptionId = Annotated[
    str, Parameter(title="Subscription id", description="A subscription's id (sub_…).", pattern=ID_PATTERN)
]
InvoiceId = Annotated[
    str, Parameter(title="Invoice id", description="A platform invoice's id (binv_…).", pattern=ID_PATTERN)
]
CreditNoteId = Annotated[
    str, Parameter(title="Credit note id", description="A credit note's id (bcn_…).", pattern=ID_PATTERN)
]
OperatorQ = Annotated[
    str | None,
    QueryParameter(title="Operator", description="Only this operator's (opr_…).", max_length=40, pattern=ID_PATTERN),
]
MonthQ = Annotated[
    str | None,
    QueryParameter(title="Month", description="A JST calendar month, YYYY-MM.", pattern=r"^2\d{3}-(0[1-9]|1[0-2])$"),
]
StatusQ = Annotated[
    Literal["draft", "finalized"] | None, QueryParameter(title="Status", description="Only drafts or finalized.")
]
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(value: str | None, name: str = "month", default: dt.date | None = None) -> dt.date:
    if value is None:
        if default is None:
            raise InvalidInput(f"{name} is required", issues=[FieldIssue(f"query:{name}", "YYYY-MM", "required")])
        return default
    match = MONTH.match(value)
    if match is None or not 2000 <= int(match.group(1)) <= 2999:
        raise InvalidInput(
            f"{name} must be a month YYYY-MM between 2000-01 and 2999-12",
            issues=[FieldIssue(f"query:{name}", "YYYY-MM, 2000-01 to 2999-12", "pattern")],
        )
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def _spec(data: PlanVersionIn) -> service.VersionSpec:
    return service.VersionSpec(
        currency=data.currency,
        monthly_fee=data.monthly_fee,
        tax_rate=data.tax_rate,
        charges=[c.model_dump() for c in data.charges],
        line_rounding=data.line_rounding,
    )


class PlanController(Controller):
    path = "/plans"
    tags = ["platform", "billing"]

    @post(
        operation_id="CreatePlan",
        summary="Create a plan with its first version",
        responses=WRITE,
        status_code=201,
        guards=[require_roles(*WRITE_ROLES)],
    )
    async def create_plan(
        self,
        data: JSONBody[PlanCreate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[PlanOut]:
        """A base plan has a monthly fee, included screenings and graduated prices for the extra ones; an add-on
        (e.g. a chargeback guarantee) has a monthly fee only."""

        async def op(session: AsyncSession) -> PlanOut:
            plan, version = await service.create_plan(
                session, principal, code=data.code, name=data.name, kind=data.kind, spec=_spec(data)
            )
            return PlanOut.of(plan, [version])

        return await idempotency.run(op, status_code=201)

    @post(
        "/{plan_id:str}/versions",
        operation_id="AddPlanVersion",
        summary="A new price of a plan (existing subscriptions keep theirs)",
        responses=WRITE,
        status_code=201,
        guards=[require_roles(*WRITE_ROLES)],
    )
    async def add_version(
        self,
        plan_id: PlanId,
        data: JSONBody[PlanVersionIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[PlanVersionOut]:
        async def op(session: AsyncSession) -> PlanVersionOut:
            return PlanVersionOut.of(await service.add_version(session, principal, plan_id, _spec(data)))

        return await idempotency.run(op, status_code=201)

    @get(
        operation_id="ListPlans",
        summary="The catalog, newest first",
        responses=LIST,
        guards=[require_roles(*READ_ROLES)],
    )
    async def list_plans(
        self,
        db: NamedDependency[Database],
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[PlanOut]:
        async with db.read() as session:
            page, versions = await service.list_plans(
                session, page_request(limit, starting_after, created_gte, created_lt)
            )
        return ListOf[PlanOut].of(page, lambda p: PlanOut.of(p, versions.get(p.id, [])))

    @get(
        "/{plan_id:str}",
        operation_id="GetPlan",
        summary="A plan with its versions",
        responses=READ,
        guards=[require_roles(*READ_ROLES)],
    )
    async def get_plan(self, db: NamedDependency[Database], plan_id: PlanId) -> PlanOut:
        async with db.read() as session:
            plan, versions = await service.get_plan(session, plan_id)
        return PlanOut.of(plan, versions)


class SubscriptionController(Controller):
    path = "/subscriptions"
    tags = ["platform", "billing"]

    @post(
        operation_id="CreateSubscription",
        summary="Subscribe an operator to a plan",
        responses=WRITE,
        status_code=201,
        guards=[require_roles(*WRITE_ROLES)],
    )
    async def create(
        self,
        data: JSONBody[SubscriptionCreate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[SubscriptionOut]:
        """An operator has one base plan at a time and each add-on at most once: an overlapping period is a 409."""

        async def op(session: AsyncSession) -> SubscriptionOut:
            sub = await service.subscribe(
                session,
                principal,
                tenant_id=data.operator_id,
                plan_id=data.plan_id,
                version_id=data.version_id,
                start_date=data.start_date,
            )
            return SubscriptionOut.of(sub)

        return await idempotency.run(op, status_code=201)

    @post(
        "/{subscription_id:str}/cancel",
        operation_id="CancelSubscription",
        summary="End a subscription (default: at the end of this month)",
        responses=WRITE,
        status_code=200,
        guards=[require_roles(*WRITE_ROLES)],
    )
    async def cancel(
        self,
        subscription_id: SubscriptionId,
        data: JSONBody[SubscriptionCancel],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[SubscriptionOut]:
        async def op(session: AsyncSession) -> SubscriptionOut:
            return SubscriptionOut.of(
                await service.cancel(session, principal, subscription_id, effective_date=data.effective_date)
            )

        return await idempotency.run(op)

    @post(
        "/{subscription_id:str}/change",
        operation_id="ChangeSubscriptionPlan",
        summary="Move a subscription to another plan or version (prorated by days)",
        responses=WRITE,
        status_code=201,
        guards=[require_roles(*WRITE_ROLES)],
    )
    async def change(
        self,
        subscription_id: SubscriptionId,
        data: JSONBody[SubscriptionChangeIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[SubscriptionOut]:
        """The current subscription ends on the effective date and the returned one starts that day."""

        async def op(session: AsyncSession) -> SubscriptionOut:
            sub = await service.change_plan(
                session,
                principal,
                subscription_id,
                plan_id=data.plan_id,
                version_id=data.version_id,
                effective_date=data.effective_date,
            )
            return SubscriptionOut.of(sub)

        return await idempotency.run(op, status_code=201)

    @get(
        operation_id="ListSubscriptions",
        summary="Subscriptions, newest first",
        responses=LIST,
        guards=[require_roles(*READ_ROLES)],
    )
    async def list_subscriptions(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        operator_id: OperatorQ = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[SubscriptionOut]:
        async with db.read() as session:
            page = await service.list_subscriptions(
                session, principal, page_request(limit, starting_after, created_gte, created_lt), operator_id
            )
        return ListOf[SubscriptionOut].of(page, SubscriptionOut.of)

    @get(
        "/{subscription_id:str}",
        operation_id="GetSubscription",
        summary="A subscription",
        responses=READ,
        guards=[require_roles(*READ_ROLES)],
    )
    async def get_subscription(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], subscription_id: SubscriptionId
    ) -> SubscriptionOut:
        async with db.read() as session:
            return SubscriptionOut.of(await service.get_subscription(session, principal, subscription_id))


class UsageController(Controller):
    path = "/usage-events"
    tags = ["platform", "billing"]

    @post(
        operation_id="IngestUsageEvent",
        summary="Record a billable event of another product (screenings are metered by themselves)",
        responses=WRITE,
        status_code=201,
        guards=[require_roles(*WRITE_ROLES)],
    )
    async def ingest(
        self,
        data: JSONBody[UsageEventIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[UsageEventOut]:
        """Deduplicated per operator and metric by `key`: the same key and payload again answers the first event
        (`duplicate: true`); the same key with another payload is a 409 and the first event is kept. An event of a
        month already invoiced is billed on the next invoice as a correction line."""

        async def op(session: AsyncSession) -> UsageEventOut:
            event, created = await service.record_event(
                session,
                tenant_id=data.operator_id,
                metric=data.metric,
                key=data.key,
                quantity=data.quantity,
                occurred_at=data.occurred_at,
            )
            return UsageEventOut(
                id=event.id,
                operator_id=event.tenant_id,
                metric=event.kind,
                key=event.source_id,
                quantity=event.quantity,
                occurred_at=event.occurred_at,
                duplicate=not created,
            )

        return await idempotency.run(op, status_code=201)

    @get(
        "/summary",
        operation_id="GetUsageSummary",
        summary="Units per operator and metric in a JST month",
        responses=LIST,
        guards=[require_roles(*READ_ROLES)],
    )
    async def summary(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        month: MonthQ = None,
        operator_id: OperatorQ = None,
    ) -> UsageSummaryOut:
        day = parse_month(month, default=month_start(clock.jst_today()))
        async with db.read() as session:
            data = await service.usage_summary(session, principal, day, operator_id)
        return UsageSummaryOut(month=f"{day:%Y-%m}", data=data)


class BillingRunController(Controller):
    path = "/billing-runs"
    tags = ["platform", "billing"]

    @post(
        operation_id="RunBilling",
        summary="Draft the month just ended and finalize the drafts whose grace window has passed",
        responses=WRITE,
        status_code=201,
        guards=[require_roles(*WRITE_ROLES)],
    )
    async def run(
        self,
        data: JSONBody[BillingRunIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[BillingRunOut]:
        """The scheduler runs it every morning; running it again for a day changes nothing more. `as_of` is today
        or a past day (JST): a run never bills a month that has not happened."""

        async def op(session: AsyncSession) -> BillingRunOut:
            summary = await service.run_billing(session, data.as_of, actor=principal.api_key_id)
            return BillingRunOut(
                as_of=data.as_of,
                service_month=f"{summary.service_month:%Y-%m}",
                drafted=summary.drafted,
                finalized=summary.finalized,
            )

        return await idempotency.run(op, status_code=201)


class PlatformInvoiceController(Controller):
    path = "/invoices"
    tags = ["platform", "billing"]

    @get(
        operation_id="PlatformListInvoices",
        summary="Invoices to operators, newest first",
        responses=LIST,
        guards=[require_roles(*READ_ROLES)],
    )
    async def list_invoices(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        operator_id: OperatorQ = None,
        status: StatusQ = None,
        month: MonthQ = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[PlatformInvoiceOut]:
        service_month = parse_month(month) if month else None
        async with db.read() as session:
            page, views = await service.list_invoices(
                session,
                principal,
                page_request(limit, starting_after, created_gte, created_lt),
                tenant_id=operator_id,
                status=status,
                service_month=service_month,
            )
        by_id = {v.invoice.id: v for v in views}
        return ListOf[PlatformInvoiceOut].of(page, lambda i: PlatformInvoiceOut.of(by_id[i.id], with_lines=False))

    @get(
        "/{billing_invoice_id:str}",
        operation_id="PlatformGetInvoice",
        summary="An invoice with its lines and tax per rate",
        responses=READ,
        guards=[require_roles(*READ_ROLES)],
    )
    async def get_invoice(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], billing_invoice_id: InvoiceId
    ) -> PlatformInvoiceOut:
        async with db.read() as session:
            return PlatformInvoiceOut.of(await service.invoice_view(session, principal, billing_invoice_id))

    @post(
        "/{billing_invoice_id:str}/finalize",
        operation_id="FinalizeInvoice",
        summary="Finalize a draft now (recount, number, tax, ledger); it never changes afterwards",
        responses=WRITE,
        status_code=200,
        guards=[require_roles(*WRITE_ROLES)],
    )
    async def finalize(
        self,
        billing_invoice_id: InvoiceId,
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[PlatformInvoiceOut]:
        """Only once its month is over, and after the operator's earlier drafts. Finalizing again answers the
        finalized invoice."""

        async def op(session: AsyncSession) -> PlatformInvoiceOut:
            invoice = await service.finalize(session, principal, billing_invoice_id)
            return PlatformInvoiceOut.of((await service.views(session, [invoice]))[0])

        return await idempotency.run(op)

    @post(
        "/{billing_invoice_id:str}/credit-notes",
        operation_id="IssueCreditNote",
        summary="Reduce a finalized invoice with a credit note (適格返還請求書)",
        responses=WRITE,
        status_code=201,
        guards=[require_roles(*WRITE_ROLES)],
    )
    async def credit_note(
        self,
        billing_invoice_id: InvoiceId,
        data: JSONBody[CreditNoteIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[CreditNoteOut]:
        async def op(session: AsyncSession) -> CreditNoteOut:
            note = await service.issue_credit_note(
                session,
                principal,
                billing_invoice_id,
                reason=data.reason,
                lines=[service.CreditLine(ln.description, ln.amount, ln.tax_rate) for ln in data.lines],
            )
            return CreditNoteOut.of(note)

        return await idempotency.run(op, status_code=201)

    @post(
        "/{billing_invoice_id:str}/payments",
        operation_id="RecordInvoicePayment",
        summary="Record an operator's payment of an invoice",
        responses=WRITE,
        status_code=201,
        guards=[require_roles(*WRITE_ROLES)],
    )
    async def payment(
        self,
        billing_invoice_id: InvoiceId,
        data: JSONBody[PlatformPaymentIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[PlatformPaymentOut]:
        async def op(session: AsyncSession) -> PlatformPaymentOut:
            payment = await service.record_payment(
                session,
                principal,
                billing_invoice_id,
                amount=data.amount,
                paid_on=data.paid_on,
                reference=data.reference,
            )
            return PlatformPaymentOut.model_validate(payment)

        return await idempotency.run(op, status_code=201)


class CreditNoteController(Controller):
    path = "/credit-notes"
    tags = ["platform", "billing"]
    guards = [require_roles(*READ_ROLES)]

    @get(operation_id="PlatformListCreditNotes", summary="Credit notes, newest first", responses=LIST)
    async def list_notes(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        operator_id: OperatorQ = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[CreditNoteOut]:
        async with db.read() as session:
            page = await service.list_credit_notes(
                session, principal, page_request(limit, starting_after, created_gte, created_lt), operator_id
            )
        return ListOf[CreditNoteOut].of(page, CreditNoteOut.of)

    @get("/{credit_note_id:str}", operation_id="PlatformGetCreditNote", summary="A credit note", responses=READ)
    async def get_note(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], credit_note_id: CreditNoteId
    ) -> CreditNoteOut:
        async with db.read() as session:
            return CreditNoteOut.of(await service.get_credit_note(session, principal, credit_note_id))


class IssuerController(Controller):
    path = "/billing/issuer"
    tags = ["platform", "billing"]

    @get(
        operation_id="GetBillingIssuer",
        summary="The platform as invoice issuer",
        responses={**READ, **problems(409)},  # 409 issuer_not_configured
        guards=[require_roles(*READ_ROLES)],
    )
    async def get_issuer(self, db: NamedDependency[Database]) -> IssuerOut:
        async with db.read() as session:
            return IssuerOut.of(await service.get_issuer(session))

    @put(
        operation_id="PutBillingIssuer",
        summary="Set the issuer's name, registration number (T + 13 digits) and terms",
        responses=WRITE,
        guards=[require_roles(*WRITE_ROLES)],
    )
    async def put_issuer(
        self, data: JSONBody[IssuerIn], principal: NamedDependency[Principal], db: NamedDependency[Database]
    ) -> IssuerOut:
        """Issued invoices keep the issuer they were issued with. A registration number whose check digit does not
        match is a 422."""
        async with db.transaction() as session:
            return IssuerOut.of(await service.put_issuer(session, principal, **data.model_dump()))


class KpiController(Controller):
    path = "/kpis"
    tags = ["platform", "billing"]
    guards = [require_roles(*READ_ROLES)]

    @get(
        operation_id="GetKpis", summary="Stock revenue, its movements, churn and screenings of a month", responses=LIST
    )
    async def get_kpis(self, db: NamedDependency[Database], month: MonthQ = None) -> KpiOut:
        day = parse_month(month, default=month_start(clock.jst_today()))
        async with db.read() as session:
            [k] = await kpi_service.compute(session, [day])
        return kpi_out(k)

    @get(
        "/chart",
        operation_id="GetKpiChart",
        summary="An SVG chart of the last 12 months (stock revenue, movements, screenings)",
        responses=LIST,
        media_type="image/svg+xml",
    )
    async def chart(self, db: NamedDependency[Database], month: MonthQ = None) -> Response[bytes]:
        """The 12 months ending with `month` (default this month)."""
        last = parse_month(month, default=month_start(clock.jst_today()))
        async with db.read() as session:
            data = await kpi_service.compute(session, kpi_service.months_ending(last, 12))
        return Response(kpi_service.chart_svg(data), media_type="image/svg+xml")


def kpi_out(k: kpi_service.MonthKpis) -> KpiOut:
    gross, net = k.gross_churn_rate, k.net_churn_rate
    return KpiOut(
        month=f"{k.month:%Y-%m}",
        currency="JPY",
        stock_start=k.stock_start,
        new=k.new,
        expansion=k.expansion,
        contraction=k.contraction,
        churn=k.churn,
        stock_end=k.stock_end,
        customers_start=k.customers_start,
        customers_new=k.customers_new,
        customers_churned=k.customers_churned,
        customers_end=k.customers_end,
        screenings=k.screenings,
        gross_churn_rate=None if gross is None else str(gross),
        net_churn_rate=None if net is None else str(net),
    )


BILLING_CONTROLLERS = [
    PlanController,
    SubscriptionController,
    UsageController,
    BillingRunController,
    PlatformInvoiceController,
    CreditNoteController,
    IssuerController,
    KpiController,
]
