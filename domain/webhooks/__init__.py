"""Merchant webhooks: endpoints, signed events delivered with retries, a delivery log and replay.

Other capabilities call :func:`emit` inside their business transaction; see ``docs/webhooks.md``.
"""

from domain.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from domain.webhooks.service import (
    DELIVER_ACTOR,
    EVENT_TYPES,
    MAX_ATTEMPTS,
    RETRY_SCHEDULE,
    DeliveryOutcome,
    SendResult,
    emit,
)
from domain.webhooks.signing import SignatureError, sign, verify

__all__ = [
    "DELIVER_ACTOR",
    "EVENT_TYPES",
    "MAX_ATTEMPTS",
    "RETRY_SCHEDULE",
    "DeliveryOutcome",
    "SendResult",
    "SignatureError",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "emit",
    "sign",
    "verify",
]
