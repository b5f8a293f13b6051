"""All SQL of platform billing. Reads by a principal start from :func:`readable`: platform keys see every
tenant's documents, an operator's keys only its own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, delete, false, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from billing.metering import UsageEvent
from billing.models import (
    BillingInvoice,
    BillingInvoiceLine,
    BillingInvoiceTax,
    BillingIssuer,
    BillingPayment,
    CreditNote,
    LateUsageMark,
    Plan,
    PlanVersion,
    Subscription,
    SubscriptionChange,
    UsageSnapshot,
)
from billing.pricing import month_bounds_utc, next_month
from domain.kit.dialect import for_update, insert_ignore, is_postgres
from domain.kit.pagination import Page, PageRequest, paginate
from domain.kit.repository import Repository
from domain.kit.tenancy import Principal, Role

M = TypeVar("M")

ISSUER_ID = "platform"


def readable(model: type[M], principal: Principal) -> Select[tuple[M]]:
    """``SELECT model`` limited to what ``principal`` may see of platform billing."""
    stmt = select(model)
    if principal.is_platform:
        return stmt
    if principal.role in (Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE):
        return stmt.where(model.tenant_id == principal.require_tenant())  # type: ignore[attr-defined]
    return stmt.where(false())


def _usage_day(session: AsyncSession) -> str:
    """The JST business date of an event, in SQL (PostgreSQL, or SQLite's UTC text timestamps)."""
    if is_postgres(session):
        return "(occurred_at AT TIME ZONE 'Asia/Tokyo')::date"
    # Whole seconds only: SQLite rounds .999999 up to the next second (and so the next day at 23:59:59.999999).
    return "date(substr(occurred_at, 1, 19), '+9 hours')"


class BillingRepository(Repository):
    # -- catalog ----------------------------------------------------------------------------------------------
    async def plan(self, plan_id: str) -> Plan | None:
        return await self.session.get(Plan, plan_id)

    async def plan_by_code(self, code: str) -> Plan | None:
        return (await self.session.scalars(select(Plan).where(Plan.code == code))).one_or_none()

    async def plans(self, page: PageRequest) -> Page[Plan]:
        return await paginate(self.session, select(Plan), Plan, page)

    async def versions(self, plan_ids: Sequence[str]) -> list[PlanVersion]:
        stmt = select(PlanVersion).where(PlanVersion.plan_id.in_(plan_ids)).order_by(PlanVersion.version)
        return list((await self.session.scalars(stmt)).all())

    async def version(self, version_id: str) -> PlanVersion | None:
        return await self.session.get(PlanVersion, version_id)

    async def latest_version(self, plan_id: str, *, lock: bool = False) -> PlanVersion | None:
        stmt = select(PlanVersion).where(PlanVersion.plan_id == plan_id).order_by(PlanVersion.version.desc()).limit(1)
        if lock:
            stmt = for_update(self.session, stmt)
        return (await self.session.scalars(stmt)).first()

    async def versions_by_id(self, ids: Sequence[str]) -> dict[str, PlanVersion]:
        if not ids:
            return {}
        rows = await self.session.scalars(select(PlanVersion).where(PlanVersion.id.in_(set(ids))))
        return {v.id: v for v in rows}

    async def plans_by_id(self, ids: Sequence[str]) -> dict[str, Plan]:
        if not ids:
            return {}
        return {p.id: p for p in await self.session.scalars(select(Plan).where(Plan.id.in_(set(ids))))}

    # -- customers (operators: billing reads their name only; domain.tenancy is not ours to import) ------------
    async def customers(self, tenant_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """operator id → {operator_id, name} of the operators that exist."""
        if not tenant_ids:
            return {}
        stmt = text("SELECT id, name FROM operators WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
        rows = (await self.session.execute(stmt, {"ids": list(tenant_ids)})).all()
        return {r[0]: {"operator_id": r[0], "name": r[1]} for r in rows}

    # -- issuer -----------------------------------------------------------------------------------------------
    async def issuer(self, *, lock: bool = False) -> BillingIssuer | None:
        stmt = select(BillingIssuer).where(BillingIssuer.id == ISSUER_ID)
        if lock:
            stmt = for_update(self.session, stmt)
        return (await self.session.scalars(stmt)).one_or_none()

    # -- subscriptions ----------------------------------------------------------------------------------------
    async def subscription(self, principal: Principal, sub_id: str, *, lock: bool = False) -> Subscription | None:
        stmt = readable(Subscription, principal).where(Subscription.id == sub_id)
        if lock:
            stmt = for_update(self.session, stmt)
        return (await self.session.scalars(stmt)).one_or_none()

    async def subscriptions(
        self, principal: Principal, page: PageRequest, tenant_id: str | None = None
    ) -> Page[Subscription]:
        stmt = readable(Subscription, principal)
        if tenant_id is not None:
            stmt = stmt.where(Subscription.tenant_id == tenant_id)
        return await paginate(self.session, stmt, Subscription, page)

    async def tenant_subscriptions(self, tenant_id: str, *, lock: bool = False) -> list[Subscription]:
        stmt = select(Subscription).where(Subscription.tenant_id == tenant_id).order_by(Subscription.id)
        if lock:
            stmt = for_update(self.session, stmt)
        return list((await self.session.scalars(stmt)).all())

    async def subscriptions_overlapping(self, month: dt.date, tenant_ids: Sequence[str] | None) -> list[Subscription]:
        end = next_month(month)
        stmt = select(Subscription).where(
            Subscription.start_date < end, (Subscription.end_date.is_(None)) | (Subscription.end_date > month)
        )
        if tenant_ids is not None:
            stmt = stmt.where(Subscription.tenant_id.in_(tenant_ids))
        return list((await self.session.scalars(stmt.order_by(Subscription.tenant_id, Subscription.start_date))).all())

    async def subscriptions_between(
        self, first: dt.date, before: dt.date, tenant_ids: Sequence[str] | None = None
    ) -> list[Subscription]:
        """Subscriptions covering some day of [first, before)."""
        stmt = select(Subscription).where(
            Subscription.start_date < before, (Subscription.end_date.is_(None)) | (Subscription.end_date > first)
        )
        if tenant_ids is not None:
            stmt = stmt.where(Subscription.tenant_id.in_(list(tenant_ids)))
        return list((await self.session.scalars(stmt)).all())

    async def invoiced_pairs(
        self, first: dt.date, before: dt.date, tenant_ids: Sequence[str] | None = None
    ) -> set[tuple[str, dt.date]]:
        """(operator, month) of every invoice, draft or finalized, for the months of [first, before)."""
        stmt = select(BillingInvoice.tenant_id, BillingInvoice.service_month).where(
            BillingInvoice.service_month >= first, BillingInvoice.service_month < before
        )
        if tenant_ids is not None:
            stmt = stmt.where(BillingInvoice.tenant_id.in_(list(tenant_ids)))
        return {(t, m) for t, m in (await self.session.execute(stmt)).all()}

    async def changes(self, until: dt.date) -> list[SubscriptionChange]:
        """The change log up to (excluding) ``until``, in effective order."""
        stmt = (
            select(SubscriptionChange)
            .where(SubscriptionChange.effective_date < until)
            .order_by(SubscriptionChange.effective_date, SubscriptionChange.id)
        )
        return list((await self.session.scalars(stmt)).all())

    # -- usage ------------------------------------------------------------------------------------------------
    async def usage_totals(self, month: dt.date, tenant_ids: Sequence[str] | None = None) -> list[tuple[str, str, int]]:
        """(tenant, metric, units) of the month: one GROUP BY on plain columns, which PostgreSQL hashes (the
        planner knows how few tenants and kinds there are; a per-day expression would make it sort every row)."""
        lo, hi = month_bounds_utc(month)
        stmt = (
            select(UsageEvent.tenant_id, UsageEvent.kind, func.sum(UsageEvent.quantity))
            .where(UsageEvent.occurred_at >= lo, UsageEvent.occurred_at < hi)
            .group_by(UsageEvent.tenant_id, UsageEvent.kind)
        )
        if tenant_ids is not None:
            if not tenant_ids:
                return []
            stmt = stmt.where(UsageEvent.tenant_id.in_(list(tenant_ids)))
        return [(t, k, int(n)) for t, k, n in (await self.session.execute(stmt)).all()]

    async def usage_by_day(
        self, month: dt.date, tenant_ids: Sequence[str] | None = None
    ) -> list[tuple[str, str, dt.date, int]]:
        """(tenant, metric, JST day, units) for the month: one GROUP BY in the database over the month's events."""
        lo, hi = month_bounds_utc(month)
        day = _usage_day(self.session)
        where = "occurred_at >= :lo AND occurred_at < :hi"
        params: dict[str, Any] = {"lo": lo, "hi": hi}
        if tenant_ids is not None:
            if not tenant_ids:
                return []
            names = []
            for i, tenant_id in enumerate(tenant_ids):
                params[f"t{i}"] = tenant_id
                names.append(f":t{i}")
            where += f" AND tenant_id IN ({', '.join(names)})"
        sql = (
            f"SELECT tenant_id, kind, {day} AS day, SUM(quantity) FROM usage_events"  # noqa: S608 - constants only
            f" WHERE {where} GROUP BY tenant_id, kind, {day}"
        )
        utc = UsageEvent.__table__.c.occurred_at.type  # UTC-tagged datetimes bind as through the ORM
        stmt = text(sql).bindparams(bindparam("lo", type_=utc), bindparam("hi", type_=utc))
        rows = (await self.session.execute(stmt, params)).all()
        out = []
        for tenant_id, kind, d, units in rows:
            out.append((tenant_id, kind, d if isinstance(d, dt.date) else dt.date.fromisoformat(d), int(units)))
        return out

    async def mark_late(self, tenant_id: str, month: dt.date, now: dt.datetime) -> None:
        await self.session.execute(
            insert_ignore(self.session, LateUsageMark, tenant_id=tenant_id, service_month=month, marked_at=now)
        )

    async def late_marks(self, before: dt.date, tenant_ids: Sequence[str] | None = None) -> list[LateUsageMark]:
        """Marks of the three months before ``before``: events are ingested at most 60 days late, so an older mark
        was settled by an earlier invoice (marks are kept, not cleared, so that no late event can slip between a
        recount and a clearing)."""
        since = before
        for _ in range(3):
            since = (since - dt.timedelta(days=1)).replace(day=1)
        stmt = select(LateUsageMark).where(LateUsageMark.service_month < before, LateUsageMark.service_month >= since)
        if tenant_ids is not None:
            stmt = stmt.where(LateUsageMark.tenant_id.in_(tenant_ids))
        return list((await self.session.scalars(stmt)).all())

    async def billed_usage(
        self, tenant_id: str, months: Sequence[dt.date]
    ) -> dict[tuple[str, str, dt.date], tuple[int, int]]:
        """(subscription, metric, month) → (units counted last, amount billed in all) over finalized invoices."""
        if not months:
            return {}
        stmt = (
            select(
                UsageSnapshot.subscription_id,
                UsageSnapshot.metric,
                UsageSnapshot.service_month,
                func.max(UsageSnapshot.counted),
                func.sum(UsageSnapshot.amount),
            )
            .join(BillingInvoice, BillingInvoice.id == UsageSnapshot.invoice_id)
            .where(
                UsageSnapshot.tenant_id == tenant_id,
                UsageSnapshot.service_month.in_(months),
                BillingInvoice.status == "finalized",
            )
            .group_by(UsageSnapshot.subscription_id, UsageSnapshot.metric, UsageSnapshot.service_month)
        )
        return {(s, m, mo): (int(c), int(a)) for s, m, mo, c, a in (await self.session.execute(stmt)).all()}

    # -- invoices ---------------------------------------------------------------------------------------------
    async def invoice(self, principal: Principal, invoice_id: str, *, lock: bool = False) -> BillingInvoice | None:
        stmt = readable(BillingInvoice, principal).where(BillingInvoice.id == invoice_id)
        if lock:
            stmt = for_update(self.session, stmt)
        return (await self.session.scalars(stmt)).one_or_none()

    async def invoices(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        tenant_id: str | None = None,
        status: str | None = None,
        service_month: dt.date | None = None,
    ) -> Page[BillingInvoice]:
        stmt = readable(BillingInvoice, principal)
        if tenant_id is not None:
            stmt = stmt.where(BillingInvoice.tenant_id == tenant_id)
        if status is not None:
            stmt = stmt.where(BillingInvoice.status == status)
        if service_month is not None:
            stmt = stmt.where(BillingInvoice.service_month == service_month)
        return await paginate(self.session, stmt, BillingInvoice, page)

    async def invoices_of_month(self, month: dt.date) -> dict[str, BillingInvoice]:
        stmt = select(BillingInvoice).where(BillingInvoice.service_month == month)
        return {i.tenant_id: i for i in await self.session.scalars(stmt)}

    async def drafts_due(self, last_month: dt.date) -> list[BillingInvoice]:
        stmt = (
            select(BillingInvoice)
            .where(BillingInvoice.status == "draft", BillingInvoice.service_month <= last_month)
            .order_by(BillingInvoice.service_month, BillingInvoice.tenant_id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def earlier_draft(self, tenant_id: str, month: dt.date) -> BillingInvoice | None:
        stmt = select(BillingInvoice).where(
            BillingInvoice.tenant_id == tenant_id,
            BillingInvoice.status == "draft",
            BillingInvoice.service_month < month,
        )
        return (await self.session.scalars(stmt.limit(1))).first()

    async def clear_drafts(self, invoice_ids: Sequence[str]) -> None:
        """Delete the lines, tax summaries and snapshots of drafts about to be recomputed."""
        for i in range(0, len(invoice_ids), 1000):
            chunk = list(invoice_ids[i : i + 1000])
            for model in (BillingInvoiceLine, BillingInvoiceTax, UsageSnapshot):
                await self.session.execute(delete(model).where(model.invoice_id.in_(chunk)))

    async def insert_parts(
        self, lines: list[dict[str, Any]], taxes: list[dict[str, Any]], snapshots: list[dict[str, Any]]
    ) -> None:
        """Multi-row INSERTs (SQLAlchemy's insertmanyvalues: a few statements for thousands of rows)."""
        for model, rows in ((BillingInvoiceLine, lines), (BillingInvoiceTax, taxes), (UsageSnapshot, snapshots)):
            if rows:
                await self.session.execute(insert(model), rows)

    async def lines(self, invoice_ids: Sequence[str]) -> list[BillingInvoiceLine]:
        stmt = (
            select(BillingInvoiceLine)
            .where(BillingInvoiceLine.invoice_id.in_(invoice_ids))
            .order_by(BillingInvoiceLine.invoice_id, BillingInvoiceLine.position)
        )
        return list((await self.session.scalars(stmt)).all())

    async def amounts_by_kind(self, invoice_ids: Sequence[str]) -> list[tuple[str, str, int]]:
        """(line kind, invoice, Σ amount) of the invoices' lines."""
        out: list[tuple[str, str, int]] = []
        for i in range(0, len(invoice_ids), 1000):
            stmt = (
                select(BillingInvoiceLine.kind, BillingInvoiceLine.invoice_id, func.sum(BillingInvoiceLine.amount))
                .where(BillingInvoiceLine.invoice_id.in_(list(invoice_ids[i : i + 1000])))
                .group_by(BillingInvoiceLine.kind, BillingInvoiceLine.invoice_id)
            )
            out.extend((k, inv, int(a)) for k, inv, a in (await self.session.execute(stmt)).all())
        return out

    async def taxes(self, invoice_ids: Sequence[str]) -> list[BillingInvoiceTax]:
        stmt = (
            select(BillingInvoiceTax)
            .where(BillingInvoiceTax.invoice_id.in_(invoice_ids))
            .order_by(BillingInvoiceTax.invoice_id, BillingInvoiceTax.tax_rate)
        )
        return list((await self.session.scalars(stmt)).all())

    async def credit_notes_of(self, invoice_ids: Sequence[str]) -> list[CreditNote]:
        stmt = select(CreditNote).where(CreditNote.invoice_id.in_(invoice_ids)).order_by(CreditNote.number_seq)
        return list((await self.session.scalars(stmt)).all())

    async def payments_of(self, invoice_ids: Sequence[str]) -> list[BillingPayment]:
        stmt = select(BillingPayment).where(BillingPayment.invoice_id.in_(invoice_ids)).order_by(BillingPayment.id)
        return list((await self.session.scalars(stmt)).all())

    async def credit_note(self, principal: Principal, note_id: str) -> CreditNote | None:
        stmt = readable(CreditNote, principal).where(CreditNote.id == note_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def credit_notes(
        self, principal: Principal, page: PageRequest, tenant_id: str | None = None
    ) -> Page[CreditNote]:
        stmt = readable(CreditNote, principal)
        if tenant_id is not None:
            stmt = stmt.where(CreditNote.tenant_id == tenant_id)
        return await paginate(self.session, stmt, CreditNote, page)
