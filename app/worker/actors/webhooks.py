"""Webhook delivery: one signed POST per job; failures are retried on the schedule in ``domain.webhooks``."""

from __future__ import annotations

import httpx

from app.logging import get_logger
from app.settings import get_settings
from app.worker.registry import JobContext, actor
from domain.webhooks import service
from domain.webhooks.service import DeliveryOutcome, SendResult

log = get_logger(__name__)

# A merchant's endpoint should answer quickly and do its work later; ten seconds is generous.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


async def http_send(url: str, body: bytes, headers: dict[str, str]) -> SendResult:
    """POST ``body`` to ``url``. Redirects are not followed (a 3xx is a failed attempt). Never raises.

    A client per attempt: attempts to one endpoint are minutes to hours apart, so a pooled connection would
    rarely be reused, and nothing outlives the event loop it was made on (the worker's, or the embedded relay's).
    """
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        return SendResult(None, "timed out after 10 s")
    except Exception as exc:  # noqa: BLE001 - anything the endpoint or the network does is a failed attempt
        return SendResult(None, f"{type(exc).__name__}: {exc}"[:500])
    return SendResult(response.status_code)


# Time limit: one POST with a 10 s timeout, plus two small reads and writes; 30 s leaves room for slow DNS.
@actor(service.DELIVER_ACTOR, queue="webhooks", time_limit_ms=30_000)
async def deliver(ctx: JobContext, tenant_id: str, delivery_id: str, attempt: int) -> None:
    outcome = await service.deliver(
        ctx.session,
        tenant_id=tenant_id,
        delivery_id=delivery_id,
        attempt=attempt,
        secret_key=get_settings().secret_key,
        send=http_send,
    )
    level = log.warning if outcome is DeliveryOutcome.FAILED else log.info
    level("webhook_attempt", delivery_id=delivery_id, attempt=attempt, outcome=outcome.value)
