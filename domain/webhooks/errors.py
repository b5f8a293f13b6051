from __future__ import annotations

from domain.kit.errors import InvalidInput, NotFound, StateConflict


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"


class WebhookEventNotFound(NotFound):
    code = "webhook_event_not_found"


class InvalidWebhookEndpoint(InvalidInput):
    code = "invalid_webhook_endpoint"


class WebhookEndpointLimitReached(StateConflict):
    code = "webhook_endpoint_limit_reached"


class WebhookEndpointDisabled(StateConflict):
    code = "webhook_endpoint_disabled"


class NoSubscribedEndpoint(StateConflict):
    code = "no_subscribed_webhook_endpoint"
