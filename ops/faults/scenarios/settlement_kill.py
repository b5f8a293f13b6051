"""Worker SIGKILLed in the middle of a settlement run, then restarted.

1. Seeds 150 merchants with a weekly contract signed 16 days ago (so two Friday cut-offs have passed since: the
   run catches up, one statement per cut-off), and one order each, shipped and arrived in the week of the last
   cut-off (through the checkout services, on the product's clock moved back).
2. Copies the database (``pg_dump``) as the reference: the same run is made there undisturbed afterwards
   (``bnpl jobs settlement --as-of TODAY``).
3. Stages the run as the scheduler does (``settlement.run`` with ``as_of`` today: one outbox message; the run is one
   transaction for every operator) and, once the worker has held that transaction open (it has touched
   ``settlements``), ``SIGKILL`` to the worker's process group. Checks nothing of the run survived (no statement),
   restarts the worker and waits (bounded) for the statements: the relay sends the message again after
   ``BNPL_OUTBOX_REDELIVER_AFTER_SECONDS``.
4. Runs it once more through ``POST /admin/v1/settlement-runs`` (as an operator would after an incident).

Pass: one statement per merchant and cut-off (300), equal to the undisturbed reference's (merchant, period,
sales, fees, tax, net, payout, status), the operator's ledger balances equal to the reference's, the API re-run
makes nothing; outbox drained; ``bnpl check`` clean (it checks that each payout booked moves exactly its
statement's payout off the merchant payable).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import psycopg
from client import IdempotentClient
from common import (
    ROOT,
    Context,
    clone_database,
    enqueue,
    kill_worker_mid_transaction,
    log,
    redelivery_evidence,
    restart_worker,
    seed,
    step,
    wait_until,
)

NAME = "settlement-kill"
TITLE = "worker SIGKILLed mid settlement run (150 merchants, 2 cut-offs each), restarted"
STACK: dict[str, Any] = {}

MERCHANTS, ORDERS = 150, 1


def run(ctx: Context) -> None:
    stack = ctx.stack
    operator = stack.ids["operator"]
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
    with step(f"seed {MERCHANTS} merchants with contracts and last week's shipments"):
        seeded = seed(
            stack, "settlement", "--operator", operator, "--merchants", str(MERCHANTS), "--orders", str(ORDERS)
        )
        ctx.details["seeded"] = seeded
    before = _statements(stack.dsn, operator)
    with step("copy the database as the reference"):
        reference_env = clone_database(stack, "ref")

    with step("stage the run and kill the worker inside its transaction"):
        started = time.monotonic()
        enqueue(stack, "settlement.run", {"as_of": today.isoformat()})
        seen = kill_worker_mid_transaction(
            ctx,
            ready=lambda: True,
            what="the settlement run",
            tables=("settlements",),
            min_seconds=0.05,
            timeout=120,
            every=0.01,
        )
        killed_at = time.monotonic()
        if seen is None:
            return
        ctx.details["kill"] = {
            "seconds_after_staging": round(killed_at - started, 1),
            "transaction_open_seconds": seen["xact_seconds"],
        }
        time.sleep(1)
        ctx.expect_equal(
            "statements right after the kill (the run rolled back)", len(_statements(stack.dsn, operator)), len(before)
        )

    with step("restart the worker; meanwhile, the reference run on the copy"):
        restart_worker(stack)
        reference = subprocess.Popen(
            [sys.executable, "-m", "app", "jobs", "settlement", "--as-of", today.isoformat()],
            env=reference_env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ok, _ = wait_until(
            "settlement run done",
            lambda: (
                stack.scalar(
                    "SELECT count(*) FROM outbox_messages WHERE actor = 'settlement.run' AND completed_at IS NULL "
                    "AND failed_at IS NULL"
                )
                == 0
            ),
            timeout=300,
            progress=lambda: f"{len(_statements(stack.dsn, operator))} statements",
        )
        ctx.details["recovery_seconds_from_kill"] = round(time.monotonic() - killed_at, 1)
        out, _ = reference.communicate(timeout=600)
        ctx.expect(reference.returncode == 0, f"the reference run failed: {out[-1500:]}")
        if not ctx.expect(ok, "the settlement run did not complete after the worker restart"):
            return

    with step("compare with the undisturbed reference"):
        live = _statements(stack.dsn, operator)
        ref = _statements(reference_env["BNPL_DATABASE_URL"].replace("postgresql+psycopg", "postgresql"), operator)
        made = len(live) - len(before)
        ctx.details["statements_made"] = made
        ctx.expect_equal("statements made", made, MERCHANTS * 2)
        per_cutoff = Counter((s[0], s[1]) for s in live)
        doubled = [k for k, n in per_cutoff.items() if n > 1]
        ctx.expect(not doubled, f"{len(doubled)} merchant(s) with two statements for one cut-off: {doubled[:5]}")
        if Counter(live) != Counter(ref):
            extra, missing = Counter(live) - Counter(ref), Counter(ref) - Counter(live)
            ctx.fail(f"statements differ from the reference: extra {list(extra)[:3]}, missing {list(missing)[:3]}")
        live_ledger = _balances(stack.dsn, operator)
        ref_ledger = _balances(reference_env["BNPL_DATABASE_URL"].replace("postgresql+psycopg", "postgresql"), operator)
        ctx.expect_equal("ledger balances (live vs reference)", live_ledger, ref_ledger)
        ctx.details["payouts_total"] = sum(s[7] for s in live)

    with step("run it again through POST /admin/v1/settlement-runs"):

        async def again() -> Any:
            async with IdempotentClient(stack.urls(), stack.keys["admin"], deadline=60, timeout=60) as client:
                return await client.post("/admin/v1/settlement-runs", {"as_of": today.isoformat()}, op="RunSettlement")

        outcome = asyncio.run(again())
        ctx.expect_equal("re-run status", outcome.status, 201)
        ctx.expect_equal("statements made by the re-run", len((outcome.response or {}).get("data", [None])), 0)
    ctx.details["redelivery"] = redelivery_evidence(stack)
    log(f"  {made} statements, payouts ¥{ctx.details.get('payouts_total', 0):,}")


def _statements(dsn: str, operator: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT merchant_id, period_end, period_start, pay_date, status, sales, net, payout, carry_out, "
                "rate_fee, invoice_fees, invoice_count, monthly_fee, transfer_fee, fee_tax, carry_in "
                "FROM settlements WHERE tenant_id = %s",
                (operator,),
            ).fetchall()
        ]


def _balances(dsn: str, operator: str) -> dict[str, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            k: int(v)
            for k, v in conn.execute(
                "SELECT a.key, sum(CASE WHEN p.direction = 'debit' THEN p.amount ELSE -p.amount END) "
                "FROM ledger_postings p JOIN ledger_accounts a ON a.tenant_id = p.tenant_id AND a.id = p.account_id "
                "WHERE p.tenant_id = %s GROUP BY a.key",
                (operator,),
            ).fetchall()
        }
