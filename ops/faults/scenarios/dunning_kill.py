"""Worker SIGKILLed in the middle of the daily dunning sweep, then restarted.

1. Seeds a second operator (made 120 days ago) and 300 of its orders, shipped on days spread over the last 12 to
   71 days (the product's clock moved back: ``seed.py``), so their invoices fell due on 60 different days and
   have reached every rung of the default ladder up to the final demand: reminders, overdue notices, re-bills
   (a new invoice version, fees, a ledger entry), final demands, with catch-up (letters superseded).
2. Copies the database (``pg_dump``) as the reference: the same sweep runs there undisturbed afterwards
   (``bnpl jobs dunning --as-of TODAY --tenant …``, in the foreground).
3. Stages the day's sweep for that operator as the scheduler does (``collections.dunning`` with ``as_of`` today and
   ``only_tenant``: one outbox message; each chunk, one (tenant, due date) group, commits and enqueues the next).
4. When at least 40 % of the groups are done and the worker holds a sweep transaction (one that touched
   ``invoices``), ``SIGKILL`` to the worker's process group; restart it and wait (bounded) for the sweep to finish:
   the relay sends the killed chunk's message again after ``BNPL_OUTBOX_REDELIVER_AFTER_SECONDS``.
5. Waits for the letters to be sent (``collections.send_notifications``, every minute and after each chunk; the
   default sender logs each letter's id: ``notification_sent … id=ntf_…`` in ``worker.log``).

Pass: the killed sweep ends with exactly what the undisturbed reference sweep did: the same dunning actions per
chain and step (each once: ``UNIQUE (chain, base date, step)``), the same letters (order, template, channel,
amount, due date), the same invoice versions and statuses per order, the same ledger balances, the same consumers'
overdue counts; every letter sent, and none sent twice (a letter sent before the kill and again after it would be
the documented at-least-once resend, reported as such); outbox drained; ``bnpl check`` clean.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import psycopg
from common import (
    ROOT,
    Context,
    clone_database,
    enqueue,
    kill_worker_mid_transaction,
    log,
    log_events,
    outbox_state,
    redelivery_evidence,
    restart_worker,
    seed,
    step,
    wait_until,
)

NAME = "dunning-kill"
TITLE = "worker SIGKILLed mid dunning sweep (300 overdue invoices in 60 due-date groups), restarted"
STACK: dict[str, Any] = {}

INVOICES = 300
FIRST_DAY, LAST_DAY = 12, 71  # orders shipped this many days ago: invoices due 14 days after


def run(ctx: Context) -> None:
    stack = ctx.stack
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
    with step("seed an operator and its overdue invoices"):
        tenant = seed(stack, "tenant", "--name", "Dunning Faults", "--days-back", "120")
        operator, merchant = tenant["operator"], tenant["merchant"]
        seed(
            stack,
            "invoices",
            "--operator",
            operator,
            "--merchant",
            merchant,
            "--count",
            str(INVOICES),
            "--first",
            str(FIRST_DAY),
            "--last",
            str(LAST_DAY),
            "--tag",
            "DK",
        )
        groups = int(
            stack.scalar(
                "SELECT count(DISTINCT dunning_base_date) FROM invoices WHERE tenant_id = %s AND status IN "
                "('issued', 'payment_pending', 'partially_paid', 'overdue', 'in_collection')",
                operator,
            )
        )
        log(f"  {INVOICES} open invoices in {groups} due-date groups")
    with step("copy the database as the reference"):
        reference_env = clone_database(stack, "ref")

    def groups_done() -> int:
        return int(
            stack.scalar(
                "SELECT count(DISTINCT base_date) FROM dunning_actions WHERE tenant_id = %s AND as_of = %s",
                operator,
                today,
            )
        )

    with step("stage the day's sweep and kill the worker mid-sweep"):
        started = time.monotonic()
        enqueue(stack, "collections.dunning", {"as_of": today.isoformat(), "only_tenant": operator}, tenant=operator)
        seen = kill_worker_mid_transaction(
            ctx,
            ready=lambda: groups_done() >= 0.4 * groups,
            what="the dunning sweep",
            tables=("invoices", "dunning_actions"),
            timeout=240,
        )
        killed_at = time.monotonic()
        if seen is None:
            return
        done = groups_done()
        log(f"  progress at the kill: {done}/{groups} groups swept ({killed_at - started:.0f} s after staging)")
        ctx.details["kill"] = {"groups_done": f"{done}/{groups}", "transaction_open_seconds": seen["xact_seconds"]}

    with step("restart the worker; meanwhile, the reference sweep on the copy"):
        restart_worker(stack)
        reference = subprocess.Popen(
            [sys.executable, "-m", "app", "jobs", "dunning", "--as-of", today.isoformat(), "--tenant", operator],
            env=reference_env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def sweep_finished() -> bool:
            with stack.sql() as conn:
                left = conn.execute(
                    "SELECT count(*) FROM outbox_messages WHERE actor = 'collections.dunning' AND failed_at IS NULL "
                    "AND completed_at IS NULL"
                ).fetchone()
            return left is not None and left[0] == 0

        ok, _ = wait_until(
            "sweep finished (no dunning message pending or in flight)",
            sweep_finished,
            timeout=420,
            progress=lambda: f"{groups_done()}/{groups} groups; outbox {outbox_state(stack)}",
        )
        ctx.details["recovery_seconds_from_kill"] = round(time.monotonic() - killed_at, 1)
        out, _ = reference.communicate(timeout=600)
        ctx.expect(reference.returncode == 0, f"the reference sweep failed: {out[-1500:]}")
        log(f"  reference sweep: {out.strip().splitlines()[-1] if out.strip() else ''}")
        if not ctx.expect(ok, "the dunning sweep did not finish after the worker restart"):
            return

    with step("compare with the undisturbed reference"):
        live = _facts(stack.dsn, operator)
        ref = _facts(reference_env["BNPL_DATABASE_URL"].replace("postgresql+psycopg", "postgresql"), operator)
        ctx.details["sweep"] = {k: len(v) if isinstance(v, list | Counter) else v for k, v in live.items()}
        for key in live:
            if live[key] != ref[key]:
                ctx.fail(f"{key} differ from the undisturbed sweep: {_diff(live[key], ref[key])}")
        ctx.expect(live["actions"] != [], "the sweep recorded no dunning action")

    with step("wait for every letter to be sent"):
        ok, _ = wait_until(
            "letters sent",
            lambda: (
                stack.scalar("SELECT count(*) FROM notifications WHERE tenant_id = %s AND status = 'pending'", operator)
                == 0
            ),
            timeout=180,
            every=2,
            progress=lambda: f"{_pending_letters(stack, operator)} pending",
        )
        ctx.expect(ok, "letters still pending")
        _check_sends(ctx, operator, killed_at_wall=time.time() - (time.monotonic() - killed_at))
    ctx.details["redelivery"] = redelivery_evidence(stack)


def _pending_letters(stack: Any, operator: str) -> int:
    return int(stack.scalar("SELECT count(*) FROM notifications WHERE tenant_id = %s AND status = 'pending'", operator))


def _facts(dsn: str, operator: str) -> dict[str, Any]:
    """What a sweep leaves behind, in terms that do not depend on generated ids or timing."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        actions = sorted(
            tuple(str(v) for v in r)
            for r in conn.execute(
                "SELECT chain_id, base_date, step, action, as_of, coalesce(result->>'skipped', '') "
                "FROM dunning_actions WHERE tenant_id = %s",
                (operator,),
            ).fetchall()
        )
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM dunning_actions WHERE tenant_id = %s "
            "GROUP BY chain_id, base_date, step HAVING count(*) > 1) x",
            (operator,),
        ).fetchone()
        letters = Counter(
            tuple(str(v) for v in r)
            for r in conn.execute(
                "SELECT order_id, template, channel, data->>'step', data->>'amount_due', data->>'base_due_date' "
                "FROM notifications WHERE tenant_id = %s",
                (operator,),
            ).fetchall()
        )
        invoices = Counter(
            tuple(str(v) for v in r)
            for r in conn.execute(
                "SELECT order_id, status, rebill_count, principal, fee, late_fee, damages, paid_amount, due_date "
                "FROM invoices WHERE tenant_id = %s",
                (operator,),
            ).fetchall()
        )
        balances = dict(
            conn.execute(
                "SELECT a.key, sum(CASE WHEN p.direction = 'debit' THEN p.amount ELSE -p.amount END) "
                "FROM ledger_postings p JOIN ledger_accounts a ON a.tenant_id = p.tenant_id AND a.id = p.account_id "
                "WHERE p.tenant_id = %s GROUP BY a.key",
                (operator,),
            ).fetchall()
        )
        overdue = conn.execute(
            "SELECT coalesce(sum(overdue_count), 0) FROM consumers WHERE tenant_id = %s", (operator,)
        ).fetchone()
    return {
        "actions": actions,
        "duplicate_actions": duplicates[0] if duplicates else None,
        "letters": letters,
        "invoices": invoices,
        "ledger_balances": {k: int(v) for k, v in balances.items()},
        "overdue_count": int(overdue[0]) if overdue else None,
    }


def _diff(live: Any, ref: Any) -> str:
    if isinstance(live, list):
        live, ref = Counter(live), Counter(ref)
    if isinstance(live, Counter):
        extra, missing = live - ref, ref - live
        return f"{sum(extra.values())} extra {list(extra)[:3]}, {sum(missing.values())} missing {list(missing)[:3]}"
    return f"{live!r} vs reference {ref!r}"


def _check_sends(ctx: Context, operator: str, killed_at_wall: float) -> None:
    """Every letter of the operator sent at least once, and none twice except across the kill."""
    stack = ctx.stack
    with stack.sql() as conn:
        ids = {r for (r,) in conn.execute("SELECT id FROM notifications WHERE tenant_id = %s", (operator,))}
    sends: dict[str, list[float]] = {}
    for event in log_events(stack, "worker"):
        match = re.search(r"notification_sent template=\S+ id=(\S+)", str(event.get("event", "")))
        if match and match.group(1) in ids:
            at = dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
            sends.setdefault(match.group(1), []).append(at)
    unsent = ids - set(sends)
    twice = {i: t for i, t in sends.items() if len(t) > 1}
    across_kill = {i for i, t in twice.items() if min(t) < killed_at_wall < max(t)}
    ctx.details["letters"] = {
        "rows": len(ids),
        "sent": len(sends),
        "sent_twice": len(twice),
        "resent_across_the_kill": len(across_kill),
    }
    ctx.expect(not unsent, f"{len(unsent)} letter(s) never sent: {sorted(unsent)[:5]}")
    real = set(twice) - across_kill
    ctx.expect(not real, f"{len(real)} letter(s) sent twice without a kill between: {sorted(real)[:5]}")
    if across_kill:
        log(
            f"  {len(across_kill)} letter(s) sent before the kill and again after it: the documented at-least-once "
            "resend (same Message-ID), not a duplicate letter row"
        )
