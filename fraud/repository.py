"""All SQL of the fraud engine.

A screening reads its history in two queries and its list/negative/external hits in a third, whatever the number
of signals: every per-identifier lookup is an index range scan on ``(tenant_id, kind, key_hash, created_at)``
limited to ``COUNT_CAP`` rows, so a hot key (a forwarding warehouse seen 100,000 times) costs what a cold one does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import aliased

from domain.kit.pagination import Page, PageRequest, paginate
from domain.kit.repository import Repository
from domain.kit.tenancy import Principal, readable_statement
from fraud.models import (
    ExternalAddress,
    ListEntry,
    NegativeEntry,
    NegativeReport,
    PolicyVersion,
    Screening,
    ScreeningIdentifier,
)
from fraud.types import COUNT_CAP, WINDOWS, History, IdKind, Window

FI = ScreeningIdentifier


def _recent(tenant_id: str, kind: IdKind, key_hash: str, since: dt.datetime | None) -> Select[Any]:
    """The latest ``COUNT_CAP`` screenings sharing one identifier (index range scan, capped)."""
    stmt = select(FI.screening_id, FI.created_at).where(
        FI.tenant_id == tenant_id, FI.kind == kind.value, FI.key_hash == key_hash
    )
    if since is not None:
        stmt = stmt.where(FI.created_at >= since)
    return stmt.order_by(FI.created_at.desc()).limit(COUNT_CAP)


class FraudRepository(Repository):
    # -- history ---------------------------------------------------------------------------------------------
    async def history(self, tenant_id: str, hashes: dict[IdKind, str], now: dt.datetime) -> History:
        week_ago = now - WINDOWS[Window.WEEK]
        counts: dict[tuple[IdKind, Window], int] = {}
        velocity_kinds = [
            k for k in (IdKind.ADDRESS, IdKind.PHONE, IdKind.EMAIL, IdKind.DEVICE, IdKind.IP) if k in hashes
        ]
        if velocity_kinds:
            parts = []
            for kind in velocity_kinds:
                sub = _recent(tenant_id, kind, hashes[kind], week_ago).subquery()
                parts.append(select(literal(kind.value).label("kind"), sub.c.created_at))
            rows = union_all(*parts).subquery()
            stmt = select(
                rows.c.kind,
                func.count().filter(rows.c.created_at >= now - WINDOWS[Window.HOUR]),
                func.count().filter(rows.c.created_at >= now - WINDOWS[Window.DAY]),
                func.count(),
            ).group_by(rows.c.kind)
            for kind, hour, day, week in (await self.session.execute(stmt)).all():
                k = IdKind(kind)
                counts[(k, Window.HOUR)], counts[(k, Window.DAY)], counts[(k, Window.WEEK)] = hour, day, week

        aggregates: dict[str, Any] = {}
        if IdKind.ADDRESS in hashes:
            aggregates["names_at_address"] = self._distinct_others(
                tenant_id, IdKind.ADDRESS, hashes[IdKind.ADDRESS], IdKind.NAME, hashes.get(IdKind.NAME), week_ago
            )
        if IdKind.PHONE in hashes:
            aggregates["addresses_for_phone"] = self._distinct_others(
                tenant_id, IdKind.PHONE, hashes[IdKind.PHONE], IdKind.ADDRESS, hashes.get(IdKind.ADDRESS), week_ago
            )
        if IdKind.DEVICE in hashes:
            aggregates["identities_for_device"] = self._distinct_others(
                tenant_id, IdKind.DEVICE, hashes[IdKind.DEVICE], IdKind.NAME, hashes.get(IdKind.NAME), week_ago
            )
        if IdKind.IP in hashes:
            aggregates["identities_for_ip"] = self._distinct_others(
                tenant_id, IdKind.IP, hashes[IdKind.IP], IdKind.NAME, hashes.get(IdKind.NAME), now - WINDOWS[Window.DAY]
            )
        buyer = [(k, hashes[k]) for k in (IdKind.PHONE, IdKind.EMAIL) if k in hashes]
        if buyer:
            prior = (
                select(FI.screening_id)
                .where(FI.tenant_id == tenant_id, or_(*[and_(FI.kind == k.value, FI.key_hash == h) for k, h in buyer]))
                .distinct()
                .limit(COUNT_CAP)
                .subquery()
            )
            aggregates["prior_orders"] = select(func.count()).select_from(prior).scalar_subquery()
            if IdKind.ADDRESS in hashes:
                at_address = _recent(tenant_id, IdKind.ADDRESS, hashes[IdKind.ADDRESS], None).subquery()
                same_buyer = aliased(FI)
                aggregates["address_known_for_buyer"] = exists(
                    select(same_buyer.screening_id)
                    .join(at_address, at_address.c.screening_id == same_buyer.screening_id)
                    .where(
                        same_buyer.tenant_id == tenant_id,
                        or_(*[and_(same_buyer.kind == k.value, same_buyer.key_hash == h) for k, h in buyer]),
                    )
                )
        values: dict[str, Any] = {}
        if aggregates:
            names = list(aggregates)
            row = (await self.session.execute(select(*[aggregates[n].label(n) for n in names]))).one()
            values = dict(zip(names, row, strict=True))
        return History(
            counts=counts,
            names_at_address=int(values.get("names_at_address") or 0),
            addresses_for_phone=int(values.get("addresses_for_phone") or 0),
            identities_for_device=int(values.get("identities_for_device") or 0),
            identities_for_ip=int(values.get("identities_for_ip") or 0),
            prior_orders=int(values.get("prior_orders") or 0),
            address_known_for_buyer=bool(values.get("address_known_for_buyer") or False),
        )

    def _distinct_others(
        self, tenant_id: str, kind: IdKind, key_hash: str, other: IdKind, own: str | None, since: dt.datetime
    ) -> Any:
        """Distinct ``other`` identifiers (not this order's own) among the latest screenings sharing one key."""
        shared = _recent(tenant_id, kind, key_hash, since).subquery()
        o = aliased(FI)
        stmt = (
            select(func.count(func.distinct(o.key_hash)))
            .select_from(shared)
            .join(o, and_(o.tenant_id == tenant_id, o.screening_id == shared.c.screening_id, o.kind == other.value))
        )
        if own is not None:
            stmt = stmt.where(o.key_hash != own)
        return stmt.scalar_subquery()

    # -- list, negative database and external hits ----------------------------------------------------------
    async def hits(
        self, tenant_id: str, hashes: dict[IdKind, str], address_key: str | None
    ) -> tuple[set[tuple[str, str]], set[str]]:
        """``({(list, kind)}, {external categories})``: list is allow | block | negative."""
        pairs = [(k.value, h) for k, h in hashes.items()]
        parts: list[Any] = []
        if pairs:
            parts.append(
                select(ListEntry.list.label("source"), ListEntry.kind.label("kind")).where(
                    ListEntry.tenant_id == tenant_id, tuple_(ListEntry.kind, ListEntry.key_hash).in_(pairs)
                )
            )
            parts.append(
                select(literal("negative").label("source"), NegativeEntry.kind.label("kind")).where(
                    tuple_(NegativeEntry.kind, NegativeEntry.key_hash).in_(pairs)
                )
            )
        if address_key:
            parts.append(
                select(literal("external").label("source"), ExternalAddress.category.label("kind")).where(
                    ExternalAddress.tenant_id == tenant_id, ExternalAddress.address_key == address_key
                )
            )
        if not parts:
            return set(), set()
        rows = (await self.session.execute(union_all(*parts))).all()
        listed = {(source, kind) for source, kind in rows if source != "external"}
        external = {kind for source, kind in rows if source == "external"}
        return listed, external

    # -- screenings ----------------------------------------------------------------------------------------
    async def get(self, principal: Principal, screening_id: str, *, for_update: bool = False) -> Screening | None:
        stmt = readable_statement(Screening, principal).where(Screening.id == screening_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    async def identifier_hashes(self, tenant_id: str, screening_id: str) -> dict[str, str]:
        stmt = select(FI.kind, FI.key_hash).where(FI.tenant_id == tenant_id, FI.screening_id == screening_id)
        return {k: h for k, h in (await self.session.execute(stmt)).all()}

    async def list_screenings(
        self, principal: Principal, page: PageRequest, *, status: str | None = None, verdict: str | None = None
    ) -> Page[Screening]:
        stmt = readable_statement(Screening, principal)
        if status is not None:
            stmt = stmt.where(Screening.status == status)
        if verdict is not None:
            stmt = stmt.where(Screening.verdict == verdict)
        return await paginate(self.session, stmt, Screening, page)

    async def due_reviews(self, now: dt.datetime, limit: int = 500) -> list[Screening]:
        stmt = (
            select(Screening)
            .where(Screening.status == "in_review", Screening.review_deadline <= now)
            .order_by(Screening.review_deadline)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def screenings_since(self, tenant_id: str | None, since: dt.datetime | None) -> list[Screening]:
        stmt = select(Screening).order_by(Screening.created_at)
        if tenant_id is not None:
            stmt = stmt.where(Screening.tenant_id == tenant_id)
        if since is not None:
            stmt = stmt.where(Screening.created_at >= since)
        return list((await self.session.scalars(stmt)).all())

    # -- lists, external data, policies, negative reports ---------------------------------------------------
    async def get_list_entry(self, principal: Principal, entry_id: str) -> ListEntry | None:
        stmt = readable_statement(ListEntry, principal).where(ListEntry.id == entry_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def list_entries(self, principal: Principal, page: PageRequest, list_name: str | None) -> Page[ListEntry]:
        stmt = readable_statement(ListEntry, principal)
        if list_name is not None:
            stmt = stmt.where(ListEntry.list == list_name)
        return await paginate(self.session, stmt, ListEntry, page)

    async def list_entry_by_hash(self, tenant_id: str, list_name: str, kind: str, key_hash: str) -> ListEntry:
        stmt = select(ListEntry).where(
            ListEntry.tenant_id == tenant_id,
            ListEntry.list == list_name,
            ListEntry.kind == kind,
            ListEntry.key_hash == key_hash,
        )
        return (await self.session.scalars(stmt)).one()

    async def external_by_key(self, tenant_id: str, category: str, address_key: str) -> ExternalAddress:
        stmt = select(ExternalAddress).where(
            ExternalAddress.tenant_id == tenant_id,
            ExternalAddress.category == category,
            ExternalAddress.address_key == address_key,
        )
        return (await self.session.scalars(stmt)).one()

    async def get_external(self, principal: Principal, entry_id: str) -> ExternalAddress | None:
        stmt = readable_statement(ExternalAddress, principal).where(ExternalAddress.id == entry_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def list_external(self, principal: Principal, page: PageRequest) -> Page[ExternalAddress]:
        return await paginate(self.session, readable_statement(ExternalAddress, principal), ExternalAddress, page)

    async def latest_policy(self, tenant_id: str) -> PolicyVersion | None:
        stmt = (
            select(PolicyVersion)
            .where(PolicyVersion.tenant_id == tenant_id)
            .order_by(PolicyVersion.version.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).first()

    async def policy_versions(self, principal: Principal) -> list[PolicyVersion]:
        stmt = readable_statement(PolicyVersion, principal).order_by(PolicyVersion.version.desc()).limit(100)
        return list((await self.session.scalars(stmt)).all())

    async def negative_reported(self, tenant_id: str, kind: str, key_hash: str) -> NegativeReport | None:
        stmt = select(NegativeReport).where(
            NegativeReport.tenant_id == tenant_id, NegativeReport.kind == kind, NegativeReport.key_hash == key_hash
        )
        return (await self.session.scalars(stmt)).one_or_none()
