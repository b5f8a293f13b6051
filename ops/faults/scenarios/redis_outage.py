"""Redis stopped during checkout traffic for 30 s, then restarted (empty: no persistence, as the machine's).

1. A merchant endpoint (a local receiver that verifies signatures and dedupes by event id) subscribes to
   ``order.authorized``, ``order.captured`` and ``invoice.issued``, so each purchase puts three webhook jobs in the
   outbox.
2. Three clients run purchases (authorize, then capture) against both API processes for the whole scenario.
3. After 10 s of traffic Redis is stopped for 30 s, then started again. Meanwhile checkout must keep answering
   (the outbox is in PostgreSQL); the relay keeps rows pending; whatever Redis held (relayed, not yet done) is gone
   with it, and the relay sends it again once it is in flight past ``BNPL_OUTBOX_REDELIVER_AFTER_SECONDS``.
4. 15 s more traffic after the restart, then the scenario waits (bounded) for the outbox to drain and every
   webhook to be delivered.

Pass: every request got a definite answer (201; a retryable error retried with the same key is fine), none a 5xx
other than 503; exactly one order per purchase, one capture and one invoice per shipment, every key replays its
answer; every webhook event recorded for the merchant reached the receiver, each handled once, none POSTed twice
(none doubled), every signature valid; outbox drained, nothing dead; worker and relays alive; ``bnpl check`` clean.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from checkout import order_job, verify_orders
from client import IdempotentClient, Traffic, request_failures, summarize
from common import Context, log, redelivery_evidence, step, wait_outbox_drained, wait_until
from receiver import Receiver

NAME = "redis-outage"
TITLE = "Redis stopped 30 s during checkout traffic (webhooks in the outbox), restarted empty"
STACK: dict[str, Any] = {"local_webhooks": True}

BEFORE, OUTAGE, AFTER = 10.0, 30.0, 15.0
PREFIX = "RO"
EVENTS = ["order.authorized", "order.captured", "invoice.issued"]


def register_endpoint(ctx: Context, receiver: Receiver, events: list[str]) -> str:
    """Register the receiver as the demo merchant's endpoint; its id (the secret goes to the receiver)."""

    async def go() -> Any:
        async with IdempotentClient(ctx.stack.urls(), ctx.stack.keys["merchant"], deadline=60) as client:
            return await client.post(
                "/v1/webhook-endpoints",
                {"url": receiver.url, "enabled_events": events, "description": "fault scenario receiver"},
                op="CreateWebhookEndpoint",
            )

    outcome = asyncio.run(go())
    if outcome.status != 201:
        raise RuntimeError(f"registering the webhook endpoint answered {outcome.status}: {outcome.response}")
    receiver.secret = outcome.response["secret"]
    return str(outcome.response["id"])


def verify_webhooks(ctx: Context, receiver: Receiver, *, since: str, allow_duplicates: bool = False) -> None:
    """Every event recorded for the merchant since ``since`` reached the receiver and was handled once."""
    stack = ctx.stack
    with stack.sql() as conn:
        events = {
            r[0]
            for r in conn.execute(
                "SELECT id FROM webhook_events WHERE merchant_id = %s AND created_at >= %s",
                (stack.ids["merchant"], since),
            ).fetchall()
        }
        deliveries = dict(
            conn.execute(
                "SELECT status, count(*) FROM webhook_deliveries WHERE merchant_id = %s GROUP BY status",
                (stack.ids["merchant"],),
            ).fetchall()
        )
    stats = receiver.stats()
    handled = set(receiver.handled)
    missing = events - handled
    ctx.details["webhooks"] = {"events": len(events), "deliveries_by_status": deliveries, **stats}
    ctx.expect(bool(events), "no webhook event was recorded: the scenario tested nothing")
    ctx.expect(not missing, f"{len(missing)} webhook event(s) never delivered (lost): {sorted(missing)[:5]}")
    ctx.expect_equal("deliveries not succeeded", {k: v for k, v in deliveries.items() if k != "succeeded"}, {})
    ctx.expect_equal("deliveries with a bad signature", stats["bad_signatures"], 0)
    if not allow_duplicates:
        ctx.expect_equal("events POSTed more than once (doubled)", stats["events_delivered_more_than_once"], 0)


def wait_webhooks(ctx: Context, receiver: Receiver, since: str, timeout: float = 120) -> None:
    stack = ctx.stack

    def all_delivered() -> bool:
        with stack.sql() as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'pending') FROM webhook_deliveries WHERE merchant_id = %s",
                (stack.ids["merchant"],),
            ).fetchone()
        return row is not None and row[0] == 0

    wait_until(
        "webhook deliveries done",
        all_delivered,
        timeout=timeout,
        progress=lambda: f"receiver has {len(receiver.handled)} events",
    )


def run(ctx: Context) -> None:
    stack = ctx.stack
    assert stack.redis is not None
    with Receiver() as receiver:
        since = str(stack.scalar("SELECT now()"))
        register_endpoint(ctx, receiver, EVENTS)
        client = IdempotentClient(stack.urls(), stack.keys["merchant"], deadline=180)
        traffic = Traffic(client, order_job(PREFIX), clients=3, pause=0.15).start()
        with step(f"traffic {BEFORE:.0f} s, then Redis down {OUTAGE:.0f} s"):
            time.sleep(BEFORE)
            down_at = client.now()
            stack.redis.stop()
            log(f"  redis stopped (t={down_at:.1f} s; {len(client.outcomes)} requests so far)")
            time.sleep(OUTAGE)
            stack.redis.start()
            up_at = client.now()
            log(f"  redis started again, empty (t={up_at:.1f} s): down {up_at - down_at:.1f} s")
        with step(f"traffic {AFTER:.0f} s more"):
            time.sleep(AFTER)
            traffic.stop()
            ctx.expect(not traffic.errors, f"traffic job errors: {traffic.errors[:3]}")
        outcomes = list(client.outcomes)
        during = [o for o in outcomes if o.started < up_at and o.finished > down_at]
        ctx.details["redis_down_seconds"] = round(up_at - down_at, 1)
        ctx.details["requests"] = summarize(outcomes)
        ctx.details["requests_during_outage"] = summarize(during)
        for failure in request_failures(outcomes, {201}):
            ctx.fail(failure)
        with step("outbox and webhooks after Redis came back"):
            recovered = wait_outbox_drained(ctx, timeout=180)
            if recovered is not None:
                ctx.details["outbox_drained_seconds_after_redis_up"] = round(client.now() - up_at, 1)
            wait_webhooks(ctx, receiver, since)
            verify_webhooks(ctx, receiver, since=since)
        with step("orders: one per purchase, answers replay"):
            verify_orders(ctx, outcomes, PREFIX, api_key=stack.keys["merchant"])
        ctx.details["redelivery"] = redelivery_evidence(stack)
