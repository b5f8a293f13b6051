"""Platform billing use cases: catalog, subscriptions, usage ingestion, the monthly invoicing run, credit notes and
tenants' payments. Services flush, never commit: the edge owns the transaction.

Decisions (``docs/billing.md`` has the long version):
* A month is billed in arrears, once it is over: the monthly fee of each subscription (prorated by the days it
  covered) and the usage of the month (JST), on one invoice per tenant and month.
* The run drafts the invoices of the month just ended, and finalizes a draft once ``grace_days`` have passed
  after the month's end (late usage still lands on it until then). Finalizing recounts, numbers (gapless per
  issuer), computes the tax once per rate and posts to the platform ledger; then the invoice never changes.
* Usage that arrives for a month already finalized is billed on the next invoice as a correction line carrying
  the month it belongs to; a reduction is a credit note (適格返還請求書).
* Effective dates of subscription changes are today or later (JST): the past is corrected by credit notes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from billing import ledger
from billing.errors import (
    BillingInvoiceNotFound,
    CreditExceedsInvoice,
    CreditNoteNotFound,
    CustomerNotFound,
    InvalidEffectiveDate,
    InvalidIssuer,
    InvalidPlan,
    InvalidUsage,
    InvoiceNotFinalizable,
    InvoiceNotFinalized,
    IssuerNotConfigured,
    PaymentExceedsBalance,
    PlanCodeTaken,
    PlanNotFound,
    SubscriptionEnded,
    SubscriptionNotFound,
    SubscriptionOverlap,
    UsageKeyReused,
)
from billing.metering import SCREENING, ingest_usage, payload_hash
from billing.models import (
    BillingInvoice,
    BillingInvoiceLine,
    BillingInvoiceTax,
    BillingIssuer,
    BillingPayment,
    CreditNote,
    Plan,
    PlanVersion,
    Subscription,
    SubscriptionChange,
)
from billing.pricing import (
    Tier,
    days_in_month,
    graduated,
    jst_month_of,
    month_start,
    next_month,
    overlap,
    parse_price,
    prorate,
    prorated_included,
    registration_number_problem,
    tax_by_rate,
    usage_amount,
)
from billing.repository import ISSUER_ID, BillingRepository
from domain.kit import clock, counters
from domain.kit.dialect import advisory_xact_lock, is_postgres
from domain.kit.errors import FieldIssue
from domain.kit.ids import new_id
from domain.kit.pagination import Page, PageRequest
from domain.kit.tenancy import Principal, Role

SYSTEM = "system"
PLATFORM_COUNTER_SCOPE = "platform"  # tenant_counters row of the platform's gapless series
INVOICE_SERIES = "billing_invoice"
CREDIT_NOTE_SERIES = "billing_credit_note"
LATE_WINDOW = dt.timedelta(days=60)  # ingested events may be this old at most
CLOCK_SKEW = dt.timedelta(minutes=5)  # … and this far in the future
QUALIFIED_CREDIT_THRESHOLD = 10_000  # a 適格返還請求書 is required from ¥10,000 tax included
METRIC_LABELS = {SCREENING: "審査"}


def _actor(principal: Principal | str) -> str:
    return principal.api_key_id if isinstance(principal, Principal) else principal


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


# ============================================================================================================
# Issuer
# ============================================================================================================


async def get_issuer(session: AsyncSession) -> BillingIssuer:
    issuer = await BillingRepository.from_session(session).issuer()
    if issuer is None:
        raise IssuerNotConfigured(
            "The platform's issuer (name, registration number, address) is not set: PUT /platform/v1/billing/issuer."
        )
    return issuer


async def put_issuer(session: AsyncSession, principal: Principal | str, **fields: Any) -> BillingIssuer:
    """Create or replace the issuer's details. Issued invoices keep the snapshot they were issued with."""
    problem = registration_number_problem(fields["registration_number"])
    if problem is not None:
        raise InvalidIssuer(problem, issues=[FieldIssue("#/registration_number", problem, "check_digit")])
    repo = BillingRepository.from_session(session)
    await advisory_xact_lock(session, "billing", "issuer")  # two first PUTs at once: one inserts, one updates
    issuer = await repo.issuer(lock=True)
    if issuer is None:
        issuer = BillingIssuer(id=ISSUER_ID, created_at=clock.utc_now())
        session.add(issuer)
    for key, value in fields.items():
        setattr(issuer, key, value)
    issuer.updated_at = clock.utc_now()
    await session.flush()
    return issuer


def issuer_snapshot(issuer: BillingIssuer) -> dict[str, Any]:
    return {
        "legal_name": issuer.legal_name,
        "registration_number": issuer.registration_number,
        "address": issuer.address,
        "contact": issuer.contact,
        "bank_account": issuer.bank_account,
    }


# ============================================================================================================
# Catalog
# ============================================================================================================


@dataclass(frozen=True, slots=True)
class VersionSpec:
    currency: str
    monthly_fee: int
    tax_rate: int
    charges: list[dict[str, Any]]
    line_rounding: str = "ROUND_DOWN"


def check_charges(charges: list[dict[str, Any]], pointer: str = "#/charges") -> list[dict[str, Any]]:
    """Validate usage charges (types are checked by the schema): one per metric, tiers increasing, the last open."""
    issues: list[FieldIssue] = []
    seen: set[str] = set()
    for i, charge in enumerate(charges):
        where = f"{pointer}/{i}"
        if charge["metric"] in seen:
            issues.append(FieldIssue(f"{where}/metric", "one charge per metric", "duplicate"))
        seen.add(charge["metric"])
        tiers = charge["tiers"]
        if not tiers:
            issues.append(FieldIssue(f"{where}/tiers", "at least one tier (the last with up_to null)", "required"))
            continue
        below = 0
        for j, tier in enumerate(tiers):
            up_to = tier["up_to"]
            last = j == len(tiers) - 1
            if up_to is None and not last:
                issues.append(FieldIssue(f"{where}/tiers/{j}/up_to", "only the last tier is open (null)", "open_tier"))
            elif up_to is not None and last:
                issues.append(FieldIssue(f"{where}/tiers/{j}/up_to", "the last tier must be open (null)", "closed"))
            elif up_to is not None and up_to <= below:
                issues.append(FieldIssue(f"{where}/tiers/{j}/up_to", "tiers must increase", "not_increasing"))
            if up_to is not None:
                below = up_to
            try:
                parse_price(tier["unit_price"])
            except ValueError as exc:
                issues.append(FieldIssue(f"{where}/tiers/{j}/unit_price", str(exc), "decimal"))
    if issues:
        raise InvalidPlan("The usage charges are not valid.", issues=issues)
    return charges


def tiers_of(charge: dict[str, Any]) -> list[Tier]:
    return [Tier(t["up_to"], parse_price(t["unit_price"])) for t in charge["tiers"]]


async def create_plan(
    session: AsyncSession, principal: Principal | str, *, code: str, name: str, kind: str, spec: VersionSpec
) -> tuple[Plan, PlanVersion]:
    repo = BillingRepository.from_session(session)
    await advisory_xact_lock(session, "billing.plan_code", code)
    if await repo.plan_by_code(code) is not None:
        raise PlanCodeTaken(f"a plan with code {code!r} exists: add a version to it instead")
    check_charges(spec.charges)
    plan = Plan(id=new_id("pln"), code=code, name=name, kind=kind, created_at=clock.utc_now())
    session.add(plan)
    await session.flush()
    version = await _add_version(session, plan, 1, spec, _actor(principal))
    return plan, version


async def add_version(
    session: AsyncSession, principal: Principal | str, plan_id: str, spec: VersionSpec
) -> PlanVersion:
    """A new price from now on: existing subscriptions keep theirs until they change plan."""
    repo = BillingRepository.from_session(session)
    plan = await repo.plan(plan_id)
    if plan is None:
        raise PlanNotFound(f"no plan {plan_id}")
    check_charges(spec.charges)
    await advisory_xact_lock(session, "billing.plan_version", plan_id)
    latest = await repo.latest_version(plan_id)
    return await _add_version(session, plan, (latest.version if latest else 0) + 1, spec, _actor(principal))


async def _add_version(session: AsyncSession, plan: Plan, number: int, spec: VersionSpec, actor: str) -> PlanVersion:
    if plan.kind == "addon" and spec.charges:
        raise InvalidPlan(
            "an add-on has a monthly fee only", issues=[FieldIssue("#/charges", "must be empty for an add-on")]
        )
    version = PlanVersion(
        id=new_id("plv"),
        plan_id=plan.id,
        version=number,
        currency=spec.currency,
        monthly_fee=spec.monthly_fee,
        tax_rate=spec.tax_rate,
        charges=spec.charges,
        line_rounding=spec.line_rounding,
        created_by=actor,
        created_at=clock.utc_now(),
    )
    session.add(version)
    await session.flush()
    return version


async def get_plan(session: AsyncSession, plan_id: str) -> tuple[Plan, list[PlanVersion]]:
    repo = BillingRepository.from_session(session)
    plan = await repo.plan(plan_id)
    if plan is None:
        raise PlanNotFound(f"no plan {plan_id}")
    return plan, await repo.versions([plan.id])


async def list_plans(session: AsyncSession, page: PageRequest) -> tuple[Page[Plan], dict[str, list[PlanVersion]]]:
    repo = BillingRepository.from_session(session)
    result = await repo.plans(page)
    by_plan: dict[str, list[PlanVersion]] = defaultdict(list)
    for version in await repo.versions([p.id for p in result.items]):
        by_plan[version.plan_id].append(version)
    return result, by_plan


# The market-like examples shipped with the product (``bnpl billing seed-catalog``).
EXAMPLE_CATALOG: tuple[tuple[str, str, str, VersionSpec], ...] = (
    (
        "standard",
        "スタンダード (不正チェック)",
        "base",
        VersionSpec(
            "JPY",
            4_000,
            10,
            [
                {
                    "metric": SCREENING,
                    "included": 1_000,
                    "tiers": [{"up_to": 9_000, "unit_price": "4"}, {"up_to": None, "unit_price": "3"}],
                }
            ],
        ),
    ),
    (
        "premium",
        "プレミアム (チャージバック保証付き)",
        "base",
        VersionSpec(
            "JPY",
            100_000,
            10,
            [
                {
                    "metric": SCREENING,
                    "included": 30_000,
                    "tiers": [{"up_to": 70_000, "unit_price": "3"}, {"up_to": None, "unit_price": "2.5"}],
                }
            ],
        ),
    ),
    ("chargeback_guarantee", "チャージバック保証オプション", "addon", VersionSpec("JPY", 20_000, 10, [])),
)


async def seed_catalog(session: AsyncSession) -> list[Plan]:
    """Create the example plans that do not exist yet (by code)."""
    repo = BillingRepository.from_session(session)
    made = []
    for code, name, kind, spec in EXAMPLE_CATALOG:
        if await repo.plan_by_code(code) is None:
            plan, _ = await create_plan(session, SYSTEM, code=code, name=name, kind=kind, spec=spec)
            made.append(plan)
    return made


# ============================================================================================================
# Subscriptions
# ============================================================================================================


async def _customer(session: AsyncSession, tenant_id: str) -> dict[str, Any]:
    found = (await BillingRepository.from_session(session).customers([tenant_id])).get(tenant_id)
    if found is None:
        raise CustomerNotFound(f"no operator {tenant_id}")
    return found


def _check_effective(day: dt.date, pointer: str) -> None:
    today = clock.jst_today()
    if day < today:
        raise InvalidEffectiveDate(
            f"{day} is in the past (today is {today} JST): the past is corrected by a credit note",
            issues=[FieldIssue(pointer, "today or later (JST)", "past")],
        )


async def _resolve_version(repo: BillingRepository, plan_id: str, version_id: str | None) -> tuple[Plan, PlanVersion]:
    plan = await repo.plan(plan_id)
    if plan is None:
        raise PlanNotFound(f"no plan {plan_id}")
    if version_id is None:
        version = await repo.latest_version(plan.id)
    else:
        version = await repo.version(version_id)
        if version is not None and version.plan_id != plan.id:
            version = None
    if version is None:
        raise PlanNotFound(f"no version {version_id} of plan {plan_id}")
    return plan, version


def _overlaps(a_start: dt.date, a_end: dt.date | None, b_start: dt.date, b_end: dt.date | None) -> bool:
    return (b_end is None or a_start < b_end) and (a_end is None or b_start < a_end)


async def _start(
    session: AsyncSession,
    actor: str,
    tenant_id: str,
    plan: Plan,
    version: PlanVersion,
    start: dt.date,
    existing: list[Subscription],
    *,
    reason: str,
    replaces: Subscription | None = None,
) -> Subscription:
    for other in existing:
        if other is replaces:
            continue
        same_slot = (plan.kind == "base" and other.kind == "base") or other.plan_id == plan.id
        if same_slot and _overlaps(start, None, other.start_date, other.end_date):
            what = "a base plan" if plan.kind == "base" else f"the add-on {plan.code}"
            raise SubscriptionOverlap(
                f"operator {tenant_id} already has {what} from {other.start_date} ({other.id})",
                issues=[FieldIssue("#/start_date", f"overlaps {other.id}", "overlap")],
            )
    sub = Subscription(
        id=new_id("sub"),
        tenant_id=tenant_id,
        plan_id=plan.id,
        plan_version_id=version.id,
        kind=plan.kind,
        monthly_fee=version.monthly_fee,
        currency=version.currency,
        start_date=start,
        end_date=None,
        replaces_id=replaces.id if replaces else None,
        created_by=actor,
        ended_by=None,
        created_at=clock.utc_now(),
    )
    session.add(sub)
    await session.flush()
    session.add(
        SubscriptionChange(
            id=new_id("sch"),
            tenant_id=tenant_id,
            subscription_id=sub.id,
            action="start",
            reason=reason,
            effective_date=start,
            stock_delta=version.monthly_fee,
            currency=version.currency,
            recorded_at=clock.utc_now(),
        )
    )
    await session.flush()
    return sub


def _end(session: AsyncSession, actor: str, sub: Subscription, end: dt.date, reason: str) -> None:
    sub.end_date = end
    sub.ended_by = actor
    session.add(
        SubscriptionChange(
            id=new_id("sch"),
            tenant_id=sub.tenant_id,
            subscription_id=sub.id,
            action="end",
            reason=reason,
            effective_date=end,
            stock_delta=-sub.monthly_fee,
            currency=sub.currency,
            recorded_at=clock.utc_now(),
        )
    )


async def subscribe(
    session: AsyncSession,
    principal: Principal | str,
    *,
    tenant_id: str,
    plan_id: str,
    version_id: str | None = None,
    start_date: dt.date | None = None,
) -> Subscription:
    """Subscribe an operator to a plan (its latest version unless one is named) from ``start_date`` (today)."""
    start = start_date or clock.jst_today()
    _check_effective(start, "#/start_date")
    await _customer(session, tenant_id)
    repo = BillingRepository.from_session(session)
    plan, version = await _resolve_version(repo, plan_id, version_id)
    await advisory_xact_lock(session, "billing.subscriptions", tenant_id)
    existing = await repo.tenant_subscriptions(tenant_id, lock=True)
    return await _start(session, _actor(principal), tenant_id, plan, version, start, existing, reason="new")


async def cancel(
    session: AsyncSession, principal: Principal | str, sub_id: str, *, effective_date: dt.date | None = None
) -> Subscription:
    """End a subscription on ``effective_date`` (the first day without service; default the 1st of next month)."""
    sub = await _subscription_for_change(session, principal, sub_id)
    end = effective_date or next_month(clock.jst_today())
    _check_effective(end, "#/effective_date")
    if end <= sub.start_date:
        raise InvalidEffectiveDate(
            f"the subscription starts on {sub.start_date}: end it on a later day",
            issues=[FieldIssue("#/effective_date", f"after {sub.start_date}", "before_start")],
        )
    _end(session, _actor(principal), sub, end, "cancel")
    await session.flush()
    return sub


async def change_plan(
    session: AsyncSession,
    principal: Principal | str,
    sub_id: str,
    *,
    plan_id: str,
    version_id: str | None = None,
    effective_date: dt.date | None = None,
) -> Subscription:
    """Move a subscription to another plan (or version) on ``effective_date`` (default today): the old one ends
    that day and the new one starts, so each is billed for its days."""
    repo = BillingRepository.from_session(session)
    sub = await _subscription_for_change(session, principal, sub_id)
    day = effective_date or clock.jst_today()
    _check_effective(day, "#/effective_date")
    plan, version = await _resolve_version(repo, plan_id, version_id)
    if plan.kind != sub.kind:
        raise InvalidPlan(
            f"a {sub.kind} subscription changes to another {sub.kind} plan",
            issues=[FieldIssue("#/plan_id", f"not a {sub.kind} plan", "kind")],
        )
    if version.id == sub.plan_version_id:
        raise InvalidPlan("the subscription is on this version already", issues=[FieldIssue("#/plan_id", "same")])
    if day <= sub.start_date:
        raise InvalidEffectiveDate(
            f"the subscription starts on {sub.start_date}: change it on a later day",
            issues=[FieldIssue("#/effective_date", f"after {sub.start_date}", "before_start")],
        )
    existing = await repo.tenant_subscriptions(sub.tenant_id, lock=True)
    _end(session, _actor(principal), sub, day, "plan_change")
    await session.flush()
    return await _start(
        session, _actor(principal), sub.tenant_id, plan, version, day, existing, reason="plan_change", replaces=sub
    )


async def _subscription_for_change(session: AsyncSession, principal: Principal | str, sub_id: str) -> Subscription:
    repo = BillingRepository.from_session(session)
    scope = principal if isinstance(principal, Principal) else _platform(principal)
    found = await repo.subscription(scope, sub_id)
    if found is None:
        raise SubscriptionNotFound(f"no subscription {sub_id}")
    await advisory_xact_lock(session, "billing.subscriptions", found.tenant_id)
    sub = await repo.subscription(scope, sub_id, lock=True)
    assert sub is not None
    if sub.end_date is not None:
        raise SubscriptionEnded(f"subscription {sub_id} ends on {sub.end_date} already")
    return sub


def _platform(actor: str) -> Principal:
    return Principal(api_key_id=actor, role=Role.PLATFORM)


async def get_subscription(session: AsyncSession, principal: Principal, sub_id: str) -> Subscription:
    sub = await BillingRepository.from_session(session).subscription(principal, sub_id)
    if sub is None:
        raise SubscriptionNotFound(f"no subscription {sub_id}")
    return sub


async def list_subscriptions(
    session: AsyncSession, principal: Principal, page: PageRequest, tenant_id: str | None = None
) -> Page[Subscription]:
    return await BillingRepository.from_session(session).subscriptions(principal, page, tenant_id)


# ============================================================================================================
# Usage
# ============================================================================================================


async def record_event(
    session: AsyncSession,
    *,
    tenant_id: str,
    metric: str,
    key: str,
    quantity: int,
    occurred_at: dt.datetime,
) -> tuple[Any, bool]:
    """Ingest one billable event from another source. The same key and payload again is a duplicate (the first
    event is returned, ``created=False``); the same key with another payload is refused and the first is kept."""
    now = clock.utc_now()
    issues = []
    if metric == SCREENING:
        issues.append(FieldIssue("#/metric", "screenings are metered by the screening engine itself", "reserved"))
    if quantity <= 0:
        issues.append(FieldIssue("#/quantity", "a positive number of units", "not_positive"))
    if occurred_at > now + CLOCK_SKEW:
        issues.append(FieldIssue("#/occurred_at", "in the future", "future"))
    elif occurred_at < now - LATE_WINDOW:
        issues.append(FieldIssue("#/occurred_at", f"older than {LATE_WINDOW.days} days", "too_old"))
    if issues:
        raise InvalidUsage("The usage event is not valid.", issues=issues)
    await _customer(session, tenant_id)
    event, created = await ingest_usage(session, tenant_id, metric, key, quantity, occurred_at)
    if not created and event.payload_hash != payload_hash(metric, quantity, occurred_at):
        raise UsageKeyReused(
            f"event key {key!r} was used with another payload; the first event ({event.id}) is kept",
            extra={"event_id": event.id},
        )
    month = jst_month_of(occurred_at)
    if created and month < jst_month_of(now):
        await BillingRepository.from_session(session).mark_late(tenant_id, month, now)
    return event, created


async def usage_summary(
    session: AsyncSession, principal: Principal, month: dt.date, tenant_id: str | None = None
) -> dict[str, dict[str, int]]:
    """Units per tenant and metric in a JST month (the same aggregation the invoices use)."""
    if not principal.is_platform:
        tenant_id = principal.require_tenant()
    rows = await BillingRepository.from_session(session).usage_totals(
        month_start(month), [tenant_id] if tenant_id else None
    )
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for tenant, metric, units in rows:
        out[tenant][metric] = units
    return dict(out)


# ============================================================================================================
# Invoicing
# ============================================================================================================


@dataclass
class _Line:
    kind: str
    description: str
    service_month: dt.date
    period_start: dt.date
    period_end: dt.date
    quantity: int
    unit_price: str
    amount: int
    tax_rate: int
    subscription_id: str | None = None
    plan_version_id: str | None = None
    metric: str | None = None


@dataclass
class _Computed:
    lines: list[_Line] = field(default_factory=list)
    snapshots: list[tuple[str, str, dt.date, int, int]] = field(default_factory=list)  # sub, metric, month, n, amt


def _usage_in(daily: dict[dt.date, int], lo: dt.date, hi: dt.date) -> int:
    return sum(units for day, units in daily.items() if lo <= day < hi)


def _period_text(lo: dt.date, hi: dt.date) -> str:
    return f"{lo:%Y/%m/%d}–{hi - dt.timedelta(days=1):%Y/%m/%d}"


def _price_usage(
    out: _Computed,
    sub: Subscription,
    version: PlanVersion,
    month: dt.date,
    lo: dt.date,
    hi: dt.date,
    usage: dict[str, dict[dt.date, int]],
) -> None:
    days, month_days = (hi - lo).days, days_in_month(month)
    for charge in version.charges:
        metric = charge["metric"]
        used = _usage_in(usage.get(metric, {}), lo, hi)
        included = prorated_included(int(charge["included"]), days, month_days)
        tier_lines = graduated(max(0, used - included), tiers_of(charge), version.line_rounding)
        for tier in tier_lines:
            upto = f"〜{included + tier.last:,}件目" if tier.last is not None else "以降"
            out.lines.append(
                _Line(
                    kind="usage",
                    description=f"{metric_label(metric)} 従量料金 {included + tier.first:,}件目{upto}"
                    f" ({_period_text(lo, hi)}, 利用 {used:,}件 うち無料 {included:,}件)",
                    service_month=month,
                    period_start=lo,
                    period_end=hi,
                    quantity=tier.quantity,
                    unit_price=str(tier.unit_price),
                    amount=tier.amount,
                    tax_rate=version.tax_rate,
                    subscription_id=sub.id,
                    plan_version_id=version.id,
                    metric=metric,
                )
            )
        out.snapshots.append((sub.id, metric, month, used, sum(t.amount for t in tier_lines)))


def compute_month(
    month: dt.date,
    subs: Sequence[Subscription],
    versions: dict[str, PlanVersion],
    plans: dict[str, Plan],
    usage: dict[str, dict[dt.date, int]],
) -> _Computed:
    """The lines of one tenant's month: per subscription, its prorated fee and its usage priced by its version."""
    out = _Computed()
    month_days = days_in_month(month)
    for sub in sorted(subs, key=lambda s: (s.kind != "base", s.start_date, s.id)):
        span = overlap(sub.start_date, sub.end_date, month)
        if span is None:
            continue
        lo, hi = span
        version, plan = versions[sub.plan_version_id], plans[sub.plan_id]
        days = (hi - lo).days
        fee = prorate(version.monthly_fee, days, month_days, version.line_rounding)
        prorated = "" if days >= month_days else f" 日割 {days}/{month_days}日"
        out.lines.append(
            _Line(
                kind="base_fee" if sub.kind == "base" else "addon_fee",
                description=f"{plan.name} 月額利用料 ({_period_text(lo, hi)}{prorated})",
                service_month=month,
                period_start=lo,
                period_end=hi,
                quantity=1,
                unit_price=str(version.monthly_fee),
                amount=fee,
                tax_rate=version.tax_rate,
                subscription_id=sub.id,
                plan_version_id=version.id,
            )
        )
        _price_usage(out, sub, version, month, lo, hi, usage)
    return out


async def _corrections(
    session: AsyncSession,
    repo: BillingRepository,
    tenant_id: str,
    month: dt.date,
    late_months: Iterable[dt.date],
    out: _Computed,
) -> None:
    """Correction lines on ``month``'s invoice for usage that arrived after earlier months were finalized."""
    months = sorted({m for m in late_months if m < month})
    billed = await repo.billed_usage(tenant_id, months)
    if not billed:
        return
    subs = {s.id: s for s in await repo.tenant_subscriptions(tenant_id)}
    versions = await repo.versions_by_id([s.plan_version_id for s in subs.values()])
    for past in months:
        rows = await repo.usage_by_day(past, [tenant_id])
        usage: dict[str, dict[dt.date, int]] = defaultdict(dict)
        for _t, metric, day, units in rows:
            usage[metric][day] = units
        for (sub_id, metric, m), (counted, amount) in sorted(billed.items()):
            if m != past or sub_id not in subs:
                continue
            sub = subs[sub_id]
            version = versions[sub.plan_version_id]
            span = overlap(sub.start_date, sub.end_date, past)
            charge = next((c for c in version.charges if c["metric"] == metric), None)
            if span is None or charge is None:
                continue
            lo, hi = span
            used = _usage_in(usage.get(metric, {}), lo, hi)
            if used <= counted:
                continue
            included = prorated_included(int(charge["included"]), (hi - lo).days, days_in_month(past))
            delta = usage_amount(used, included, tiers_of(charge), version.line_rounding) - amount
            out.lines.append(
                _Line(
                    kind="usage_correction",
                    description=f"{past:%Y年%m月}分 {metric_label(metric)} 追加利用 {used - counted:,}件"
                    f" (遅延計上: 請求済 {counted:,}件 → {used:,}件)",
                    service_month=past,
                    period_start=lo,
                    period_end=hi,
                    quantity=used - counted,
                    unit_price="",
                    amount=max(delta, 0),
                    tax_rate=version.tax_rate,
                    subscription_id=sub_id,
                    plan_version_id=version.id,
                    metric=metric,
                )
            )
            out.snapshots.append((sub_id, metric, past, used, max(delta, 0)))


@dataclass
class RunSummary:
    as_of: dt.date
    service_month: dt.date
    drafted: int = 0
    finalized: int = 0
    invoices: list[BillingInvoice] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "service_month": self.service_month.isoformat(),
            "drafted": self.drafted,
            "finalized": self.finalized,
        }


async def lock_invoicing(session: AsyncSession) -> None:
    """Drafting and finalizing take turns (one transaction at a time, until it ends): two runs of one morning, or a
    run and a finalization by hand, never write the same draft twice. Credit notes and payments lock their invoice
    row instead and do not wait for this."""
    await advisory_xact_lock(session, "billing", "invoicing")


async def draft_month(
    session: AsyncSession, month: dt.date, tenant_ids: Sequence[str] | None = None
) -> list[BillingInvoice]:
    """Create or recompute the drafts of ``month`` for every tenant with a subscription in it (or late usage to
    correct); finalized invoices are left alone.

    Set-based: usage is summed in the database, once for every tenant (per JST day only for the tenants whose
    usage must be split between subscriptions or a partial month); lines, tax summaries and snapshots are written
    with one multi-row INSERT each, so the run's cost is a GROUP BY plus a few statements, not a few per tenant."""
    issuer = await get_issuer(session)
    await lock_invoicing(session)
    repo = BillingRepository.from_session(session)
    now = clock.utc_now()
    subs = await repo.subscriptions_overlapping(month, tenant_ids)
    marks = await repo.late_marks(month, tenant_ids)
    late_by_tenant: dict[str, list[dt.date]] = defaultdict(list)
    for mark in marks:
        late_by_tenant[mark.tenant_id].append(mark.service_month)
    subs_by_tenant: dict[str, list[Subscription]] = defaultdict(list)
    for sub in subs:
        subs_by_tenant[sub.tenant_id].append(sub)
    tenants = sorted(set(subs_by_tenant) | set(late_by_tenant))
    if not tenants:
        return []
    existing = await repo.invoices_of_month(month)
    todo = [t for t in tenants if t not in existing or existing[t].status == "draft"]
    versions = await repo.versions_by_id([s.plan_version_id for s in subs])
    plans = await repo.plans_by_id([s.plan_id for s in subs])
    usage = await _usage_of(repo, month, todo, subs_by_tenant, versions, every_tenant=tenant_ids is None)
    names = await _customers(session, todo)
    computed_by_tenant: dict[str, _Computed] = {}
    for tenant_id in todo:
        computed = compute_month(month, subs_by_tenant.get(tenant_id, []), versions, plans, usage.get(tenant_id, {}))
        if late_by_tenant.get(tenant_id):
            await _corrections(session, repo, tenant_id, month, late_by_tenant[tenant_id], computed)
        if computed.lines:
            computed_by_tenant[tenant_id] = computed
    drafts: list[BillingInvoice] = []
    fresh: list[BillingInvoice] = []
    for tenant_id in computed_by_tenant:
        invoice = existing.get(tenant_id)
        if invoice is None:
            invoice = BillingInvoice(
                id=new_id("binv"),
                tenant_id=tenant_id,
                service_month=month,
                status="draft",
                currency="JPY",
                customer=names.get(tenant_id, {"operator_id": tenant_id}),
                created_at=now,
            )
            fresh.append(invoice)
        drafts.append(invoice)
    fresh_ids = {i.id for i in fresh}
    await repo.clear_drafts([i.id for i in drafts if i.id not in fresh_ids])
    lines: list[dict[str, Any]] = []
    taxes: list[dict[str, Any]] = []
    snapshots: list[dict[str, Any]] = []
    for invoice in drafts:
        computed = computed_by_tenant[invoice.tenant_id]
        rate_totals = tax_by_rate(((ln.amount, ln.tax_rate) for ln in computed.lines), issuer.rounding)
        invoice.subtotal = sum(t.taxable_base for t in rate_totals)
        invoice.tax_total = sum(t.tax for t in rate_totals)
        invoice.total = invoice.subtotal + invoice.tax_total
        invoice.rounding = issuer.rounding
        invoice.computed_at = now
        lines.extend(_line_row(invoice.id, i, ln) for i, ln in enumerate(computed.lines, start=1))
        taxes.extend(
            {"invoice_id": invoice.id, "tax_rate": t.tax_rate, "taxable_base": t.taxable_base, "tax": t.tax}
            for t in rate_totals
        )
        snapshots.extend(
            {
                "id": new_id("bus"),
                "invoice_id": invoice.id,
                "tenant_id": invoice.tenant_id,
                "subscription_id": sub_id,
                "metric": metric,
                "service_month": m,
                "counted": counted,
                "amount": amount,
            }
            for sub_id, metric, m, counted, amount in computed.snapshots
        )
    session.add_all(fresh)
    await session.flush()  # the new drafts (one multi-row INSERT) and the recomputed totals of the others
    await repo.insert_parts(lines, taxes, snapshots)
    return drafts


def _line_row(invoice_id: str, position: int, ln: _Line) -> dict[str, Any]:
    return {
        "id": new_id("bil"),
        "invoice_id": invoice_id,
        "position": position,
        "kind": ln.kind,
        "description": ln.description[:300],
        "subscription_id": ln.subscription_id,
        "plan_version_id": ln.plan_version_id,
        "metric": ln.metric,
        "service_month": ln.service_month,
        "period_start": ln.period_start,
        "period_end": ln.period_end,
        "quantity": ln.quantity,
        "unit_price": ln.unit_price,
        "amount": ln.amount,
        "tax_rate": ln.tax_rate,
    }


async def _usage_of(
    repo: BillingRepository,
    month: dt.date,
    tenants: Sequence[str],
    subs_by_tenant: dict[str, list[Subscription]],
    versions: dict[str, PlanVersion],
    *,
    every_tenant: bool,
) -> dict[str, dict[str, dict[dt.date, int]]]:
    """tenant → metric → JST day → units. A tenant whose usage is priced by one subscription over the whole month
    needs only its month's total (filed under the 1st); the others (a plan change, a start or end in the month)
    get theirs per day, from the tenant's index."""
    month_days = days_in_month(month)
    by_day: list[str] = []
    for tenant_id in tenants:
        charging = [s for s in subs_by_tenant.get(tenant_id, []) if versions[s.plan_version_id].charges]
        spans = [overlap(s.start_date, s.end_date, month) for s in charging]
        if len(charging) > 1 or any(span is not None and (span[1] - span[0]).days < month_days for span in spans):
            by_day.append(tenant_id)
    usage: dict[str, dict[str, dict[dt.date, int]]] = defaultdict(lambda: defaultdict(dict))
    if tenants:
        for tenant_id, metric, units in await repo.usage_totals(month, None if every_tenant else tenants):
            usage[tenant_id][metric][month] = units
    if by_day:
        split = set(by_day)
        for tenant_id in split:
            usage.pop(tenant_id, None)
        for tenant_id, metric, day, units in await repo.usage_by_day(month, by_day):
            usage[tenant_id][metric][day] = units
    return usage


async def _customers(session: AsyncSession, tenant_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    return await BillingRepository.from_session(session).customers(tenant_ids)


def due_date_for(issue: dt.date, terms_days: int) -> dt.date:
    """``terms_days`` after issue, or (0) the last day of the month of issue."""
    if terms_days > 0:
        return issue + dt.timedelta(days=terms_days)
    return next_month(issue.replace(day=1)) - dt.timedelta(days=1)


async def finalize(
    session: AsyncSession, principal: Principal | str, invoice_id: str, *, issue_date: dt.date | None = None
) -> BillingInvoice:
    """Recount, number (gapless per issuer), compute the tax once per rate and post to the ledger; then the invoice
    never changes. Finalizing a finalized invoice returns it unchanged."""
    repo = BillingRepository.from_session(session)
    scope = principal if isinstance(principal, Principal) else _platform(principal)
    await lock_invoicing(session)
    invoice = await repo.invoice(scope, invoice_id, lock=True)
    if invoice is None:
        raise BillingInvoiceNotFound(f"no invoice {invoice_id}")
    if invoice.status == "finalized":
        return invoice
    today = issue_date or clock.jst_today()
    if clock.jst_today() < next_month(invoice.service_month):
        raise InvoiceNotFinalizable(f"the service month {invoice.service_month:%Y-%m} is not over yet")
    unbilled = await unbilled_months(repo, invoice.service_month, [invoice.tenant_id])
    if unbilled:
        raise InvoiceNotFinalizable(
            f"{min(unbilled):%Y-%m} of this operator has not been billed yet: run billing first (months are billed "
            "in order)"
        )
    earlier = await repo.earlier_draft(invoice.tenant_id, invoice.service_month)
    if earlier is not None:
        raise InvoiceNotFinalizable(
            f"finalize the draft of {earlier.service_month:%Y-%m} ({earlier.id}) first: months are finalized in order"
        )
    issuer = await get_issuer(session)
    await draft_month(session, invoice.service_month, [invoice.tenant_id])
    await _close(session, [invoice], issuer, _actor(principal), today)
    return invoice


async def _close(
    session: AsyncSession, invoices: Sequence[BillingInvoice], issuer: BillingIssuer, actor: str, today: dt.date
) -> None:
    """Finalize drafts just recounted in this transaction (under the invoicing lock): numbers in one counter
    update, the invoices in one flush, their ledger entries in two multi-row INSERTs."""
    if not invoices:
        return
    repo = BillingRepository.from_session(session)
    seqs = await counters.next_values(session, PLATFORM_COUNTER_SCOPE, INVOICE_SERIES, len(invoices))
    now = clock.utc_now()
    snapshot = issuer_snapshot(issuer)
    due = due_date_for(today, issuer.payment_terms_days)
    for invoice, seq in zip(invoices, seqs, strict=True):
        invoice.number_seq = seq
        invoice.number = f"{issuer.invoice_prefix}-{seq:08d}"
        invoice.status = "finalized"
        invoice.issue_date = today
        invoice.due_date = due
        invoice.issuer = snapshot
        invoice.finalized_at = now
        invoice.finalized_by = actor
    await session.flush()
    fees: dict[str, int] = defaultdict(int)
    usage: dict[str, int] = defaultdict(int)
    for kind, invoice_id, amount in await repo.amounts_by_kind([i.id for i in invoices]):
        (fees if kind in ("base_fee", "addon_fee") else usage)[invoice_id] += amount
    await ledger.post_many(
        session,
        [
            ledger.EntrySpec(
                kind="billing.invoice_finalized",
                source_ref=f"invoice:{invoice.id}",
                tenant_id=invoice.tenant_id,
                currency=invoice.currency,
                effective_date=today,
                memo=invoice.number or "",
                legs=[
                    ledger.dr("accounts_receivable", invoice.total),
                    ledger.cr("subscription_revenue", fees[invoice.id]),
                    ledger.cr("usage_revenue", usage[invoice.id]),
                    ledger.cr("output_consumption_tax", invoice.tax_total),
                ],
            )
            for invoice in invoices
        ],
    )


CATCH_UP_MONTHS = 12  # a run drafts any month of the last year that a subscription covered and no invoice billed


async def run_billing(session: AsyncSession, as_of: dt.date, *, actor: str = SYSTEM) -> RunSummary:
    """The day's billing: draft (or recount) the month just ended — and any earlier month of the last year that a
    subscription covered but no run billed (the scheduler was down, a day was skipped) — then finalize every draft
    whose grace window has passed, oldest month first. Running it twice changes nothing more.

    Raises:
        InvalidEffectiveDate: ``as_of`` is after today (JST): a run never bills a month that has not happened.
    """
    today = clock.jst_today()
    if as_of > today or as_of.year < 2000:
        raise InvalidEffectiveDate(
            f"a billing run is for today ({today}) or a day before it, not {as_of}",
            issues=[FieldIssue("#/as_of", f"between 2000-01-01 and {today}", "out_of_range")],
        )
    issuer = await get_issuer(session)
    await lock_invoicing(session)
    await allow_long_statements(session)
    repo = BillingRepository.from_session(session)
    last = (month_start(as_of) - dt.timedelta(days=1)).replace(day=1)
    summary = RunSummary(as_of=as_of, service_month=last)
    fresh: set[dt.date] = set()
    for month, tenants in sorted((await unbilled_months(repo, last)).items()):
        summary.drafted += len(await draft_month(session, month, tenants))
        fresh.add(month)
    summary.drafted += len(await draft_month(session, last))
    fresh.add(last)
    due: dict[dt.date, list[BillingInvoice]] = defaultdict(list)
    for draft in await repo.drafts_due(last):
        if as_of >= next_month(draft.service_month) + dt.timedelta(days=issuer.grace_days):
            due[draft.service_month].append(draft)
    for month, drafts in sorted(due.items()):
        if month not in fresh:  # drafted by an earlier run: count again before closing
            await draft_month(session, month, [d.tenant_id for d in drafts])
        await _close(session, drafts, issuer, actor, as_of)
        summary.invoices.extend(drafts)
        summary.finalized += len(drafts)
    return summary


async def unbilled_months(
    repo: BillingRepository, before: dt.date, tenant_ids: Sequence[str] | None = None
) -> dict[dt.date, list[str]]:
    """Months before ``before`` (at most ``CATCH_UP_MONTHS`` back) that a subscription covered and that have no
    invoice (draft or finalized) for its operator: month → operators."""
    first = before
    for _ in range(CATCH_UP_MONTHS):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    billed = await repo.invoiced_pairs(first, before, tenant_ids)
    missing: dict[dt.date, set[str]] = defaultdict(set)
    for sub in await repo.subscriptions_between(first, before, tenant_ids):
        month = max(month_start(sub.start_date), first)
        while month < before and (sub.end_date is None or month < sub.end_date):
            if (sub.tenant_id, month) not in billed:
                missing[month].add(sub.tenant_id)
            month = next_month(month)
    return {month: sorted(tenants) for month, tenants in missing.items()}


async def allow_long_statements(session: AsyncSession) -> None:
    """The run's aggregation over a month of events may take longer than the API's statement timeout."""
    if is_postgres(session):
        await session.execute(text("SET LOCAL statement_timeout = '600s'"))


@dataclass(frozen=True, slots=True)
class InvoiceView:
    invoice: BillingInvoice
    lines: list[BillingInvoiceLine]
    taxes: list[BillingInvoiceTax]
    credit_notes: list[CreditNote]
    payments: list[BillingPayment]

    @property
    def credited(self) -> int:
        return sum(n.total for n in self.credit_notes)

    @property
    def paid(self) -> int:
        return sum(p.amount for p in self.payments)

    @property
    def outstanding(self) -> int:
        return self.invoice.total - self.credited - self.paid if self.invoice.status == "finalized" else 0

    @property
    def payment_status(self) -> str:
        if self.invoice.status != "finalized":
            return "draft"
        if self.outstanding <= 0:
            return "paid" if self.paid > 0 or self.invoice.total == 0 else "credited"
        return "partially_paid" if self.paid > 0 else "unpaid"


async def invoice_view(session: AsyncSession, principal: Principal, invoice_id: str) -> InvoiceView:
    repo = BillingRepository.from_session(session)
    invoice = await repo.invoice(principal, invoice_id)
    if invoice is None:
        raise BillingInvoiceNotFound(f"no invoice {invoice_id}")
    return (await views(session, [invoice]))[0]


async def views(
    session: AsyncSession, invoices: Sequence[BillingInvoice], *, with_lines: bool = True
) -> list[InvoiceView]:
    """The invoices with their tax summaries, credit notes and payments (and lines, unless a list needs none)."""
    repo = BillingRepository.from_session(session)
    ids = [i.id for i in invoices]
    lines, taxes = defaultdict(list), defaultdict(list)
    notes, payments = defaultdict(list), defaultdict(list)
    for ln in await repo.lines(ids) if with_lines else []:
        lines[ln.invoice_id].append(ln)
    for t in await repo.taxes(ids):
        taxes[t.invoice_id].append(t)
    for n in await repo.credit_notes_of(ids):
        notes[n.invoice_id].append(n)
    for p in await repo.payments_of(ids):
        payments[p.invoice_id].append(p)
    return [InvoiceView(i, lines[i.id], taxes[i.id], notes[i.id], payments[i.id]) for i in invoices]


async def list_invoices(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    tenant_id: str | None = None,
    status: str | None = None,
    service_month: dt.date | None = None,
    with_lines: bool = False,
) -> tuple[Page[BillingInvoice], list[InvoiceView]]:
    result = await BillingRepository.from_session(session).invoices(
        principal, page, tenant_id=tenant_id, status=status, service_month=service_month
    )
    return result, await views(session, result.items, with_lines=with_lines)


# ============================================================================================================
# Credit notes and payments
# ============================================================================================================


async def _finalized_for_update(
    session: AsyncSession, principal: Principal | str, invoice_id: str, action: str
) -> tuple[BillingInvoice, InvoiceView]:
    """The finalized invoice, locked (credit notes and payments of one invoice take turns), with its balances."""
    scope = principal if isinstance(principal, Principal) else _platform(principal)
    invoice = await BillingRepository.from_session(session).invoice(scope, invoice_id, lock=True)
    if invoice is None:
        raise BillingInvoiceNotFound(f"no invoice {invoice_id}")
    if invoice.status != "finalized":
        raise InvoiceNotFinalized(f"a draft is not {action}: it is recounted until it is finalized")
    return invoice, (await views(session, [invoice]))[0]


@dataclass(frozen=True, slots=True)
class CreditLine:
    description: str
    amount: int  # tax excluded
    tax_rate: int


async def issue_credit_note(
    session: AsyncSession,
    principal: Principal | str,
    invoice_id: str,
    *,
    reason: str,
    lines: Sequence[CreditLine],
    issue_date: dt.date | None = None,
) -> CreditNote:
    """A 適格返還請求書 reducing a finalized invoice: per rate, never more than what is left of the invoice's base and
    tax; its tax computed once per rate; numbered gapless in its own series."""
    invoice, view = await _finalized_for_update(session, principal, invoice_id, "corrected by a credit note")
    base_left = {t.tax_rate: t.taxable_base for t in view.taxes}
    tax_left = {t.tax_rate: t.tax for t in view.taxes}
    for note in view.credit_notes:
        for t in note.taxes:
            base_left[t["tax_rate"]] -= t["taxable_base"]
            tax_left[t["tax_rate"]] -= t["tax"]
    issues = [
        FieldIssue(f"#/lines/{i}/tax_rate", f"the invoice has no {ln.tax_rate} % lines", "rate")
        for i, ln in enumerate(lines)
        if ln.tax_rate not in base_left
    ]
    if issues:
        raise CreditExceedsInvoice("A credit note reduces what the invoice billed, rate by rate.", issues=issues)
    issuer = await get_issuer(session)
    totals = tax_by_rate(((ln.amount, ln.tax_rate) for ln in lines), invoice.rounding)
    taxes = []
    for t in totals:
        if t.taxable_base > base_left[t.tax_rate]:
            raise CreditExceedsInvoice(
                f"{t.tax_rate} %: ¥{t.taxable_base:,} exceeds the ¥{base_left[t.tax_rate]:,} left to credit",
                issues=[FieldIssue("#/lines", f"at most ¥{base_left[t.tax_rate]:,} at {t.tax_rate} %", "exceeds")],
            )
        # Crediting all that is left gives back all the tax left (no rounding residue stays on the invoice).
        tax = tax_left[t.tax_rate] if t.taxable_base == base_left[t.tax_rate] else min(t.tax, tax_left[t.tax_rate])
        taxes.append({"tax_rate": t.tax_rate, "taxable_base": t.taxable_base, "tax": tax})
    subtotal = sum(t["taxable_base"] for t in taxes)
    tax_total = sum(t["tax"] for t in taxes)
    seq = await counters.next_value(session, PLATFORM_COUNTER_SCOPE, CREDIT_NOTE_SERIES)
    day = issue_date or clock.jst_today()
    note = CreditNote(
        id=new_id("bcn"),
        tenant_id=invoice.tenant_id,
        invoice_id=invoice.id,
        number_seq=seq,
        number=f"{issuer.credit_note_prefix}-{seq:08d}",
        issue_date=day,
        invoice_number=invoice.number,
        invoice_service_month=invoice.service_month,
        invoice_issue_date=invoice.issue_date,
        reason=reason,
        currency=invoice.currency,
        subtotal=subtotal,
        tax_total=tax_total,
        total=subtotal + tax_total,
        qualified_required=subtotal + tax_total >= QUALIFIED_CREDIT_THRESHOLD,
        lines=[{"description": ln.description, "amount": ln.amount, "tax_rate": ln.tax_rate} for ln in lines],
        taxes=taxes,
        issuer=issuer_snapshot(issuer),
        created_by=_actor(principal),
        created_at=clock.utc_now(),
    )
    session.add(note)
    await session.flush()
    await ledger.post(
        session,
        kind="billing.credit_note",
        source_ref=f"credit_note:{note.id}",
        tenant_id=invoice.tenant_id,
        currency=invoice.currency,
        effective_date=day,
        memo=f"{note.number} ← {invoice.number}",
        legs=[
            ledger.dr("sales_returns", subtotal),
            ledger.dr("output_consumption_tax", tax_total),
            ledger.cr("accounts_receivable", subtotal + tax_total),
        ],
    )
    return note


async def get_credit_note(session: AsyncSession, principal: Principal, note_id: str) -> CreditNote:
    note = await BillingRepository.from_session(session).credit_note(principal, note_id)
    if note is None:
        raise CreditNoteNotFound(f"no credit note {note_id}")
    return note


async def list_credit_notes(
    session: AsyncSession, principal: Principal, page: PageRequest, tenant_id: str | None = None
) -> Page[CreditNote]:
    return await BillingRepository.from_session(session).credit_notes(principal, page, tenant_id)


async def record_payment(
    session: AsyncSession,
    principal: Principal | str,
    invoice_id: str,
    *,
    amount: int,
    paid_on: dt.date,
    reference: str = "",
) -> BillingPayment:
    """A tenant paid (part of) an invoice. Never more than its outstanding balance."""
    invoice, view = await _finalized_for_update(session, principal, invoice_id, "paid")
    if amount > view.outstanding:
        raise PaymentExceedsBalance(
            f"¥{amount:,} exceeds the ¥{view.outstanding:,} outstanding on {invoice.number}",
            issues=[FieldIssue("#/amount", f"at most {view.outstanding}", "exceeds")],
        )
    payment = BillingPayment(
        id=new_id("bpy"),
        tenant_id=invoice.tenant_id,
        invoice_id=invoice.id,
        amount=amount,
        currency=invoice.currency,
        paid_on=paid_on,
        reference=reference,
        created_by=_actor(principal),
        created_at=clock.utc_now(),
    )
    session.add(payment)
    await session.flush()
    await ledger.post(
        session,
        kind="billing.payment",
        source_ref=f"payment:{payment.id}",
        tenant_id=invoice.tenant_id,
        currency=invoice.currency,
        effective_date=paid_on,
        memo=f"{invoice.number} {reference}".strip(),
        legs=[ledger.dr("bank", amount), ledger.cr("accounts_receivable", amount)],
    )
    return payment
