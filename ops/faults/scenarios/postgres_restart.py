"""PostgreSQL restarted (``pg_ctl -m fast``: every session terminated, down 5 s) during checkout traffic.

1. Three clients run purchases (authorize, then capture) against both API processes.
2. After 10 s of traffic PostgreSQL is stopped, kept down 5 s, and started again; traffic goes on 20 s more.
3. During the outage requests fail: they must fail *retryably* (a 503 problem with ``Retry-After``, or a broken
   connection) and the client retries with the same key and body. A request whose transaction died mid-way must
   not have half-happened: its retry either replays the stored answer or runs it once.

Pass: every request got a definite answer (201); no 5xx other than 503, and every 503 a problem document
(``code: service_unavailable``); retryable errors only inside the outage window plus 10 s (the pools recover
within 10 s: no pre-ping, a dead connection fails one request and is replaced); exactly one order per purchase,
none the client was not told about, one capture and one invoice per shipment, no key left in flight, every key
replays its answer; every process alive, the outbox drained, ``bnpl check`` clean. The figures: requests,
retries by reason, outage seconds, the last retryable error after the restart, the slowest answer.
"""

from __future__ import annotations

import time
from typing import Any

from checkout import order_job, verify_orders
from client import IdempotentClient, Traffic, request_failures, summarize
from common import Context, log, step

NAME = "postgres-restart"
TITLE = "PostgreSQL restarted (fast stop, 5 s down) during checkout traffic"
STACK: dict[str, Any] = {}

BEFORE, DOWN, AFTER = 10.0, 5.0, 20.0
RECOVERY_ALLOWED = 10.0
PREFIX = "PR"


def run(ctx: Context) -> None:
    stack = ctx.stack
    assert stack.pg is not None
    client = IdempotentClient(stack.urls(), stack.keys["merchant"], deadline=180)
    traffic = Traffic(client, order_job(PREFIX), clients=3).start()
    with step(f"traffic {BEFORE:.0f} s, then restart PostgreSQL ({DOWN:.0f} s down)"):
        time.sleep(BEFORE)
        stop_at = client.now()
        stack.pg.stop("fast")
        down_at = client.now()
        log(f"  PostgreSQL stopped (fast; t={stop_at:.1f}–{down_at:.1f} s; {len(client.outcomes)} requests so far)")
        time.sleep(DOWN)
        stack.pg.start()
        up_at = client.now()
        log(f"  PostgreSQL up again (t={up_at:.1f} s): unavailable {up_at - stop_at:.1f} s")
    with step(f"traffic {AFTER:.0f} s more"):
        time.sleep(AFTER)
        traffic.stop()
        ctx.expect(not traffic.errors, f"traffic job errors: {traffic.errors[:3]}")
    outcomes = list(client.outcomes)
    ctx.details["postgres_unavailable_seconds"] = round(up_at - stop_at, 1)
    ctx.details["requests"] = summarize(outcomes)
    for failure in request_failures(outcomes, {201}):
        ctx.fail(failure)
    attempts = [a for o in outcomes for a in o.attempts if a.reason != "ok"]
    late = [
        (o, [a for a in o.attempts if a.reason != "ok" and a.at > up_at + RECOVERY_ALLOWED])
        for o in outcomes
        if any(a.reason != "ok" and a.at > up_at + RECOVERY_ALLOWED for a in o.attempts)
    ]
    early = [a for a in attempts if a.at + a.elapsed < stop_at - 0.5]
    last_error = max((a.at + a.elapsed for a in attempts), default=None)
    ctx.details["retryable_errors"] = len(attempts)
    ctx.details["last_retryable_error_after_restart_seconds"] = (
        round(last_error - up_at, 1) if last_error is not None else None
    )
    ctx.expect(bool(attempts), "no request failed during the outage: the scenario tested nothing")
    ctx.expect(not early, f"{len(early)} retryable error(s) before PostgreSQL stopped: {early[:5]}")
    if late and last_error is not None:
        reasons = sorted({a.reason for _, bad in late for a in bad})
        sample = [f"{o.op} {o.key[:8]}… answered {o.status} after {o.duration:.0f} s" for o, _ in late[:5]]
        ctx.fail(
            f"{len(late)} request(s) still got retryable errors more than {RECOVERY_ALLOWED:.0f} s after PostgreSQL "
            f"was back ({sum(len(b) for _, b in late)} attempts, {', '.join(reasons)}; last "
            f"{last_error - up_at:.0f} s after): {sample}"
        )
    bare = [a for a in attempts if a.status == 503 and a.error != "service_unavailable"]
    ctx.expect(
        not bare, f"{len(bare)} 503(s) that are not a service_unavailable problem: {[a.error for a in bare[:5]]}"
    )
    with step("orders: one per purchase, none half-written, answers replay"):
        verify_orders(ctx, outcomes, PREFIX, api_key=stack.keys["merchant"])
