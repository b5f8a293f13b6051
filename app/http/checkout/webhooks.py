"""Checkout API: the merchant's webhook endpoints, the events sent to them, the delivery log and replay."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import LIST, READ, WRITE
from app.http.schemas.common import (
    ID_PATTERN,
    TEXT_PATTERN,
    CreatedGte,
    CreatedLt,
    Limit,
    ListOf,
    StartingAfter,
    page_request,
)
from app.http.schemas.webhooks import (
    DeletedWebhookEndpointOut,
    ReplayIn,
    WebhookDeliveryOut,
    WebhookEndpointCreate,
    WebhookEndpointOut,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecretOut,
    WebhookEventOut,
)
from app.idempotency import Idempotency
from app.settings import Env, Settings
from app.uow import Database
from domain.kit.tenancy import Principal, Role
from domain.webhooks import service

EndpointId = Annotated[
    str, Parameter(title="Webhook endpoint id", description="An endpoint's id (we_…).", pattern=ID_PATTERN)
]
EventId = Annotated[str, Parameter(title="Event id", description="An event's id (evt_…).", pattern=ID_PATTERN)]
EventTypeFilter = Annotated[
    str | None,
    QueryParameter(
        title="Event type",
        description="Only events of this type (e.g. order.authorized).",
        max_length=100,
        pattern=TEXT_PATTERN,
    ),
]


def _allow_local_http(settings: Settings) -> bool:
    """Plain http to localhost is for trying webhooks on one machine, never in production."""
    return settings.env in (Env.DEVELOPMENT, Env.TEST)


class WebhookEndpointController(Controller):
    path = "/webhook-endpoints"
    tags = ["checkout"]
    guards = [require_roles(Role.MERCHANT)]

    @post(
        operation_id="CreateWebhookEndpoint",
        summary="Register a webhook endpoint (the response shows its signing secret once)",
        responses=WRITE,
        status_code=201,
    )
    async def create_endpoint(
        self,
        data: JSONBody[WebhookEndpointCreate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settings: NamedDependency[Settings],
    ) -> Response[WebhookEndpointWithSecretOut]:
        """Events of the subscribed types are POSTed to the URL, signed with the secret in this response."""

        async def op(session: AsyncSession) -> WebhookEndpointWithSecretOut:
            created = await service.create_endpoint(
                session,
                principal,
                url=data.url,
                enabled_events=list(data.enabled_events),
                description=data.description,
                secret_key=settings.secret_key,
                allow_local_http=_allow_local_http(settings),
            )
            return WebhookEndpointWithSecretOut.with_secret(created.endpoint, created.secret)

        return await idempotency.run(op, status_code=201)

    @get(operation_id="ListWebhookEndpoints", summary="List webhook endpoints, newest first", responses=LIST)
    async def list_endpoints(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[WebhookEndpointOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_endpoints(session, principal, page_req)
        return ListOf[WebhookEndpointOut].of(page, WebhookEndpointOut.of)

    @get("/{endpoint_id:str}", operation_id="GetWebhookEndpoint", summary="Get a webhook endpoint", responses=READ)
    async def get_endpoint(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], endpoint_id: EndpointId
    ) -> WebhookEndpointOut:
        async with db.read() as session:
            return WebhookEndpointOut.of(await service.get_endpoint(session, principal, endpoint_id))

    @patch(
        "/{endpoint_id:str}",
        operation_id="UpdateWebhookEndpoint",
        summary="Change a webhook endpoint's URL, description, event types or status",
        responses=WRITE,
        status_code=200,
    )
    async def update_endpoint(
        self,
        data: JSONBody[WebhookEndpointUpdate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settings: NamedDependency[Settings],
        endpoint_id: EndpointId,
    ) -> Response[WebhookEndpointOut]:
        async def op(session: AsyncSession) -> WebhookEndpointOut:
            endpoint = await service.update_endpoint(
                session,
                principal,
                endpoint_id,
                url=data.url,
                description=data.description,
                enabled_events=list(data.enabled_events) if data.enabled_events is not None else None,
                status=data.status,
                allow_local_http=_allow_local_http(settings),
            )
            return WebhookEndpointOut.of(endpoint)

        return await idempotency.run(op)

    @delete(
        "/{endpoint_id:str}",
        operation_id="DeleteWebhookEndpoint",
        summary="Delete a webhook endpoint (its delivery log stays)",
        responses=READ,
        status_code=200,
    )
    async def delete_endpoint(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], endpoint_id: EndpointId
    ) -> DeletedWebhookEndpointOut:
        async with db.transaction() as session:
            endpoint = await service.delete_endpoint(session, principal, endpoint_id)
        return DeletedWebhookEndpointOut(id=endpoint.id)

    @post(
        "/{endpoint_id:str}/rotate-secret",
        operation_id="RotateWebhookEndpointSecret",
        summary="Replace the endpoint's signing secret (effective at once; shown once)",
        responses=WRITE,
        status_code=200,
    )
    async def rotate_secret(
        self,
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settings: NamedDependency[Settings],
        endpoint_id: EndpointId,
    ) -> Response[WebhookEndpointWithSecretOut]:
        """Attempts made from now on are signed with the new secret only: update your receiver right away."""

        async def op(session: AsyncSession) -> WebhookEndpointWithSecretOut:
            rotated = await service.rotate_secret(session, principal, endpoint_id, secret_key=settings.secret_key)
            return WebhookEndpointWithSecretOut.with_secret(rotated.endpoint, rotated.secret)

        return await idempotency.run(op)


class WebhookEventController(Controller):
    path = "/webhook-events"
    tags = ["checkout"]
    guards = [require_roles(Role.MERCHANT)]

    @get(operation_id="ListWebhookEvents", summary="List webhook events, newest first", responses=LIST)
    async def list_events(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
        type: EventTypeFilter = None,  # noqa: A002 - the query parameter's public name
    ) -> ListOf[WebhookEventOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_events(session, principal, page_req, type_=type)
        return ListOf[WebhookEventOut].of(page, WebhookEventOut.of)

    @get("/{event_id:str}", operation_id="GetWebhookEvent", summary="Get a webhook event", responses=READ)
    async def get_event(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], event_id: EventId
    ) -> WebhookEventOut:
        async with db.read() as session:
            return WebhookEventOut.of(await service.get_event(session, principal, event_id))

    @get(
        "/{event_id:str}/deliveries",
        operation_id="ListWebhookDeliveries",
        summary="The delivery log of an event: each delivery with its attempts",
        responses=READ,
    )
    async def list_deliveries(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        event_id: EventId,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
    ) -> ListOf[WebhookDeliveryOut]:
        page_req = page_request(limit, starting_after, None, None)
        async with db.read() as session:
            page = await service.list_deliveries(session, principal, event_id, page_req)
        return ListOf[WebhookDeliveryOut].of(page, WebhookDeliveryOut.of)

    @post(
        "/{event_id:str}/replay",
        operation_id="ReplayWebhookEvent",
        summary="Deliver an event again (a new delivery per endpoint)",
        responses=WRITE,
        status_code=201,
    )
    async def replay_event(
        self,
        data: JSONBody[ReplayIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        event_id: EventId,
    ) -> Response[ListOf[WebhookDeliveryOut]]:
        """To one endpoint (`endpoint_id`), or to every active endpoint subscribed to the event's type now."""

        async def op(session: AsyncSession) -> ListOf[WebhookDeliveryOut]:
            logs = await service.replay_event(session, principal, event_id, endpoint_id=data.endpoint_id)
            return ListOf[WebhookDeliveryOut](data=[WebhookDeliveryOut.of(log) for log in logs], has_more=False)

        return await idempotency.run(op, status_code=201)
