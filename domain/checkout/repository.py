"""All SQL of checkout: consumers and their exposure, orders, captures, refunds, credit policy versions.

The statements on the authorization path are built once (module level) and run with parameters: building a
statement per request costs more than its round trip on this machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import TextClause, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSessionTransaction

from domain.checkout.models import Capture, Consumer, ConsumerKey, CreditPolicyVersion, Order, Refund
from domain.kit.dialect import for_update as locking
from domain.kit.dialect import insert_ignore_returning
from domain.kit.pagination import Page, PageRequest, paginate
from domain.kit.repository import Repository
from domain.kit.tenancy import Principal, readable_statement

_KEYS_OF = text(
    "SELECT kind, key_hash, consumer_id FROM consumer_keys"
    " WHERE tenant_id = :t AND ((kind = :k1 AND key_hash = :h1) OR (kind = :k2 AND key_hash = :h2)"
    " OR (kind = :k3 AND key_hash = :h3))"
)
_INSERT_CONSUMER = text(
    "INSERT INTO consumers (tenant_id, id, currency, outstanding, orders_count, overdue_count, created_at)"
    " VALUES (:t, :id, :c, 0, 0, 0, :now)"
)
# The credit check and the reservation in one statement: it succeeds only within the limit (and, for a consumer
# with no earlier order, within the first-order maximum; with no overdue invoice when the policy says so).
_RESERVE = text(
    "UPDATE consumers SET outstanding = outstanding + :amount, orders_count = orders_count + :inc"
    " WHERE tenant_id = :t AND id = :id AND merged_into IS NULL AND outstanding + :amount <= :limit"
    " AND (orders_count > 0 OR :amount <= :first_max) AND (overdue_count = 0 OR NOT :block_overdue)"
    " RETURNING outstanding"
)
_ADJUST = text(
    "UPDATE consumers SET outstanding = outstanding + :delta"
    " WHERE tenant_id = :t AND id = :id AND merged_into IS NULL RETURNING outstanding"
)
_CONSUMER_STATE = text(
    "SELECT outstanding, orders_count, overdue_count, merged_into FROM consumers WHERE tenant_id = :t AND id = :id"
)


_MERCHANT_TERMS = text("SELECT consumer_fee, test_mode, name FROM merchants WHERE tenant_id = :t AND id = :id")
# Everything an authorization needs to know before it starts, in one round trip: the merchant's terms and the
# versions of the tenant's credit and fraud policies in force (their bodies come from per-version caches).
_AUTHORIZE_CONTEXT = text(
    "SELECT m.consumer_fee, m.test_mode, m.name,"
    " (SELECT max(version) FROM credit_policy_versions WHERE tenant_id = :t) AS credit_version,"
    " (SELECT max(version) FROM fraud_policies WHERE tenant_id = :t) AS fraud_version"
    " FROM merchants m WHERE m.tenant_id = :t AND m.id = :id"
)


@lru_cache(maxsize=16)
def _claim_keys_statement(n: int) -> TextClause:
    """``ON CONFLICT DO NOTHING`` reads the same on PostgreSQL and SQLite (≥ 3.35, which also has RETURNING)."""
    values = ", ".join(f"(:t, :k{i}, :h{i}, :c)" for i in range(n))
    sql = f"INSERT INTO consumer_keys (tenant_id, kind, key_hash, consumer_id) VALUES {values}"  # noqa: S608
    return text(sql + " ON CONFLICT DO NOTHING RETURNING kind")  # only numbered placeholders are interpolated


@dataclass(frozen=True, slots=True)
class MerchantTerms:
    consumer_fee: int
    test_mode: bool
    name: str


@dataclass(frozen=True, slots=True)
class ConsumerState:
    outstanding: int
    orders_count: int
    overdue_count: int
    merged_into: str | None


class CheckoutRepository(Repository):
    async def merchant_terms(self, tenant_id: str, merchant_id: str) -> MerchantTerms:
        row = (await self.session.execute(_MERCHANT_TERMS, {"t": tenant_id, "id": merchant_id})).one()
        return MerchantTerms(int(row.consumer_fee), bool(row.test_mode), row.name)

    async def authorize_context(self, tenant_id: str, merchant_id: str) -> tuple[MerchantTerms, int | None, int | None]:
        """The merchant's terms and the latest credit and fraud policy versions (``None``: the shipped default)."""
        row = (await self.session.execute(_AUTHORIZE_CONTEXT, {"t": tenant_id, "id": merchant_id})).one()
        terms = MerchantTerms(int(row.consumer_fee), bool(row.test_mode), row.name)
        return terms, row.credit_version, row.fraud_version

    async def policy_version(self, tenant_id: str, version: int) -> CreditPolicyVersion | None:
        stmt = select(CreditPolicyVersion).where(
            CreditPolicyVersion.tenant_id == tenant_id, CreditPolicyVersion.version == version
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def merchant_name(self, tenant_id: str, merchant_id: str) -> str:
        return (await self.merchant_terms(tenant_id, merchant_id)).name

    # -- consumers ---------------------------------------------------------------------------------------------

    async def consumers_of_keys(self, tenant_id: str, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """``{(kind, hash): consumer_id}`` for the keys that are known (at most three keys per order)."""
        params: dict[str, str] = {"t": tenant_id}
        padded = list(keys) + [("", "")] * (3 - len(keys))
        for i, (kind, key_hash) in enumerate(padded[:3], start=1):
            params[f"k{i}"], params[f"h{i}"] = kind, key_hash
        rows = (await self.session.execute(_KEYS_OF, params)).all()
        return {(r.kind, r.key_hash): r.consumer_id for r in rows}

    async def insert_consumer(self, tenant_id: str, consumer_id: str, currency: str, now: dt.datetime) -> None:
        await self.session.execute(_INSERT_CONSUMER, {"t": tenant_id, "id": consumer_id, "c": currency, "now": now})

    async def claim_keys(self, tenant_id: str, keys: Sequence[tuple[str, str]], consumer_id: str) -> int:
        """Point the keys at ``consumer_id`` unless they already point somewhere; answers how many were claimed.

        One multi-row ``INSERT … ON CONFLICT DO NOTHING``: rows are taken in the given (sorted) order, so two
        transactions claiming overlapping keys queue on the first shared key instead of deadlocking; a conflicting
        uncommitted insert makes this one wait for the other transaction and then yield to it.
        """
        if not keys:
            return 0
        stmt = _claim_keys_statement(len(keys))
        params: dict[str, str] = {"t": tenant_id, "c": consumer_id}
        for i, (kind, key_hash) in enumerate(keys):
            params[f"k{i}"], params[f"h{i}"] = kind, key_hash
        return len((await self.session.execute(stmt, params)).all())

    async def reserve(
        self,
        tenant_id: str,
        consumer_id: str,
        amount: int,
        *,
        limit: int,
        first_max: int,
        block_overdue: bool,
        new_order: bool = True,
    ) -> bool:
        row = (
            await self.session.execute(
                _RESERVE,
                {
                    "t": tenant_id,
                    "id": consumer_id,
                    "amount": amount,
                    "limit": limit,
                    "first_max": first_max,
                    "block_overdue": block_overdue,
                    "inc": 1 if new_order else 0,
                },
            )
        ).first()
        return row is not None

    async def adjust(self, tenant_id: str, consumer_id: str, delta: int) -> bool:
        """Change the exposure by ``delta`` (negative: release); ``False`` if the consumer was merged away."""
        row = (await self.session.execute(_ADJUST, {"t": tenant_id, "id": consumer_id, "delta": delta})).first()
        return row is not None

    async def consumer_state(self, tenant_id: str, consumer_id: str) -> ConsumerState | None:
        row = (await self.session.execute(_CONSUMER_STATE, {"t": tenant_id, "id": consumer_id})).first()
        if row is None:
            return None
        return ConsumerState(row.outstanding, row.orders_count, row.overdue_count, row.merged_into)

    async def lock_consumers(self, tenant_id: str, ids: Sequence[str]) -> list[Consumer]:
        """Lock, in one statement and in id order (the fixed order every multi-consumer path takes), the consumers
        ``ids``, the survivors they were merged into, and the consumers merged into any of those.

        A merge repoints the consumers merged into the ones it folds away (``merge_consumers``): were those locked
        only then, outside the id order, two merges of one person would deadlock (seen under concurrent orders
        with overlapping identifiers). Merged consumers are otherwise never locked, so this costs no contention.
        """
        wanted = sorted(ids)
        survivors = select(Consumer.merged_into).where(
            Consumer.tenant_id == tenant_id, Consumer.id.in_(wanted), Consumer.merged_into.is_not(None)
        )
        stmt = select(Consumer).where(
            Consumer.tenant_id == tenant_id,
            or_(
                Consumer.id.in_(wanted),
                Consumer.id.in_(survivors),
                Consumer.merged_into.in_(wanted),
                Consumer.merged_into.in_(survivors),
            ),
        )
        # populate_existing: after a rollback to a savepoint, rows seen before may have changed since.
        stmt = locking(self.session, stmt.order_by(Consumer.id)).execution_options(populate_existing=True)
        return list((await self.session.scalars(stmt)).all())

    async def savepoint(self) -> AsyncSessionTransaction:
        """A savepoint; rolling back to it also gives back the row locks and key claims taken since."""
        return await self.session.begin_nested()

    async def merge_consumers(
        self, tenant_id: str, into: str, others: Sequence[str], moved: int, overdue: int, orders: int = 0
    ) -> None:
        """Fold ``others`` into ``into``: exposure, overdue and order counts and keys move; the others point at
        ``into``. (The order count must move too: left behind, the survivor of a merge could look like a consumer
        with no earlier order and face the first-order maximum again.)"""
        s = self.session
        await s.execute(
            update(Consumer)
            .where(Consumer.tenant_id == tenant_id, Consumer.id == into)
            .values(
                outstanding=Consumer.outstanding + moved,
                overdue_count=Consumer.overdue_count + overdue,
                orders_count=Consumer.orders_count + orders,
            )
        )
        await s.execute(
            update(Consumer)
            .where(Consumer.tenant_id == tenant_id, Consumer.id.in_(others))
            .values(outstanding=0, overdue_count=0, orders_count=0, merged_into=into)
        )
        # Anything merged into the others earlier now points at the survivor (chains stay one link long). A row
        # another merge holds is skipped, not waited for: waiting outside the id order deadlocks two merges of one
        # person. Such a row keeps a two-link chain, which every reader follows.
        chained = select(Consumer.id).where(Consumer.tenant_id == tenant_id, Consumer.merged_into.in_(others))
        chained_ids = list((await s.scalars(locking(s, chained, skip_locked=True))).all())
        if chained_ids:
            await s.execute(
                update(Consumer)
                .where(Consumer.tenant_id == tenant_id, Consumer.id.in_(chained_ids))
                .values(merged_into=into)
            )
        await s.execute(
            update(ConsumerKey)
            .where(ConsumerKey.tenant_id == tenant_id, ConsumerKey.consumer_id.in_(others))
            .values(consumer_id=into)
        )

    # -- orders ------------------------------------------------------------------------------------------------

    async def insert_order(self, order: Order) -> bool:
        """Insert the order unless its merchant order id is taken by an active order (``False`` then)."""
        values = {c.key: getattr(order, c.key) for c in Order.__table__.columns}
        return await insert_ignore_returning(self.session, Order, "id", **values) is not None

    async def get(self, principal: Principal, order_id: str, *, for_update: bool = False) -> Order | None:
        stmt = readable_statement(Order, principal).where(Order.id == order_id)
        if for_update:
            stmt = locking(self.session, stmt)
        return (await self.session.scalars(stmt)).one_or_none()

    async def by_merchant_order_id(self, principal: Principal, merchant_order_id: str) -> Order | None:
        """The active order with this merchant order id, else the newest one that had it."""
        stmt = (
            readable_statement(Order, principal)
            .where(Order.merchant_order_id == merchant_order_id)
            .order_by(Order.id.desc())
        )
        orders = list((await self.session.scalars(stmt.limit(20))).all())
        inactive = ("declined", "cancelled", "expired")
        return next((o for o in orders if o.status not in inactive), orders[0] if orders else None)

    async def list(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        status: str | None = None,
        merchant_id: str | None = None,
        merchant_order_id: str | None = None,
    ) -> Page[Order]:
        stmt = readable_statement(Order, principal)
        if status is not None:
            stmt = stmt.where(Order.status == status)
        if merchant_id is not None:
            stmt = stmt.where(Order.merchant_id == merchant_id)
        if merchant_order_id is not None:
            stmt = stmt.where(Order.merchant_order_id == merchant_order_id)
        return await paginate(self.session, stmt, Order, page)

    async def by_screening(self, tenant_id: str, screening_id: str, *, lock: bool = False) -> Order | None:
        stmt = select(Order).where(Order.tenant_id == tenant_id, Order.screening_id == screening_id)
        if lock:
            stmt = locking(self.session, stmt)
        return (await self.session.scalars(stmt)).one_or_none()

    async def lock_by_id(self, tenant_id: str, order_id: str, *, skip_locked: bool = False) -> Order | None:
        """Lock an order for a job; with ``skip_locked``, ``None`` when a request holds it right now."""
        stmt = locking(
            self.session,
            select(Order).where(Order.tenant_id == tenant_id, Order.id == order_id),
            skip_locked=skip_locked,
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def due_reviews(self, now: dt.datetime, limit: int) -> list[tuple[str, str]]:
        """(tenant, order) of orders still in review past their deadline, oldest deadline first."""
        stmt = (
            select(Order.tenant_id, Order.id)
            .where(Order.status == "in_review", Order.review_deadline <= now)
            .order_by(Order.review_deadline)
            .limit(limit)
        )
        return [(r[0], r[1]) for r in (await self.session.execute(stmt)).all()]

    async def due_expiries(self, now: dt.datetime, limit: int) -> list[tuple[str, str]]:
        """(tenant, order) of authorizations past their expiry, oldest first."""
        stmt = (
            select(Order.tenant_id, Order.id)
            .where(Order.status.in_(("authorized", "partially_captured")), Order.expires_at <= now)
            .order_by(Order.expires_at)
            .limit(limit)
        )
        return [(r[0], r[1]) for r in (await self.session.execute(stmt)).all()]

    async def due_guarantee_lapses(self, now: dt.datetime, limit: int) -> list[tuple[str, str]]:
        stmt = (
            select(Order.tenant_id, Order.id)
            .where(Order.guarantee == "pending", Order.guarantee_deadline <= now)
            .order_by(Order.guarantee_deadline)
            .limit(limit)
        )
        return [(r[0], r[1]) for r in (await self.session.execute(stmt)).all()]

    async def captures_of(self, tenant_id: str, order_id: str) -> list[Capture]:
        stmt = select(Capture).where(Capture.tenant_id == tenant_id, Capture.order_id == order_id).order_by(Capture.id)
        return list((await self.session.scalars(stmt)).all())

    async def refunds_of(self, tenant_id: str, order_id: str) -> list[Refund]:
        stmt = select(Refund).where(Refund.tenant_id == tenant_id, Refund.order_id == order_id).order_by(Refund.id)
        return list((await self.session.scalars(stmt)).all())

    # -- credit policy -----------------------------------------------------------------------------------------

    async def latest_policy(self, tenant_id: str) -> CreditPolicyVersion | None:
        stmt = (
            select(CreditPolicyVersion)
            .where(CreditPolicyVersion.tenant_id == tenant_id)
            .order_by(CreditPolicyVersion.version.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def policy_versions(self, principal: Principal) -> list[CreditPolicyVersion]:
        stmt = readable_statement(CreditPolicyVersion, principal).order_by(CreditPolicyVersion.version.desc())
        return list((await self.session.scalars(stmt)).all())
