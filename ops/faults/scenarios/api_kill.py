"""An API process SIGKILLed while requests are in flight on it, twice (one process, then the other).

1. Four clients run purchases (authorize, then capture) spread over both API processes.
2. When at least two requests are in flight on API process 1, ``SIGKILL`` to it (its process group). The clients
   whose connection broke do not know whether their request took effect: they retry on the other process with the
   same Idempotency-Key and body (a load balancer's failover). Process 1 is restarted; then the same is done to
   process 2.
3. A request killed after its key was claimed and before its transaction committed leaves the claim in flight:
   the retry is answered ``409 idempotency_key_in_flight`` (retryable) until the claim is stale
   (``BNPL_IDEMPOTENCY_STALE_AFTER_SECONDS``, 60 s), then runs once. One killed after the commit is replayed.

Pass: at least one request was cut by a kill; every request got a definite answer (201) within the client's
deadline; no 5xx other than 503; exactly one order per purchase, none the client was not told about, one capture
and one invoice per shipment, no key left in flight, every key replays its answer; both processes serving at the
end; ``bnpl check`` clean. The figures: requests, broken connections, retries by reason, the slowest answer.
"""

from __future__ import annotations

import time
from typing import Any

from checkout import order_job, verify_orders
from client import IdempotentClient, Traffic, request_failures, summarize
from common import Context, log, step

NAME = "api-kill"
TITLE = "an API process SIGKILLed with requests in flight (each process once), clients fail over"
STACK: dict[str, Any] = {}

PREFIX = "AK"
WARMUP, BETWEEN, AFTER = 6.0, 8.0, 15.0


def run(ctx: Context) -> None:
    stack = ctx.stack
    urls = stack.urls()
    client = IdempotentClient(urls, stack.keys["merchant"], deadline=240)
    traffic = Traffic(client, order_job(PREFIX), clients=4, pause=0.02).start()
    kills = []
    time.sleep(WARMUP)
    for index in (0, 1):
        proc, url = stack.api[index], urls[index]
        with step(f"kill {proc.name} with requests in flight"):
            deadline = time.monotonic() + 30
            while client.inflight[url] < 2 and time.monotonic() < deadline:
                time.sleep(0.002)
            inflight = client.inflight[url]
            at = client.now()
            proc.kill()
            log(f"  SIGKILL {proc.name} at t={at:.1f} s with {inflight} request(s) in flight on it")
            time.sleep(3)
            restart_started = time.monotonic()
            proc.start().wait_ready(90)
            log(f"  {proc.name} restarted in {time.monotonic() - restart_started:.1f} s")
            kills.append({"process": proc.name, "at": round(at, 1), "in_flight": inflight})
            time.sleep(BETWEEN)
    with step(f"traffic {AFTER:.0f} s more"):
        time.sleep(AFTER)
        traffic.stop()
        ctx.expect(not traffic.errors, f"traffic job errors: {traffic.errors[:3]}")
    outcomes = list(client.outcomes)
    broken = [o for o in outcomes if any(a.status is None and a.error not in ("ConnectError",) for a in o.attempts)]
    ctx.details["kills"] = kills
    ctx.details["requests"] = summarize(outcomes)
    ctx.details["requests_cut_by_a_kill"] = summarize(broken)
    ctx.expect(bool(broken), "no request was cut mid-flight by a kill: the scenario tested nothing")
    for failure in request_failures(outcomes, {201}):
        ctx.fail(failure)
    with step("orders: one per purchase, answers replay"):
        verify_orders(ctx, outcomes, PREFIX, api_key=stack.keys["merchant"])
