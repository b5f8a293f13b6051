"""Duplicate and out-of-order notifications: payments pushed twice, payment files re-sent and in reverse order, a
convenience store's 速報 after its 確報, and webhooks to a merchant endpoint duplicated and out of order.

The demo merchant registers a local endpoint for every event type *first*, so every step below also produces
webhook events. The endpoint (``receiver.py``) verifies each signature, acts on an event id once, and misbehaves
on purpose: the first POST of every 5th event gets a 500 (retried a minute later, so it arrives after newer
events: out of order), the first POST of every 7th event is handled but answered after the sender's 10 s timeout
(the retry is a duplicate), and three events are replayed through ``POST /v1/webhook-events/{id}/replay``.

Cases, on ten invoices issued today (I1…I10), each compared with the in-order (or single) delivery:

A. **A payment pushed twice** (``POST /admin/v1/payments``, the same ``external_id``): once, again with another
   Idempotency-Key, then three times at once; the same ``external_id`` with another amount is a 409
   ``external_id_reused``. One payment, I1 paid once.
B. **速報 after its 確報** (I2, two files) against 速報 then 確報 (I3): both paid once, nothing pending.
   **速報取消 before its 速報** (I4) against 速報 then 速報取消 (I5): both back to unpaid, dunning not paused.
C. **A file imported twice** (the same bytes: the same file, nothing new) and **a re-sent file** that repeats a line
   already imported and adds one (I6): the repeated line is skipped, the new one applied.
D. **A Zengin 01 cancel (取消) before the payment it cancels** (I7), against payment then cancel (I8): out of order,
   the cancel names a payment not yet received, so it waits in suspense for a person, and the payment then pays
   I7; the operator pairs them (``POST /admin/v1/payments/{id}/pair``). I7 ends as I8 did: unpaid, both payments
   reversed, suspense back where it was.
E. **Webhooks**: every event recorded for the merchant reached the endpoint and was handled exactly once, every
   signature valid; duplicates and out-of-order arrivals did happen (else E tested nothing); every delivery
   ``succeeded`` in the end.

Pass: all of the above, outbox drained, ``bnpl check`` clean.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository: domain's file builders

from client import IdempotentClient, Outcome  # noqa: E402
from common import Context, log, seed, step, wait_until  # noqa: E402
from receiver import Receiver  # noqa: E402
from redis_outage import register_endpoint, verify_webhooks  # noqa: E402

from domain.collections.formats.konbini import KonbiniRow, build_konbini_csv  # noqa: E402
from domain.collections.formats.zengin import Zengin01Group, Zengin01Transfer, build_zengin_01  # noqa: E402

NAME = "notifications"
TITLE = "payments pushed twice, files re-sent and out of order (速報/確報, 取消), webhooks duplicated and reordered"
STACK: dict[str, Any] = {"local_webhooks": True}

JST = dt.timezone(dt.timedelta(hours=9))


def misbehave(event_id: str, nth: int) -> str:
    """The endpoint's answer to the ``nth`` POST (0-based) of an event: fail or stall some first attempts."""
    if nth > 0:
        return "ok"
    h = sum(event_id.encode()) if event_id else 0
    return "fail" if h % 5 == 0 else "slow" if h % 7 == 0 else "ok"


def run(ctx: Context) -> None:
    stack = ctx.stack
    with Receiver(misbehave=misbehave) as receiver:
        since = str(stack.scalar("SELECT now()"))
        register_endpoint(ctx, receiver, ["*"])
        with step("seed ten invoices issued today (their events go to the endpoint)"):
            seed(
                stack,
                "invoices",
                "--operator",
                stack.ids["operator"],
                "--merchant",
                stack.ids["merchant"],
                "--count",
                "10",
                "--tag",
                "NT",
            )
            invoices = _invoices(stack)
            ctx.expect_equal("invoices seeded", len(invoices), 10)
        api = _Api(stack)
        with step("A: the same payment pushed twice, then three times at once"):
            _duplicate_push(ctx, api, invoices[0])
        with step("B: 速報 after its 確報; 速報取消 before its 速報"):
            _konbini_out_of_order(ctx, api, invoices)
        with step("C: a file imported twice, and a re-sent file repeating a line"):
            _files_twice(ctx, api, invoices)
        with step("D: a Zengin cancel (取消) before its payment; paired by hand"):
            _zengin_reversed(ctx, api, invoices)
        with step("E: webhooks duplicated (replays, timeouts) and out of order (failed first attempts)"):
            _webhooks(ctx, api, receiver, since)


# -- helpers ----------------------------------------------------------------------------------------------------------


class _Api:
    def __init__(self, stack: Any) -> None:
        self.stack = stack

    def post(
        self, path: str, body: Any, *, key: str = "admin", idempotency_key: str | None = None, **kw: Any
    ) -> Outcome:
        return asyncio.run(self.many([(path, body, idempotency_key)], key=key, **kw))[0]

    async def many(
        self, requests: list[tuple[str, Any, str | None]], *, key: str = "admin", **kw: Any
    ) -> list[Outcome]:
        async with IdempotentClient(self.stack.urls(), self.stack.keys[key], deadline=120, timeout=60) as client:
            return list(await asyncio.gather(*(client.post(path, body, key=ik, **kw) for path, body, ik in requests)))

    def import_file(self, ctx: Context, data: bytes, name: str) -> str:
        outcome = self.post(f"/admin/v1/payment-files?filename={name}", data, content_type="text/plain")
        if not ctx.expect(outcome.status == 202, f"importing {name}: {outcome.status} {outcome.response}"):
            return ""
        file_id = str(outcome.resource_id())
        wait_until(
            f"{name} reconciled",
            lambda: self.stack.scalar("SELECT status FROM payment_files WHERE id = %s", file_id) == "reconciled",
            timeout=120,
            every=0.5,
        )
        return file_id


def _invoices(stack: Any) -> list[dict[str, Any]]:
    with stack.sql() as conn:
        rows = conn.execute(
            "SELECT i.id, i.payment_number, i.virtual_account, i.principal + i.fee + i.late_fee + i.damages "
            "FROM invoices i JOIN orders o ON o.tenant_id = i.tenant_id AND o.id = i.order_id "
            "WHERE o.merchant_order_id LIKE 'NT-%%' AND i.status = 'issued' ORDER BY i.number"
        ).fetchall()
    return [{"id": r[0], "number": r[1], "account": r[2], "total": r[3]} for r in rows]


def _state(stack: Any, invoice_id: str) -> tuple[Any, ...]:
    """What an invoice's payments left: its status, what it was paid, whether dunning is paused by a 速報."""
    with stack.sql() as conn:
        row = conn.execute(
            "SELECT status, paid_amount, payment_pending_since IS NOT NULL FROM invoices WHERE id = %s", (invoice_id,)
        ).fetchone()
    return tuple(row) if row else ()


def _payments(stack: Any, external_prefix: str) -> list[tuple[Any, ...]]:
    with stack.sql() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT external_id, kind, status, outcome, amount, open_amount, id FROM payments "
                "WHERE external_id LIKE %s ORDER BY external_id",
                (external_prefix,),
            ).fetchall()
        ]


def _line(payment: tuple[Any, ...]) -> str:
    external_id, kind, status, outcome, amount, open_amount = payment[:6]
    return f"{external_id}: {kind} {status} ({outcome}) ¥{amount}, holding ¥{open_amount}"


def _konbini(rows: list[tuple[str, str, str, int, str]]) -> bytes:
    """A convenience-store CSV of (kind, record id, payment number, amount, original record id)."""
    # A fixed time (yesterday noon): the same records make the same bytes (C sends a file's exact bytes again).
    paid_at = dt.datetime.combine(dt.datetime.now(JST).date() - dt.timedelta(days=1), dt.time(12), tzinfo=JST)
    return build_konbini_csv(
        KonbiniRow(
            kind=kind,
            record_id=record_id,
            payment_number=number,
            amount=amount,
            paid_at=paid_at,
            store="ファミリーマート 試験店",
            original_record_id=original,
        )
        for kind, record_id, number, amount, original in rows
    )


# -- A ----------------------------------------------------------------------------------------------------------------


def _duplicate_push(ctx: Context, api: _Api, invoice: dict[str, Any]) -> None:
    body = {
        "external_id": "faults:push:0001",
        "kind": "payment",
        "channel": "bank_transfer",
        "amount": invoice["total"],
        "value_date": dt.datetime.now(JST).date().isoformat(),
        "payer_name": "ﾔﾏﾀﾞ ﾀﾛｳ",
        "account": invoice["account"],
    }
    first = api.post("/admin/v1/payments", body)
    second = api.post("/admin/v1/payments", body)
    burst = asyncio.run(api.many([("/admin/v1/payments", body, None)] * 3))
    ids = {o.resource_id() for o in [first, second, *burst]}
    statuses = [o.status for o in [first, second, *burst]]
    ctx.expect_equal("answers to the same payment pushed five times", statuses, [201] * 5)
    ctx.expect_equal("distinct payments in those answers", len(ids), 1)
    ctx.expect_equal("payments recorded", len(_payments(ctx.stack, "faults:push:%")), 1)
    ctx.expect_equal("I1 after five pushes", _state(ctx.stack, invoice["id"]), ("paid", invoice["total"], False))
    other = api.post("/admin/v1/payments", {**body, "amount": invoice["total"] + 1})
    ctx.expect(
        other.status == 409 and (other.response or {}).get("code") == "external_id_reused",
        f"the same external_id with another amount answered {other.status} {other.response}",
    )
    log(f"  one payment ({ids.pop()}); I1 paid once; another amount under the same id refused")


# -- B ----------------------------------------------------------------------------------------------------------------


def _konbini_out_of_order(ctx: Context, api: _Api, invoices: list[dict[str, Any]]) -> None:
    i2, i3, i4, i5 = invoices[1:5]
    stack = ctx.stack
    # 確報 then (late) 速報, against 速報 then 確報.
    api.import_file(ctx, _konbini([("payment", "KH-I2", i2["number"], i2["total"], "")]), "cvs-1.csv")
    api.import_file(ctx, _konbini([("preliminary", "SK-I2", i2["number"], i2["total"], "")]), "cvs-2.csv")
    api.import_file(ctx, _konbini([("preliminary", "SK-I3", i3["number"], i3["total"], "")]), "cvs-3.csv")
    api.import_file(ctx, _konbini([("payment", "KH-I3", i3["number"], i3["total"], "")]), "cvs-4.csv")
    late, in_order = _state(stack, i2["id"]), _state(stack, i3["id"])
    ctx.expect_equal("I2 (速報 after 確報)", late, ("paid", i2["total"], False))
    ctx.expect_equal("I3 (速報 then 確報)", in_order, ("paid", i3["total"], False))
    # 速報取消 before its 速報, against 速報 then 速報取消.
    api.import_file(ctx, _konbini([("preliminary_cancel", "CX-I4", i4["number"], i4["total"], "SK-I4")]), "cvs-5.csv")
    api.import_file(ctx, _konbini([("preliminary", "SK-I4", i4["number"], i4["total"], "")]), "cvs-6.csv")
    api.import_file(ctx, _konbini([("preliminary", "SK-I5", i5["number"], i5["total"], "")]), "cvs-7.csv")
    api.import_file(ctx, _konbini([("preliminary_cancel", "CX-I5", i5["number"], i5["total"], "SK-I5")]), "cvs-8.csv")
    reversed_, in_order = _state(stack, i4["id"]), _state(stack, i5["id"])
    ctx.details["konbini"] = {
        "I2 確報→速報": late,
        "I3 速報→確報": _state(stack, i3["id"]),
        "I4 速報取消→速報": reversed_,
        "I5 速報→速報取消": in_order,
        "records": [_line(p) for p in _payments(stack, "cvs:%-I%")],
    }
    ctx.expect_equal("I5 (速報 then 速報取消)", in_order, ("issued", 0, False))
    ctx.expect(
        reversed_ == in_order,
        f"I4 (速報取消 before its 速報) ends {reversed_}, not as in order {in_order}: the late 速報 pauses dunning on "
        "an invoice whose till payment was voided",
    )


# -- C ----------------------------------------------------------------------------------------------------------------


def _files_twice(ctx: Context, api: _Api, invoices: list[dict[str, Any]]) -> None:
    stack = ctx.stack
    i2, i6 = invoices[1], invoices[5]
    data = _konbini([("payment", "KH-I2", i2["number"], i2["total"], "")])
    before = stack.scalar("SELECT count(*) FROM payments")
    first = stack.scalar("SELECT id FROM payment_files WHERE filename = 'cvs-1.csv'")
    ctx.expect_equal(
        "cvs-1.csv's bytes rebuilt", stack.scalar("SELECT content FROM payment_files WHERE id = %s", first), data
    )
    again = api.post("/admin/v1/payment-files?filename=cvs-1-again.csv", data, content_type="text/plain")
    ctx.expect_equal("the same bytes again: the first file", (again.status, again.resource_id()), (202, first))
    resent = _konbini(
        [("payment", "KH-I2", i2["number"], i2["total"], ""), ("payment", "KH-I6", i6["number"], i6["total"], "")]
    )
    api.import_file(ctx, resent, "cvs-resent.csv")
    ctx.expect_equal("payments recorded by the two imports", stack.scalar("SELECT count(*) FROM payments") - before, 1)
    ctx.expect_equal("I2 after its line was re-sent", _state(stack, i2["id"]), ("paid", i2["total"], False))
    ctx.expect_equal("I6 (the re-sent file's new line)", _state(stack, i6["id"]), ("paid", i6["total"], False))


# -- D ----------------------------------------------------------------------------------------------------------------


def _zengin(invoice: dict[str, Any], inquiry: str, *, cancel: bool) -> bytes:
    bank, branch, account = invoice["account"].split("-")
    today = dt.datetime.now(JST).date()
    transfer = Zengin01Transfer(
        inquiry_no=inquiry,
        account_date=today,
        value_date=today,
        amount=invoice["total"],
        payer_name="ﾃｽﾄ ﾊﾅｺ",
        remitting_bank="ﾐｽﾞﾎ",
        cancel=cancel,
    )
    group = Zengin01Group(
        bank_code=bank,
        branch_code=branch,
        account_number=account,
        period_from=today,
        period_to=today,
        bank_name="ﾃｽﾄｷﾞﾝｺｳ",
        branch_name="ﾎﾝﾃﾝ",
        account_name="ﾃﾞﾓ ﾋﾞｰｴﾇﾋﾟｰｴﾙ",
        transfers=(transfer,),
    )
    return build_zengin_01([group], created_on=today)


def _zengin_reversed(ctx: Context, api: _Api, invoices: list[dict[str, Any]]) -> None:
    stack = ctx.stack
    i7, i8 = invoices[6], invoices[7]
    suspense_before = _suspense(stack)
    # In order: the payment, then its cancel.
    api.import_file(ctx, _zengin(i8, "000808", cancel=False), "zengin-i8-payment.txt")
    api.import_file(ctx, _zengin(i8, "000808", cancel=True), "zengin-i8-cancel.txt")
    # Reversed: the cancel first (it names a payment not yet received), then the payment.
    api.import_file(ctx, _zengin(i7, "000707", cancel=True), "zengin-i7-cancel.txt")
    api.import_file(ctx, _zengin(i7, "000707", cancel=False), "zengin-i7-payment.txt")
    pays = {p[0]: p for p in _payments(stack, "z01:%")}
    cancel7 = next((p for e, p in pays.items() if "000707" in e and e.endswith(":c")), None)
    pay7 = next((p for e, p in pays.items() if "000707" in e and not e.endswith(":c")), None)
    ctx.details["zengin_before_pairing"] = {
        "I7": _state(stack, i7["id"]),
        "payments": [_line(p) for p in pays.values()],
    }
    if not (ctx.expect(cancel7 is not None and pay7 is not None, f"I7's payments: {list(pays)}") and cancel7 and pay7):
        return
    ctx.expect(cancel7[5] > 0, f"the early cancel is not held for a person: {cancel7[:6]}")
    paired = api.post(
        f"/admin/v1/payments/{cancel7[6]}/pair",
        {"payment_id": pay7[6], "note": "fault scenario: bank sent the cancel first"},
    )
    ctx.expect_equal("pairing the early cancel", paired.status, 200)
    after = {p[0]: p for p in _payments(stack, "z01:%")}
    ctx.details["zengin_after_pairing"] = {
        "I7": _state(stack, i7["id"]),
        "I8": _state(stack, i8["id"]),
        "payments": [_line(p) for p in after.values()],
    }
    ctx.expect_equal(
        "I7 (cancel first, paired) ends as I8 (in order)", _state(stack, i7["id"]), _state(stack, i8["id"])
    )
    ctx.expect_equal("I8 (payment then cancel)", _state(stack, i8["id"]), ("issued", 0, False))
    held = {e: p[5] for e, p in after.items() if p[5]}
    ctx.expect_equal("Zengin payments still holding money", held, {})
    ctx.expect_equal("suspense (仮受金) balance change", _suspense(stack) - suspense_before, 0)


def _suspense(stack: Any) -> int:
    return int(
        stack.scalar(
            "SELECT coalesce(sum(CASE WHEN p.direction = 'credit' THEN p.amount ELSE -p.amount END), 0) "
            "FROM ledger_postings p JOIN ledger_accounts a ON a.tenant_id = p.tenant_id AND a.id = p.account_id "
            "WHERE a.key = 'suspense'"
        )
    )


# -- E ----------------------------------------------------------------------------------------------------------------


def _webhooks(ctx: Context, api: _Api, receiver: Receiver, since: str) -> None:
    stack = ctx.stack
    with stack.sql() as conn:
        replayed = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM webhook_events WHERE merchant_id = %s ORDER BY created_at LIMIT 3",
                (stack.ids["merchant"],),
            ).fetchall()
        ]
    for event_id in replayed:
        outcome = api.post(f"/v1/webhook-events/{event_id}/replay", {}, key="merchant")
        ctx.expect_equal(f"replay of {event_id}", outcome.status, 201)
    started = time.monotonic()

    def settled() -> bool:
        pending = stack.scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE merchant_id = %s AND status = 'pending'",
            stack.ids["merchant"],
        )
        return pending == 0

    ok, _ = wait_until(
        "every webhook delivery settled (retries a minute after a failed attempt)",
        settled,
        timeout=240,
        every=2,
        progress=lambda: f"{receiver.stats()}",
        progress_every=20,
    )
    ctx.expect(ok, "webhook deliveries still pending")
    ctx.details["webhook_settle_seconds"] = round(time.monotonic() - started, 1)
    verify_webhooks(ctx, receiver, since=since, allow_duplicates=True)
    stats = receiver.stats()
    ctx.expect(stats["duplicate_posts_ignored"] > 0, "no duplicate delivery happened: E tested no deduplication")
    ctx.expect(stats["posts_out_of_order"] > 0, "no delivery arrived out of order: E tested no reordering")
    log(f"  endpoint: {stats}")
