"""All SQL of webhooks. Merchant reads start from ``readable_statement``; the emit and delivery paths are
system work addressed by (tenant, id) and use statements built once, because emit runs on every order transition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from domain.kit.pagination import Page, PageRequest, paginate
from domain.kit.repository import Repository
from domain.kit.tenancy import Principal, readable_statement
from domain.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

# Built once (statement construction costs more than the indexed lookup itself): the merchant's live endpoints.
# Served by ix_webhook_endpoints_merchant; a merchant has at most a handful of endpoints.
_LIVE_ENDPOINTS = select(WebhookEndpoint.id, WebhookEndpoint.enabled_events).where(
    WebhookEndpoint.tenant_id == bindparam("tenant_id"),
    WebhookEndpoint.merchant_id == bindparam("merchant_id"),
    WebhookEndpoint.status == "active",
    WebhookEndpoint.deleted_at.is_(None),
)
_INSERT_EVENT = insert(WebhookEvent.__table__)  # type: ignore[arg-type]
_INSERT_DELIVERY = insert(WebhookDelivery.__table__)  # type: ignore[arg-type]
_INSERT_ATTEMPT = insert(WebhookAttempt.__table__)  # type: ignore[arg-type]

# The delivery actor's one read: the delivery, its event and its endpoint.
_FOR_DELIVERY = (
    select(WebhookDelivery, WebhookEvent, WebhookEndpoint)
    .join(
        WebhookEvent,
        (WebhookEvent.tenant_id == WebhookDelivery.tenant_id) & (WebhookEvent.id == WebhookDelivery.event_id),
    )
    .join(
        WebhookEndpoint,
        (WebhookEndpoint.tenant_id == WebhookDelivery.tenant_id) & (WebhookEndpoint.id == WebhookDelivery.endpoint_id),
    )
    .where(WebhookDelivery.tenant_id == bindparam("tenant_id"), WebhookDelivery.id == bindparam("delivery_id"))
)


class WebhookRepository(Repository):
    # -- the emit path ---------------------------------------------------------------------------------------

    async def live_endpoints(self, tenant_id: str, merchant_id: str) -> Sequence[Any]:
        """``(id, enabled_events)`` of the merchant's active, undeleted endpoints."""
        result = await self.session.execute(_LIVE_ENDPOINTS, {"tenant_id": tenant_id, "merchant_id": merchant_id})
        return result.all()

    async def insert_event(self, **values: Any) -> None:
        await self.session.execute(_INSERT_EVENT, values)

    async def insert_deliveries(self, rows: list[dict[str, Any]]) -> None:
        await self.session.execute(_INSERT_DELIVERY, rows)

    # -- endpoints -------------------------------------------------------------------------------------------

    def _endpoints(self, principal: Principal):  # type: ignore[no-untyped-def]
        return readable_statement(WebhookEndpoint, principal).where(WebhookEndpoint.deleted_at.is_(None))

    async def get_endpoint(self, principal: Principal, endpoint_id: str) -> WebhookEndpoint | None:
        stmt = self._endpoints(principal).where(WebhookEndpoint.id == endpoint_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def list_endpoints(self, principal: Principal, page: PageRequest) -> Page[WebhookEndpoint]:
        return await paginate(self.session, self._endpoints(principal), WebhookEndpoint, page)

    async def subscribed_endpoints(self, principal: Principal) -> list[WebhookEndpoint]:
        stmt = self._endpoints(principal).where(WebhookEndpoint.status == "active").order_by(WebhookEndpoint.id)
        return list((await self.session.scalars(stmt)).all())

    async def count_endpoints(self, principal: Principal) -> int:
        stmt = self._endpoints(principal).with_only_columns(func.count(), maintain_column_froms=True)
        return int(await self.session.scalar(stmt) or 0)

    # -- events and deliveries -------------------------------------------------------------------------------

    async def get_event(self, principal: Principal, event_id: str) -> WebhookEvent | None:
        stmt = readable_statement(WebhookEvent, principal).where(WebhookEvent.id == event_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def list_events(self, principal: Principal, page: PageRequest, type_: str | None) -> Page[WebhookEvent]:
        stmt = readable_statement(WebhookEvent, principal)
        if type_ is not None:
            stmt = stmt.where(WebhookEvent.type == type_)
        return await paginate(self.session, stmt, WebhookEvent, page)

    async def list_deliveries(self, principal: Principal, event_id: str, page: PageRequest) -> Page[WebhookDelivery]:
        stmt = readable_statement(WebhookDelivery, principal).where(WebhookDelivery.event_id == event_id)
        return await paginate(self.session, stmt, WebhookDelivery, page)

    async def attempts_of(self, principal: Principal, delivery_ids: list[str]) -> list[WebhookAttempt]:
        if not delivery_ids:
            return []
        stmt = (
            readable_statement(WebhookAttempt, principal)
            .where(WebhookAttempt.delivery_id.in_(delivery_ids))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt)
        )
        return list((await self.session.scalars(stmt)).all())

    # -- the delivery actor ----------------------------------------------------------------------------------

    async def for_delivery(
        self, tenant_id: str, delivery_id: str
    ) -> tuple[WebhookDelivery, WebhookEvent, WebhookEndpoint] | None:
        """The delivery with its event and endpoint, read without a lock (the HTTP call comes next)."""
        row = (
            await self.session.execute(_FOR_DELIVERY, {"tenant_id": tenant_id, "delivery_id": delivery_id})
        ).one_or_none()
        return None if row is None else (row[0], row[1], row[2])

    async def record_attempt(
        self,
        tenant_id: str,
        delivery_id: str,
        attempt: int,
        *,
        status: str,
        next_attempt_at: dt.datetime | None,
        status_code: int | None,
        error: str | None,
        succeeded_at: dt.datetime | None,
    ) -> bool:
        """Count attempt ``attempt`` on a pending delivery that has made ``attempt - 1``; ``False`` if another
        run got there first (the compare-and-set that keeps a duplicate message from counting twice)."""
        stmt = (
            update(WebhookDelivery)
            .where(
                WebhookDelivery.tenant_id == tenant_id,
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.attempts == attempt - 1,
            )
            .values(
                attempts=attempt,
                status=status,
                next_attempt_at=next_attempt_at,
                last_status_code=status_code,
                last_error=error,
                succeeded_at=succeeded_at,
            )
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def abandon(self, tenant_id: str, delivery_id: str, attempt: int, reason: str) -> bool:
        """Give up a pending delivery without an attempt (its endpoint was disabled or deleted meanwhile)."""
        stmt = (
            update(WebhookDelivery)
            .where(
                WebhookDelivery.tenant_id == tenant_id,
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.attempts == attempt - 1,
            )
            .values(status="failed", next_attempt_at=None, last_error=reason)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def insert_attempt(self, **values: Any) -> None:
        await self.session.execute(_INSERT_ATTEMPT, values)
