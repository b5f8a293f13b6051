"""Merchant webhooks: endpoints, ``emit`` (called inside business transactions) and the delivery of one attempt.

Delivery is at-least-once: ``emit`` stores the event and one delivery per subscribed endpoint and stages a
``webhooks.deliver`` job through the transactional outbox, so an event exists if and only if the business change
committed. Each job carries its attempt number; the delivery row records attempt *n* only while it has made
*n - 1* (a compare-and-set), so a job seen twice neither counts nor schedules an attempt twice. A failed attempt
stages the next one with the outbox ``delay`` of :data:`RETRY_SCHEDULE` (about three days in all), after which the
delivery is ``failed``; a merchant can replay any event.

Services flush, never commit: the edge owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from domain.kit import audit, clock, outbox
from domain.kit.errors import FieldIssue, PermissionDenied, TaskError
from domain.kit.ids import new_id
from domain.kit.pagination import Page, PageRequest
from domain.kit.tenancy import Principal
from domain.webhooks import signing
from domain.webhooks.errors import (
    InvalidWebhookEndpoint,
    NoSubscribedEndpoint,
    WebhookEndpointDisabled,
    WebhookEndpointLimitReached,
    WebhookEndpointNotFound,
    WebhookEventNotFound,
)
from domain.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from domain.webhooks.repository import WebhookRepository

# Every event type an endpoint may subscribe to (docs/webhooks.md describes each). ``emit`` accepts any dotted
# lowercase type, so a new type can ship before it is listed here; endpoints subscribe to it once it is.
EVENT_TYPES: tuple[str, ...] = (
    "order.authorized",
    "order.in_review",
    "order.review_approved",
    "order.declined",
    "order.cancelled",
    "order.expired",
    "order.updated",
    "order.captured",
    "order.released",
    "order.refunded",
    "order.arrival_confirmed",
    "order.guarantee_lapsed",
    "invoice.issued",
    "invoice.voided",
    "invoice.paid",
    "settlement.paid",
)
ALL_EVENTS = "*"

# The wait after failed attempt n (index n - 1). The 11th attempt comes 71 h 36 min after the first; if it fails
# too the delivery is failed. Exponential at first (most outages are short), then roughly twice a day.
RETRY_SCHEDULE: tuple[dt.timedelta, ...] = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=12),
    dt.timedelta(hours=12),
    dt.timedelta(hours=15),
    dt.timedelta(hours=15),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1

DELIVER_ACTOR = "webhooks.deliver"
MAX_ENDPOINTS_PER_MERCHANT = 16
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


# -- endpoints -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str  # derived, never stored; shown on creation and rotation


def _merchant_of(principal: Principal) -> str:
    if principal.merchant_id is None:
        raise PermissionDenied(
            "webhook endpoints belong to a merchant: use a merchant key", code="merchant_key_required"
        )
    return principal.merchant_id


def validate_url(url: str, *, allow_local_http: bool) -> str:
    """An absolute ``https`` URL to a public host (``http`` to localhost only when ``allow_local_http``)."""

    def invalid(detail: str, code: str = "invalid_url") -> InvalidWebhookEndpoint:
        return InvalidWebhookEndpoint(detail, issues=[FieldIssue("#/url", detail, code)])

    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise invalid("The URL is not valid.") from None
    if parts.scheme not in ("https", "http") or not host:
        raise invalid("The URL must be absolute and start with https://.")
    if parts.username is not None or parts.password is not None:
        raise invalid("The URL must not contain credentials.")
    if parts.fragment:
        raise invalid("The URL must not contain a fragment (#…).")
    local = host in LOCAL_HOSTS
    if local and allow_local_http:
        return url
    if parts.scheme != "https":
        raise invalid("Webhook URLs must use https.", "https_required")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if local or (address is not None and not address.is_global):
        raise invalid("The URL must point at a public host.", "public_host_required")
    return url


def validate_events(enabled_events: list[str]) -> list[str]:
    """Known types (or ``"*"`` alone, meaning every type), without duplicates, in the order given."""
    issues = [
        FieldIssue(f"#/enabled_events/{i}", f"unknown event type {t!r}", "unknown_event_type")
        for i, t in enumerate(enabled_events)
        if t != ALL_EVENTS and t not in EVENT_TYPES
    ]
    if not enabled_events:
        issues.append(FieldIssue("#/enabled_events", "subscribe to at least one event type", "empty"))
    if issues:
        raise InvalidWebhookEndpoint("Unknown or missing event types.", issues=issues)
    if ALL_EVENTS in enabled_events:
        return [ALL_EVENTS]
    return list(dict.fromkeys(enabled_events))


async def create_endpoint(
    session: AsyncSession,
    principal: Principal,
    *,
    url: str,
    enabled_events: list[str],
    description: str = "",
    secret_key: str,
    allow_local_http: bool = False,
) -> EndpointWithSecret:
    """Register an endpoint for the calling merchant; returns it with its signing secret (shown this once).

    Raises:
        InvalidWebhookEndpoint: the URL is not https to a public host, or an event type is unknown.
        WebhookEndpointLimitReached: the merchant already has ``MAX_ENDPOINTS_PER_MERCHANT`` endpoints.
    """
    merchant_id = _merchant_of(principal)
    tenant_id = principal.require_tenant()
    url = validate_url(url, allow_local_http=allow_local_http)
    events = validate_events(enabled_events)
    repo = WebhookRepository.from_session(session)
    if await repo.count_endpoints(principal) >= MAX_ENDPOINTS_PER_MERCHANT:
        raise WebhookEndpointLimitReached(f"A merchant may have at most {MAX_ENDPOINTS_PER_MERCHANT} endpoints.")
    now = clock.utc_now()
    endpoint = WebhookEndpoint(
        tenant_id=tenant_id,
        id=new_id("we"),
        merchant_id=merchant_id,
        url=url,
        description=description,
        enabled_events=events,
        status="active",
        secret_version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="webhook_endpoint.created",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        data={"url": url, "enabled_events": events},
    )
    await session.flush()
    return EndpointWithSecret(endpoint, signing.endpoint_secret(secret_key, endpoint.id, endpoint.secret_version))


async def get_endpoint(session: AsyncSession, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await WebhookRepository.from_session(session).get_endpoint(principal, endpoint_id)
    if endpoint is None:
        raise WebhookEndpointNotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint


async def list_endpoints(session: AsyncSession, principal: Principal, page: PageRequest) -> Page[WebhookEndpoint]:
    return await WebhookRepository.from_session(session).list_endpoints(principal, page)


async def update_endpoint(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: str,
    *,
    url: str | None = None,
    description: str | None = None,
    enabled_events: list[str] | None = None,
    status: str | None = None,
    allow_local_http: bool = False,
) -> WebhookEndpoint:
    """Change what is given (``None`` leaves a field as it is). A disabled endpoint receives nothing, and
    deliveries still pending when it is disabled are given up (replay them after enabling it again)."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    changed: dict[str, Any] = {}
    if url is not None:
        changed["url"] = endpoint.url = validate_url(url, allow_local_http=allow_local_http)
    if description is not None:
        changed["description"] = endpoint.description = description
    if enabled_events is not None:
        changed["enabled_events"] = endpoint.enabled_events = validate_events(enabled_events)
    if status is not None:
        if status not in ("active", "disabled"):
            raise InvalidWebhookEndpoint(
                "status is active or disabled", issues=[FieldIssue("#/status", "active or disabled")]
            )
        changed["status"] = endpoint.status = status
    if changed:
        endpoint.updated_at = clock.utc_now()
        audit.record(
            session,
            tenant_id=endpoint.tenant_id,
            actor=principal,
            action="webhook_endpoint.updated",
            resource_type="webhook_endpoint",
            resource_id=endpoint.id,
            data={k: v for k, v in changed.items() if k != "description"},
        )
        await session.flush()
    return endpoint


async def delete_endpoint(session: AsyncSession, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    """Delete an endpoint: it receives nothing more and disappears from reads (its delivery log stays)."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    endpoint.deleted_at = endpoint.updated_at = clock.utc_now()
    audit.record(
        session,
        tenant_id=endpoint.tenant_id,
        actor=principal,
        action="webhook_endpoint.deleted",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
    )
    await session.flush()
    return endpoint


async def rotate_secret(
    session: AsyncSession, principal: Principal, endpoint_id: str, *, secret_key: str
) -> EndpointWithSecret:
    """A new signing secret, effective at once: attempts from now on are signed with it only."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    endpoint.secret_version += 1
    endpoint.updated_at = clock.utc_now()
    audit.record(
        session,
        tenant_id=endpoint.tenant_id,
        actor=principal,
        action="webhook_endpoint.secret_rotated",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        data={"secret_version": endpoint.secret_version},
    )
    await session.flush()
    return EndpointWithSecret(endpoint, signing.endpoint_secret(secret_key, endpoint.id, endpoint.secret_version))


# -- emit ------------------------------------------------------------------------------------------------------


def _subscribes(enabled_events: list[str], event_type: str) -> bool:
    return ALL_EVENTS in enabled_events or event_type in enabled_events


async def emit(
    session: AsyncSession,
    *,
    tenant_id: str,
    merchant_id: str,
    type: str,  # noqa: A002 - the public keyword of the contract
    data: dict[str, Any] | Callable[[], dict[str, Any]],
) -> None:
    """Record that ``type`` happened to a merchant's resource, for delivery after the transaction commits.

    Call it inside the business transaction, after the change: ``data`` is the resource's full snapshot as the
    merchant API renders it (JSON-able), or a function that renders it (called only if an endpoint listens).
    With no active endpoint subscribed to ``type`` this is one indexed SELECT and writes nothing; otherwise it
    stores the event, one delivery per subscribed endpoint and one outbox job per delivery. It flushes nothing
    else and never commits.

    Raises:
        ValueError: ``type`` is not a dotted lowercase name (``order.authorized``); a programming error.
    """
    if not _EVENT_TYPE.match(type):
        raise ValueError(f"webhook event types are dotted lowercase names, not {type!r}")
    repo = WebhookRepository.from_session(session)
    live = await repo.live_endpoints(tenant_id, merchant_id)
    if not live:
        return
    targets = [endpoint_id for endpoint_id, events in live if _subscribes(events, type)]
    if not targets:
        return
    if callable(data):  # rendered only when someone listens: most merchants' orders have no endpoint
        data = data()
    now = clock.utc_now()
    event_id = new_id("evt")
    await repo.insert_event(
        tenant_id=tenant_id, id=event_id, merchant_id=merchant_id, type=type, data=data, created_at=now
    )
    await _stage_deliveries(session, repo, tenant_id, merchant_id, event_id, targets, now)


async def _stage_deliveries(
    session: AsyncSession,
    repo: WebhookRepository,
    tenant_id: str,
    merchant_id: str,
    event_id: str,
    endpoint_ids: list[str],
    now: dt.datetime,
) -> list[dict[str, Any]]:
    rows = [
        {
            "tenant_id": tenant_id,
            "id": new_id("whd"),
            "merchant_id": merchant_id,
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "last_status_code": None,
            "last_error": None,
            "succeeded_at": None,
            "created_at": now,
        }
        for endpoint_id in endpoint_ids
    ]
    await repo.insert_deliveries(rows)
    for row in rows:
        await _enqueue_attempt(session, tenant_id, row["id"], 1, None)
    return rows


async def _enqueue_attempt(
    session: AsyncSession, tenant_id: str, delivery_id: str, attempt: int, delay: dt.timedelta | None
) -> None:
    await outbox.enqueue(
        session,
        DELIVER_ACTOR,
        {"tenant_id": tenant_id, "delivery_id": delivery_id, "attempt": attempt},
        tenant_id=tenant_id,
        dedupe_key=f"{DELIVER_ACTOR}:{delivery_id}:{attempt}",
        delay=delay,
    )


# -- events, the delivery log, replay --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryLog:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]


async def get_event(session: AsyncSession, principal: Principal, event_id: str) -> WebhookEvent:
    event = await WebhookRepository.from_session(session).get_event(principal, event_id)
    if event is None:
        raise WebhookEventNotFound(f"no webhook event {event_id}")
    return event


async def list_events(
    session: AsyncSession, principal: Principal, page: PageRequest, *, type_: str | None = None
) -> Page[WebhookEvent]:
    return await WebhookRepository.from_session(session).list_events(principal, page, type_)


async def list_deliveries(
    session: AsyncSession, principal: Principal, event_id: str, page: PageRequest
) -> Page[DeliveryLog]:
    """An event's deliveries (newest first), each with its attempts in order."""
    await get_event(session, principal, event_id)
    repo = WebhookRepository.from_session(session)
    deliveries = await repo.list_deliveries(principal, event_id, page)
    attempts: dict[str, list[WebhookAttempt]] = {}
    for attempt in await repo.attempts_of(principal, [d.id for d in deliveries.items]):
        attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return Page(items=[DeliveryLog(d, attempts.get(d.id, [])) for d in deliveries.items], has_more=deliveries.has_more)


async def replay_event(
    session: AsyncSession, principal: Principal, event_id: str, *, endpoint_id: str | None = None
) -> list[DeliveryLog]:
    """Deliver an event again, as a new delivery: to one endpoint of the merchant (``endpoint_id``, whatever it
    subscribes to), or to every active endpoint that subscribes to the event's type now.

    Raises:
        WebhookEventNotFound, WebhookEndpointNotFound: not the merchant's.
        WebhookEndpointDisabled: the named endpoint is disabled.
        NoSubscribedEndpoint: no active endpoint subscribes to the type.
    """
    event = await get_event(session, principal, event_id)
    repo = WebhookRepository.from_session(session)
    if endpoint_id is not None:
        endpoint = await get_endpoint(session, principal, endpoint_id)
        if endpoint.status != "active":
            raise WebhookEndpointDisabled(f"webhook endpoint {endpoint_id} is disabled; enable it first")
        targets = [endpoint.id]
    else:
        live = await repo.subscribed_endpoints(principal)
        targets = [e.id for e in live if _subscribes(e.enabled_events, event.type)]
        if not targets:
            raise NoSubscribedEndpoint(f"no active endpoint subscribes to {event.type}")
    rows = await _stage_deliveries(
        session, repo, event.tenant_id, event.merchant_id, event.id, targets, clock.utc_now()
    )
    audit.record(
        session,
        tenant_id=event.tenant_id,
        actor=principal,
        action="webhook_event.replayed",
        resource_type="webhook_event",
        resource_id=event.id,
        data={"endpoint_ids": targets},
    )
    await session.flush()
    return [DeliveryLog(WebhookDelivery(**row), []) for row in rows]


# -- one delivery attempt (the webhooks.deliver job) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the endpoint answered (``status_code``), or why nothing was answered (``error``)."""

    status_code: int | None
    error: str | None = None


# ``send(url, body, headers)``: one POST. It must not raise for anything the endpoint or the network does.
Sender = Callable[[str, bytes, dict[str, str]], Awaitable[SendResult]]


class DeliveryOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    RETRY_SCHEDULED = "retry_scheduled"
    FAILED = "failed"  # the last attempt of the schedule failed
    ABANDONED = "abandoned"  # the endpoint was disabled or deleted before this attempt
    STALE = "stale"  # this attempt was already made (a duplicate job) or the delivery is settled


def event_body(event: WebhookEvent) -> bytes:
    """The request body: the same bytes for every attempt and replay of an event."""
    created_at = event.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    payload = {"id": event.id, "type": event.type, "created_at": created_at, "data": event.data}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def request_headers(secret: str, event: WebhookEvent, delivery_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "bnpl-webhooks/1",
        signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, body),
        signing.EVENT_ID_HEADER: event.id,
        signing.EVENT_TYPE_HEADER: event.type,
        "Bnpl-Delivery-Id": delivery_id,
    }


async def deliver(
    session: AsyncSession,
    *,
    tenant_id: str,
    delivery_id: str,
    attempt: int,
    secret_key: str,
    send: Sender,
) -> DeliveryOutcome:
    """Make attempt ``attempt`` of a delivery: sign, POST, record the attempt, and schedule the next on failure.

    No row lock is held during the POST: the delivery is read plainly and the attempt is recorded with a
    compare-and-set on ``attempts``, so of two runs of the same attempt only the first counts (the inbox claim of
    the job already stops exact duplicates before this runs).

    Raises:
        TaskError: the delivery does not exist (not retried).
    """
    repo = WebhookRepository.from_session(session)
    found = await repo.for_delivery(tenant_id, delivery_id)
    if found is None:
        raise TaskError("webhook delivery not found", {"tenant_id": tenant_id, "delivery_id": delivery_id})
    delivery, event, endpoint = found
    if delivery.status != "pending" or delivery.attempts != attempt - 1:
        return DeliveryOutcome.STALE
    if endpoint.deleted_at is not None or endpoint.status != "active":
        reason = "endpoint deleted" if endpoint.deleted_at is not None else "endpoint disabled"
        abandoned = await repo.abandon(tenant_id, delivery_id, attempt, reason)
        return DeliveryOutcome.ABANDONED if abandoned else DeliveryOutcome.STALE

    body = event_body(event)
    started_at = clock.utc_now()
    secret = signing.endpoint_secret(secret_key, endpoint.id, endpoint.secret_version)
    headers = request_headers(secret, event, delivery_id, body, int(started_at.timestamp()))
    t0 = time.perf_counter()
    result = await send(endpoint.url, body, headers)
    duration_ms = int((time.perf_counter() - t0) * 1000)

    succeeded = result.status_code is not None and 200 <= result.status_code < 300
    error = None if succeeded else (result.error or f"HTTP {result.status_code}")[:500]
    now = clock.utc_now()
    if succeeded:
        status, outcome, next_at, delay = "succeeded", DeliveryOutcome.SUCCEEDED, None, None
    elif attempt < MAX_ATTEMPTS:
        delay = RETRY_SCHEDULE[attempt - 1]
        status, outcome, next_at = "pending", DeliveryOutcome.RETRY_SCHEDULED, now + delay
    else:
        status, outcome, next_at, delay = "failed", DeliveryOutcome.FAILED, None, None
    recorded = await repo.record_attempt(
        tenant_id,
        delivery_id,
        attempt,
        status=status,
        next_attempt_at=next_at,
        status_code=result.status_code,
        error=error,
        succeeded_at=now if succeeded else None,
    )
    if not recorded:
        return DeliveryOutcome.STALE
    await repo.insert_attempt(
        tenant_id=tenant_id,
        delivery_id=delivery_id,
        attempt=attempt,
        started_at=started_at,
        status_code=result.status_code,
        duration_ms=duration_ms,
        error=error,
    )
    if delay is not None:
        await _enqueue_attempt(session, tenant_id, delivery_id, attempt + 1, delay)
    return outcome
