"""Schemas of webhook endpoints, events and the delivery log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from app.http.schemas.common import ReadModel, WriteModel
from domain.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from domain.webhooks.service import EVENT_TYPES, DeliveryLog

EventType = Annotated[str, Field(min_length=1, max_length=100, examples=["order.authorized"])]
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description="Where events are POSTed: https to a public host (http://localhost only in development).",
        examples=["https://shop.example.jp/bnpl/webhooks"],
    ),
]
EVENTS_DESCRIPTION = f'Event types to receive ({", ".join(EVENT_TYPES)}), or ["*"] for every type.'


class WebhookEndpointCreate(WriteModel):
    url: Url
    enabled_events: list[EventType] = Field(
        min_length=1, max_length=50, description=EVENTS_DESCRIPTION, examples=[["order.authorized", "order.captured"]]
    )
    description: str = Field(default="", max_length=500, description="A note to recognise the endpoint by.")


class WebhookEndpointUpdate(WriteModel):
    """Only the fields given change."""

    url: Url | None = None
    enabled_events: list[EventType] | None = Field(
        default=None, min_length=1, max_length=50, description=EVENTS_DESCRIPTION
    )
    description: str | None = Field(default=None, max_length=500)
    status: Literal["active", "disabled"] | None = Field(
        default=None, description="A disabled endpoint receives nothing; its pending deliveries are given up."
    )


class ReplayIn(WriteModel):
    endpoint_id: str | None = Field(
        default=None,
        max_length=40,
        description="Deliver to this endpoint only; omit to deliver to every active endpoint subscribed to the type.",
        examples=["we_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"],
    )


class WebhookEndpointOut(ReadModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str = Field(examples=["we_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    url: str
    description: str
    enabled_events: list[str]
    status: Literal["active", "disabled"]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointOut:
        return cls.model_validate(endpoint)


class WebhookEndpointWithSecretOut(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (HMAC-SHA256 key of Bnpl-Signature). Shown on creation and rotation only.",
        examples=["whsec_3q2vRk…"],
    )

    @classmethod
    def with_secret(cls, endpoint: WebhookEndpoint, secret: str) -> WebhookEndpointWithSecretOut:
        return cls.model_validate({**WebhookEndpointOut.of(endpoint).model_dump(), "secret": secret})


class DeletedWebhookEndpointOut(ReadModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    deleted: Literal[True] = True


class WebhookEventOut(ReadModel):
    object: Literal["event"] = "event"
    id: str = Field(examples=["evt_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    type: str = Field(examples=["order.authorized"])
    created_at: dt.datetime
    data: dict[str, Any] = Field(description="The resource's full snapshot when the event happened.")

    @classmethod
    def of(cls, event: WebhookEvent) -> WebhookEventOut:
        return cls.model_validate(event)


class WebhookAttemptOut(ReadModel):
    attempt: int = Field(examples=[1])
    started_at: dt.datetime
    status_code: int | None = Field(description="The endpoint's HTTP status; null when it did not answer.")
    duration_ms: int
    error: str | None = Field(examples=["HTTP 500"])

    @classmethod
    def of(cls, attempt: WebhookAttempt) -> WebhookAttemptOut:
        return cls.model_validate(attempt)


class WebhookDeliveryOut(ReadModel):
    object: Literal["webhook_delivery"] = "webhook_delivery"
    id: str = Field(examples=["whd_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    event_id: str
    endpoint_id: str
    status: Literal["pending", "succeeded", "failed"]
    attempt_count: int = Field(description="Attempts made so far.")
    next_attempt_at: dt.datetime | None = Field(description="When the next attempt is due (pending deliveries).")
    last_status_code: int | None
    last_error: str | None
    succeeded_at: dt.datetime | None
    created_at: dt.datetime
    attempts: list[WebhookAttemptOut] = Field(description="Every attempt, oldest first.")

    @classmethod
    def of(cls, log: DeliveryLog) -> WebhookDeliveryOut:
        d: WebhookDelivery = log.delivery
        return cls(
            id=d.id,
            event_id=d.event_id,
            endpoint_id=d.endpoint_id,
            status=d.status,  # type: ignore[arg-type]
            attempt_count=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            succeeded_at=d.succeeded_at,
            created_at=d.created_at,
            attempts=[WebhookAttemptOut.of(a) for a in log.attempts],
        )
