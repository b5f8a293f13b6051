"""Worker SIGKILLed in the middle of a payment file's reconciliation, then restarted.

1. Seeds 200 shipped orders (open invoices issued today) through the checkout services.
2. Builds a convenience-store CSV (docs/payment-files.md) of 6,500 records: 120 確報 paying an invoice exactly
   (the set-based path), 30 paying part of one, 25 paying ¥500 too much, 25 速報 (preliminary), and 6,300 確報
   whose payment number names no invoice (unidentified: suspense, the one-by-one path, which is what makes a chunk
   last long enough to kill). The invoices' records are spread over the file, so both chunks (5,000 and 1,500
   lines) have some.
3. Imports it through ``POST /admin/v1/payment-files`` (the worker reconciles it in chunks of 5,000, one
   transaction and one outbox message each).
4. Once the first chunk has committed (progress 5,000 / 6,500) and the worker has held the second chunk's
   transaction open for 2 s: ``SIGKILL`` to the worker's process group. Checks the chunk rolled back whole (still
   exactly 5,000 reconciled), restarts the worker, and waits (bounded) for the file to be reconciled: the relay
   sends the killed chunk's message again (in flight past ``BNPL_OUTBOX_REDELIVER_AFTER_SECONDS``).

Pass: the file reconciled; every payment reconciled once (no ``received`` left; each payment's cash allocations
equal its amount; the outcomes are exactly the ones planted); each invoice paid exactly what its payments say
(not twice); the agent-collections account debited exactly the file's 確報 total; the same file imported again
changes nothing (same file id, same payments); outbox drained, nothing dead; ``bnpl check`` clean.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository: domain's file builders

from client import IdempotentClient  # noqa: E402
from common import (  # noqa: E402
    Context,
    kill_worker_mid_transaction,
    log,
    redelivery_evidence,
    restart_worker,
    seed,
    step,
    wait_until,
)

from domain.collections.formats.konbini import KonbiniRow, build_konbini_csv  # noqa: E402
from domain.invoicing import keys  # noqa: E402

NAME = "reconcile-kill"
TITLE = "worker SIGKILLed mid payment-file reconciliation (6,500-line convenience-store file), restarted"
STACK: dict[str, Any] = {}

INVOICES = 200
EXACT, PARTIAL, OVER, PRELIMINARY = 120, 30, 25, 25
UNIDENTIFIED = 6_300
CHUNK = 5_000  # domain.collections.batch.CHUNK


def run(ctx: Context) -> None:
    stack = ctx.stack
    operator, merchant = stack.ids["operator"], stack.ids["merchant"]
    with step(f"seed {INVOICES} invoices issued today"):
        seed(stack, "invoices", "--operator", operator, "--merchant", merchant, "--count", str(INVOICES), "--tag", "RK")
    with stack.sql() as conn:
        invoices = conn.execute(
            "SELECT i.id, i.payment_number, i.principal + i.fee + i.late_fee + i.damages - i.paid_amount - i.waived "
            "FROM invoices i JOIN orders o ON o.tenant_id = i.tenant_id AND o.id = i.order_id "
            "WHERE o.merchant_order_id LIKE 'RK-%%' AND i.status = 'issued' ORDER BY i.number"
        ).fetchall()
        in_transit_before = _in_transit_debits(conn, operator)
    ctx.expect_equal("open invoices seeded", len(invoices), INVOICES)
    plan, data, cash_total = _build_file(invoices)
    ctx.details["file"] = {"lines": len(plan), "bytes": len(data), "cash_total": cash_total}

    with step("import through POST /admin/v1/payment-files"):
        outcome = _post_file(stack, data, "reconcile-kill.csv")
        ctx.expect_equal("import status", outcome.status, 202)
        file_id = outcome.resource_id()
        log(f"  file {file_id}: {len(plan)} payments, reconciled by the worker in chunks of {CHUNK}")

    def progress() -> tuple[int, str]:
        with stack.sql() as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM payments WHERE file_id = %s AND status <> 'received'), "
                "(SELECT status FROM payment_files WHERE id = %s)",
                (file_id, file_id),
            ).fetchone()
        assert row is not None
        return int(row[0]), str(row[1])

    with step("kill the worker mid-chunk"):
        t0 = time.monotonic()
        seen = kill_worker_mid_transaction(
            ctx,
            ready=lambda: (p := progress())[0] >= CHUNK and p[1] == "received",
            what="the second reconciliation chunk",
            min_seconds=2.0,
            timeout=300,
        )
        killed_at = time.monotonic()
        if seen is None:
            return
        done_at_kill, _ = progress()
        log(f"  progress at the kill: {done_at_kill}/{len(plan)} reconciled ({killed_at - t0:.0f} s after import)")
        ctx.details["kill"] = {
            "progress": f"{done_at_kill}/{len(plan)}",
            "transaction_open_seconds": seen["xact_seconds"],
        }
        # The killed chunk's transaction rolled back whole: exactly the first chunk stays reconciled.
        time.sleep(1)
        ctx.expect_equal(
            "payments reconciled right after the kill (the killed chunk rolled back)", progress()[0], CHUNK
        )

    with step("restart the worker and wait for the file"):
        restart_worker(stack)
        ok, _ = wait_until(
            "payment file reconciled",
            lambda: progress()[1] == "reconciled",
            timeout=420,
            every=1.0,
            progress=lambda: f"{progress()[0]}/{len(plan)} reconciled",
        )
        ctx.details["recovery_seconds_from_kill"] = round(time.monotonic() - killed_at, 1)
        if not ctx.expect(ok, "the payment file was not reconciled after the worker restart"):
            return

    with step("verify every payment applied exactly once"):
        _verify(ctx, file_id, plan, cash_total, in_transit_before)

    with step("import the same file again"):
        again = _post_file(stack, data, "reconcile-kill (re-sent).csv")
        ctx.expect(again.status in (200, 202), f"re-import answered {again.status}")
        ctx.expect_equal("re-import's file id", again.resource_id(), file_id)
        ctx.expect_equal(
            "payments after the re-import",
            stack.scalar("SELECT count(*) FROM payments WHERE source = 'file'"),
            len(plan),
        )
    chunks = [e for e in _events(stack, "payment_file_chunk") if e.get("file_id") == file_id]
    ctx.details["chunks_committed"] = [e.get("processed") for e in chunks]
    ctx.details["redelivery"] = redelivery_evidence(stack)


def _build_file(invoices: list[tuple[str, str, int]]) -> tuple[list[dict[str, Any]], bytes, int]:
    """The file's records (and what each should do), its bytes, and the total of its 確報."""
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).replace(microsecond=0)
    issuer = keys.parse_payment_number(invoices[0][1]).issuer_code
    kinds = ["exact"] * EXACT + ["partial"] * PARTIAL + ["over"] * OVER + ["preliminary"] * PRELIMINARY
    invoice_records = []
    for (invoice_id, number, balance), kind in zip(invoices, kinds, strict=False):
        amount = {"exact": balance, "partial": balance - 1000, "over": balance + 500, "preliminary": balance}[kind]
        invoice_records.append(
            {"kind": kind, "invoice": invoice_id, "number": number, "amount": amount, "balance": balance}
        )
    total = len(invoice_records) + UNIDENTIFIED
    every = total // len(invoice_records)
    plan: list[dict[str, Any]] = []
    u = 0
    for line in range(total):
        if line % every == every // 2 and invoice_records:
            plan.append(invoice_records.pop(0))
        else:
            plan.append(
                {
                    "kind": "unidentified",
                    "invoice": None,
                    "number": keys.payment_number(issuer, 900_000 + u),
                    "amount": 1_000 + (u * 7) % 9_000,
                }
            )
            u += 1
    plan += [dict(r) for r in invoice_records]
    rows = [
        KonbiniRow(
            kind="preliminary" if p["kind"] == "preliminary" else "payment",
            record_id=f"RK-{i:06d}",
            payment_number=p["number"],
            amount=p["amount"],
            paid_at=now - dt.timedelta(minutes=30),
            store="ローソン 試験店",
        )
        for i, p in enumerate(plan)
    ]
    for i, p in enumerate(plan):
        p["record_id"] = f"RK-{i:06d}"
    cash_total = sum(p["amount"] for p in plan if p["kind"] != "preliminary")
    return plan, build_konbini_csv(rows), cash_total


def _post_file(stack: Any, data: bytes, filename: str) -> Any:
    import asyncio

    async def go() -> Any:
        async with IdempotentClient(stack.urls(), stack.keys["admin"], deadline=120, timeout=60) as client:
            return await client.post(
                f"/admin/v1/payment-files?filename={filename}", data, op="ImportPaymentFile", content_type="text/csv"
            )

    return asyncio.run(go())


def _in_transit_debits(conn: Any, operator: str) -> int:
    row = conn.execute(
        "SELECT coalesce(sum(CASE WHEN p.direction = 'debit' THEN p.amount ELSE -p.amount END), 0) "
        "FROM ledger_postings p JOIN ledger_accounts a ON a.tenant_id = p.tenant_id AND a.id = p.account_id "
        "WHERE p.tenant_id = %s AND a.key = 'agent_collections_in_transit'",
        (operator,),
    ).fetchone()
    return int(row[0])


def _verify(
    ctx: Context, file_id: str | None, plan: list[dict[str, Any]], cash_total: int, in_transit_before: int
) -> None:
    stack = ctx.stack
    with stack.sql() as conn:
        f = conn.execute(
            "SELECT status, payment_count, summary FROM payment_files WHERE id = %s", (file_id,)
        ).fetchone()
        assert f is not None
        ctx.expect_equal("file status", f[0], "reconciled")
        ctx.expect_equal("file payment_count", f[1], len(plan))
        summary = {k: v["count"] for k, v in (f[2] or {}).items()}
        ctx.details["summary"] = summary
        expected = {
            "exact": EXACT,
            "partial": PARTIAL,
            "over": OVER,
            "preliminary": PRELIMINARY,
            "unidentified": UNIDENTIFIED,
        }
        ctx.expect_equal("outcomes", summary, expected)
        rows = conn.execute(
            "SELECT p.external_id, p.kind, p.status, p.outcome, p.amount, p.open_amount, p.invoice_id, "
            "coalesce((SELECT sum(a.amount) FROM payment_allocations a WHERE a.tenant_id = p.tenant_id AND "
            "a.payment_id = p.id AND a.component NOT IN ('waiver_c', 'waiver_r', 'unguaranteed', 'unreleased')), 0) "
            "FROM payments p WHERE p.file_id = %s",
            (file_id,),
        ).fetchall()
        by_record = {r[0].removeprefix("cvs:"): r for r in rows}
        ctx.expect_equal("payments recorded", len(rows), len(plan))
        ctx.expect_equal("payments still received", sum(r[2] == "received" for r in rows), 0)
        wrong_cash = [r[0] for r in rows if r[1] == "payment" and r[7] != r[4]]
        ctx.expect(
            not wrong_cash, f"{len(wrong_cash)} payment(s) whose allocations are not their amount: {wrong_cash[:5]}"
        )
        wrong_pre = [r[0] for r in rows if r[1] == "preliminary" and r[7] != 0]
        ctx.expect(not wrong_pre, f"{len(wrong_pre)} 速報 booked money: {wrong_pre[:5]}")
        invoices = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT i.id, i.status, i.paid_amount, (SELECT coalesce(sum(a.amount), 0) FROM payment_allocations a "
                "WHERE a.tenant_id = i.tenant_id AND a.invoice_id = i.id AND a.component IN "
                "('principal', 'fee', 'late_fee', 'damages')) FROM invoices i WHERE i.id = ANY(%s)",
                ([p["invoice"] for p in plan if p["invoice"]],),
            ).fetchall()
        }
        bad = []
        for p in plan:
            if not p["invoice"]:
                continue
            status, paid, allocated = invoices[p["invoice"]]
            payment = by_record[p["record_id"]]
            want = {
                "exact": ("paid", p["balance"], 0),
                "partial": ("partially_paid", p["amount"], 0),
                "over": ("paid", p["balance"], 500),
                "preliminary": ("payment_pending", 0, 0),
            }[p["kind"]]
            got = (status, paid, payment[5])
            if got != want or allocated != paid:
                bad.append(f"{p['kind']} {p['invoice']}: {got} (allocated {allocated}), expected {want}")
        ctx.expect(not bad, f"{len(bad)} invoice(s) not paid exactly once: {bad[:5]}")
        moved = _in_transit_debits(conn, stack.ids["operator"]) - in_transit_before
        ctx.expect_equal("agent collections in transit debited (yen)", moved, cash_total)
        ctx.details["verified"] = {"payments": len(rows), "invoices": len(invoices), "cash_booked": moved}


def _events(stack: Any, event: str) -> list[dict[str, Any]]:
    from common import log_events

    return log_events(stack, "worker", event)
