"""Checkout traffic for the fault scenarios, and what must hold of it afterwards.

A job is what a merchant's checkout does for one purchase: authorize the order (``POST /v1/orders``), then, if it
was authorized, report its shipment (``POST /v1/orders/{id}/captures``), each request with its own
Idempotency-Key, retried by :class:`client.IdempotentClient` until it has a definite answer.

:func:`verify_orders` then checks, in SQL and by asking again:

* exactly one order per purchase (``merchant_order_id``), and it is the order the client was given;
* no order the client was never told about (half-written, or created by a retry beside the first);
* every capture answered 201 exists once, and its order has exactly one invoice (別送: one per shipment);
* no Idempotency-Key left ``in_flight`` (a claim whose request died and was never taken over);
* asking again with every key (the same body) answers the same status and the same resource, marked
  ``Idempotent-Replayed: true``: the stored response, not a second execution.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from client import IdempotentClient, Outcome
from common import Context, log
from data import capture_request, order_request

AUTHORIZE = "CreateOrder"
CAPTURE = "CreateCapture"


def order_job(prefix: str, *, capture: bool = True, start: int = 0) -> Any:
    """A :class:`client.Traffic` job: purchase ``n`` of this run."""

    async def job(client: IdempotentClient, n: int) -> None:
        merchant_order_id = f"{prefix}-{n}"
        order = await client.post(
            "/v1/orders", order_request(merchant_order_id, start + n), op=AUTHORIZE, tag=merchant_order_id
        )
        body = order.response if isinstance(order.response, dict) else {}
        if capture and order.status == 201 and body.get("status") == "authorized":
            await client.post(
                f"/v1/orders/{body['id']}/captures", capture_request(start + n), op=CAPTURE, tag=merchant_order_id
            )

    return job


def verify_orders(ctx: Context, outcomes: list[Outcome], prefix: str, *, api_key: str) -> None:
    stack = ctx.stack
    authorizations = [o for o in outcomes if o.op == AUTHORIZE]
    captures = [o for o in outcomes if o.op == CAPTURE]
    answered = {o.tag: o.resource_id() for o in authorizations if o.status == 201}
    with stack.sql() as conn:
        rows = conn.execute(
            "SELECT merchant_order_id, array_agg(id ORDER BY created_at) FROM orders "
            "WHERE merchant_order_id LIKE %s GROUP BY merchant_order_id",
            (f"{prefix}-%",),
        ).fetchall()
        in_db = {r[0]: r[1] for r in rows}
        doubled = {k: v for k, v in in_db.items() if len(v) > 1}
        ctx.expect(not doubled, f"{len(doubled)} purchase(s) with more than one order: {list(doubled.items())[:5]}")
        orphans = sorted(set(in_db) - set(answered))
        ctx.expect(not orphans, f"{len(orphans)} order(s) the client never got a 201 for: {orphans[:5]}")
        wrong = [t for t, oid in answered.items() if in_db.get(t, [None])[0] != oid]
        ctx.expect(not wrong, f"{len(wrong)} answer(s) naming an order that is not the purchase's: {wrong[:5]}")
        captured = [o.resource_id() for o in captures if o.status == 201]
        capture_rows = dict(
            conn.execute(
                "SELECT o.merchant_order_id, count(c.*) FROM orders o LEFT JOIN order_captures c "
                "ON c.tenant_id = o.tenant_id AND c.order_id = o.id WHERE o.merchant_order_id LIKE %s "
                "GROUP BY o.merchant_order_id",
                (f"{prefix}-%",),
            ).fetchall()
        )
        captured_tags = Counter(o.tag for o in captures if o.status == 201)
        bad_captures = [t for t, n in captured_tags.items() if capture_rows.get(t) != n]
        extra_captures = [t for t, n in capture_rows.items() if n and t not in captured_tags]
        ctx.expect(not bad_captures, f"{len(bad_captures)} purchase(s) whose captures ≠ the 201s: {bad_captures[:5]}")
        ctx.expect(not extra_captures, f"{len(extra_captures)} capture(s) nobody was told about: {extra_captures[:5]}")
        invoices = dict(
            conn.execute(
                "SELECT o.merchant_order_id, count(i.*) FROM orders o JOIN invoices i ON i.tenant_id = o.tenant_id "
                "AND i.order_id = o.id WHERE o.merchant_order_id LIKE %s GROUP BY o.merchant_order_id",
                (f"{prefix}-%",),
            ).fetchall()
        )
        bad_invoices = [t for t in captured_tags if invoices.get(t) != 1]
        ctx.expect(
            not bad_invoices, f"{len(bad_invoices)} captured order(s) without exactly one invoice: {bad_invoices[:5]}"
        )
        in_flight = conn.execute("SELECT count(*) FROM idempotency_keys WHERE state = 'in_flight'").fetchone()
        ctx.expect_equal("Idempotency-Keys left in flight", in_flight[0] if in_flight else None, 0)
    ctx.details["orders"] = {"purchases_answered": len(answered), "orders_in_db": len(in_db), "captures": len(captured)}
    replay(ctx, [o for o in outcomes if o.definite], api_key)


def replay(ctx: Context, outcomes: list[Outcome], api_key: str) -> None:
    """Ask again with every key: the same answer, replayed."""

    async def go() -> list[tuple[Outcome, Outcome]]:
        async with IdempotentClient(ctx.stack.urls(), api_key, deadline=60) as client:
            sem = asyncio.Semaphore(4)

            async def one(o: Outcome) -> tuple[Outcome, Outcome]:
                async with sem:
                    return o, await client.post(o.path, o.body, op=o.op, key=o.key, tag=o.tag)

            return await asyncio.gather(*(one(o) for o in outcomes))

    pairs = asyncio.run(go())
    differ = [
        f"{first.op} {first.key}: {first.status}/{first.resource_id()} then {again.status}/{again.resource_id()}"
        for first, again in pairs
        if (again.status, again.resource_id()) != (first.status, first.resource_id())
    ]
    not_replayed = [first.key for first, again in pairs if not again.replayed]
    ctx.expect(not differ, f"{len(differ)} key(s) answered differently when asked again: {differ[:5]}")
    ctx.expect(not not_replayed, f"{len(not_replayed)} key(s) executed again instead of replayed: {not_replayed[:5]}")
    ctx.details["replayed_on_second_ask"] = f"{len(pairs) - len(not_replayed)}/{len(pairs)}"
    same = len(pairs) - len(differ) - len(not_replayed)
    log(f"  asked again with all {len(pairs)} keys: {same} replayed the same answer")
