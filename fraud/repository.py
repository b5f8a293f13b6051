"""All SQL of the fraud engine.

A screening reads its history in two queries and its list/negative/external hits in a third, whatever the number
of signals: every per-identifier lookup is an index range scan on ``(tenant_id, kind, key_hash, created_at)``
limited to ``COUNT_CAP`` rows, so a hot key (a forwarding warehouse seen 100,000 times) costs what a cold one does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, insert, select, text

from domain.kit.db import UTCDateTime
from domain.kit.pagination import Page, PageRequest, paginate
from domain.kit.repository import Repository
from domain.kit.tenancy import Principal, readable_statement
from fraud.models import (
    ExternalAddress,
    ListEntry,
    NegativeReport,
    PolicyVersion,
    Screening,
    ScreeningIdentifier,
)
from fraud.types import COUNT_CAP, WINDOWS, History, IdKind, Window

FI = ScreeningIdentifier


# The SQL below is assembled from module constants only (kinds, windows, parameter names), never from input:
# every value travels as a bound parameter. Hence the S608 suppressions.
def _latest(kind: str, key: str, *, window: str | None = "week", column: str = "screening_id") -> str:
    """The latest ``:cap`` screenings sharing one identifier: an index range scan on
    ``(tenant_id, kind, key_hash, created_at)``, capped."""
    since = f" AND created_at >= :{window}" if window else ""
    return (
        f"SELECT {column} FROM fraud_identifiers WHERE tenant_id = :tenant_id AND kind = '{kind}' "
        f"AND key_hash = :{key}{since} ORDER BY created_at DESC LIMIT :cap"
    )


def _distinct_others(kind: str, other: str, own: str, window: str) -> str:
    """Distinct ``other`` identifiers, not this order's own, among the latest screenings sharing ``kind``."""
    return (
        f"(SELECT COUNT(DISTINCT o.key_hash) FROM ({_latest(kind, kind, window=window)}) s "
        f"JOIN fraud_identifiers o ON o.tenant_id = :tenant_id AND o.screening_id = s.screening_id "
        f"AND o.kind = '{other}' WHERE o.key_hash <> COALESCE(:{own}, ''))"
    )


_TIMES = (
    bindparam("hour", type_=UTCDateTime()),
    bindparam("day", type_=UTCDateTime()),
    bindparam("week", type_=UTCDateTime()),
)

_VELOCITY = text(
    "SELECT kind, SUM(CASE WHEN created_at >= :hour THEN 1 ELSE 0 END) AS hour, "
    "SUM(CASE WHEN created_at >= :day THEN 1 ELSE 0 END) AS day, COUNT(*) AS week FROM ("
    + " UNION ALL ".join(
        f"SELECT '{k}' AS kind, created_at FROM ({_latest(k, k, column='created_at')}) AS v_{k}"
        for k in ("address", "phone", "email", "device", "ip")
    )
    + ") AS v GROUP BY kind"
).bindparams(*_TIMES)

_BUYER = "((b.kind = 'phone' AND b.key_hash = :phone) OR (b.kind = 'email' AND b.key_hash = :email))"
_AGGREGATES = text(
    "SELECT "
    f"{_distinct_others('address', 'name', 'name', 'week')} AS names_at_address, "
    f"{_distinct_others('phone', 'address', 'address', 'week')} AS addresses_for_phone, "
    f"{_distinct_others('device', 'name', 'name', 'week')} AS identities_for_device, "
    f"{_distinct_others('ip', 'name', 'name', 'day')} AS identities_for_ip, "
    "(SELECT COUNT(*) FROM ("
    f"SELECT screening_id FROM ({_latest('phone', 'phone', window=None)}) AS p "
    f"UNION SELECT screening_id FROM ({_latest('email', 'email', window=None)}) AS e) AS b) AS prior_orders, "
    f"EXISTS (SELECT 1 FROM ({_latest('address', 'address', window=None)}) s "
    "JOIN fraud_identifiers b ON b.tenant_id = :tenant_id AND b.screening_id = s.screening_id "
    f"WHERE {_BUYER}) AS address_known_for_buyer"
).bindparams(bindparam("day", type_=UTCDateTime()), bindparam("week", type_=UTCDateTime()))


_BY_KIND = " OR ".join(f"(kind = '{k.value}' AND key_hash = :{k.value})" for k in IdKind)
_HITS = text(
    f"SELECT list AS source, kind FROM fraud_list_entries WHERE tenant_id = :tenant_id AND ({_BY_KIND}) "
    f"UNION ALL SELECT 'negative', kind FROM fraud_negative_entries WHERE {_BY_KIND} "
    "UNION ALL SELECT 'external', category FROM fraud_external_addresses "
    "WHERE tenant_id = :tenant_id AND address_key = :address_key"
)
_LATEST_POLICY = (
    select(PolicyVersion)
    .where(PolicyVersion.tenant_id == bindparam("tenant_id"))
    .order_by(PolicyVersion.version.desc())
    .limit(1)
)


_SCREENING_COLUMNS = tuple(Screening.__table__.columns)
_INSERT_SCREENING = insert(Screening.__table__)
_INSERT_IDENTIFIERS = insert(FI.__table__)


class FraudRepository(Repository):
    # -- history ---------------------------------------------------------------------------------------------
    async def history(self, tenant_id: str, hashes: dict[IdKind, str], now: dt.datetime) -> History:
        """Two fixed statements whatever identifiers the order has (a missing one is NULL and matches nothing),
        so they are built and planned once (prepared) instead of per screening."""
        params: dict[str, Any] = {kind.value: hashes.get(kind) for kind in IdKind}
        params.update(
            tenant_id=tenant_id,
            cap=COUNT_CAP,
            hour=now - WINDOWS[Window.HOUR],
            day=now - WINDOWS[Window.DAY],
            week=now - WINDOWS[Window.WEEK],
        )
        counts: dict[tuple[IdKind, Window], int] = {}
        for kind, hour, day, week in (await self.session.execute(_VELOCITY, params)).all():
            k = IdKind(kind)
            counts[(k, Window.HOUR)], counts[(k, Window.DAY)], counts[(k, Window.WEEK)] = (
                int(hour),
                int(day),
                int(week),
            )
        row = (await self.session.execute(_AGGREGATES, params)).one()
        return History(
            counts=counts,
            names_at_address=int(row.names_at_address or 0),
            addresses_for_phone=int(row.addresses_for_phone or 0),
            identities_for_device=int(row.identities_for_device or 0),
            identities_for_ip=int(row.identities_for_ip or 0),
            prior_orders=min(int(row.prior_orders or 0), COUNT_CAP),
            address_known_for_buyer=bool(row.address_known_for_buyer),
        )

    # -- list, negative database and external hits ----------------------------------------------------------
    async def hits(
        self, tenant_id: str, hashes: dict[IdKind, str], address_key: str | None
    ) -> tuple[set[tuple[str, str]], set[str]]:
        """``({(list, kind)}, {external categories})``: list is allow | block | negative. One fixed statement."""
        params: dict[str, Any] = {kind.value: hashes.get(kind) for kind in IdKind}
        params.update(tenant_id=tenant_id, address_key=address_key)
        rows = (await self.session.execute(_HITS, params)).all()
        listed = {(source, kind) for source, kind in rows if source != "external"}
        external = {kind for source, kind in rows if source == "external"}
        return listed, external

    # -- screenings ----------------------------------------------------------------------------------------
    async def insert_screening(self, screening: Screening, hashes: dict[IdKind, str]) -> None:
        """Write a new screening and its identifier hashes with two prebuilt Core INSERTs (the hot path; an ORM
        flush of seven objects costs more than the database work). ``screening`` stays a plain object."""
        values = {column.key: getattr(screening, column.key) for column in _SCREENING_COLUMNS}
        await self.session.execute(_INSERT_SCREENING, values)
        if hashes:
            await self.session.execute(
                _INSERT_IDENTIFIERS,
                [
                    {
                        "tenant_id": screening.tenant_id,
                        "screening_id": screening.id,
                        "kind": kind.value,
                        "key_hash": h,
                        "created_at": screening.created_at,
                    }
                    for kind, h in hashes.items()
                ],
            )

    async def get_for_tenant(self, tenant_id: str, screening_id: str, *, for_update: bool = False) -> Screening | None:
        """A screening by id within one tenant (system callers: jobs and other capabilities' services)."""
        stmt = select(Screening).where(Screening.tenant_id == tenant_id, Screening.id == screening_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

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
        """Due reviews, locked; one an analyst (or a request) holds right now is skipped, so that its decision is
        never overwritten by the expiry (PostgreSQL re-checks ``status`` once it has the lock)."""
        stmt = (
            select(Screening)
            .where(Screening.status == "in_review", Screening.review_deadline <= now)
            .order_by(Screening.review_deadline)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
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
        return (await self.session.scalars(_LATEST_POLICY, {"tenant_id": tenant_id})).first()

    async def policy_versions(self, principal: Principal) -> list[PolicyVersion]:
        stmt = readable_statement(PolicyVersion, principal).order_by(PolicyVersion.version.desc()).limit(100)
        return list((await self.session.scalars(stmt)).all())

    async def negative_reported(self, tenant_id: str, kind: str, key_hash: str) -> NegativeReport | None:
        stmt = select(NegativeReport).where(
            NegativeReport.tenant_id == tenant_id, NegativeReport.kind == kind, NegativeReport.key_hash == key_hash
        )
        return (await self.session.scalars(stmt)).one_or_none()
