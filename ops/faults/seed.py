"""Seeding for the fault scenarios, through the product's own services (as ``bnpl demo`` does), never raw SQL.

Run by the scenarios in a subprocess with the stack's environment (``BNPL_*``), so it writes to the stack's
database with the stack's secret::

    python ops/faults/seed.py invoices --operator opr_… --merchant mch_… --count 600 --first 12 --last 80
    python ops/faults/seed.py settlement --operator opr_… --merchants 150 --orders 4
    python ops/faults/seed.py enqueue settlement.run '{"as_of": "2026-12-07"}'

* ``invoices``: orders authorized, captured in full and their arrival confirmed on days spread from ``--last`` to
  ``--first`` days ago (the product's clock moved back with freezegun, as the tests move it), so their invoices fall
  due on many different days: what a month or two of business leaves for the dunning sweep (or, with
  ``--first 0 --last 0``, today's invoices for a payment file to pay).
* ``settlement``: merchants with a weekly contract signed ``--contract-days`` ago, each with orders shipped and
  arrived in the week before the last cut-off (Friday), so a run today makes their statements.
* ``tenant``: a new operator (its default policies) with one live merchant, made ``--days-back`` days ago.
* ``enqueue``: one outbox message, as the scheduler stages a due slot (``domain.kit.outbox.enqueue``); the relay
  hands it to the worker. A unique dedupe key per call.

Every order is a new consumer (``data.order_request``), made by ``domain.checkout.service`` with a merchant
principal; arrival is confirmed by the operator's. Each order commits on its own. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from data import capture_request, order_request  # noqa: E402 - the sibling generator

CLI_ACTOR = "cli"
CONCURRENCY = 4  # orders made at once: each is a distinct consumer, so they never wait on each other's locks


def _principals(operator_id: str, merchant_id: str) -> tuple[Any, Any]:
    from domain.kit.tenancy import Principal, Role

    admin = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_ADMIN, tenant_id=operator_id)
    merchant = Principal(api_key_id=CLI_ACTOR, role=Role.MERCHANT, tenant_id=operator_id, merchant_id=merchant_id)
    return admin, merchant


def _order_request(merchant_order_id: str, n: int) -> Any:
    from domain.checkout.schemas import Buyer, Device, Item, OrderRequest

    body = order_request(merchant_order_id, n)
    return OrderRequest(
        merchant_order_id=body["merchant_order_id"],
        amount=body["amount"],
        currency="JPY",
        items=[Item(**item) for item in body["items"]],
        buyer=Buyer(**body["buyer"]),
        device=Device(**body["device"]),
        invoice_delivery="separate",
    )


async def _shipped_order(db: Any, secret: str, operator_id: str, merchant_id: str, tag: str, n: int) -> str:
    """One order authorized, captured and its arrival confirmed, each step in its own transaction (as three
    requests would be). Returns the order's status."""
    from domain.checkout import service as checkout
    from domain.checkout.schemas import CaptureRequest

    admin, merchant = _principals(operator_id, merchant_id)
    async with db.transaction() as session:
        order = await checkout.authorize(session, merchant, _order_request(f"{tag}-{n}", n), secret=secret)
    if order.status != "authorized":
        return order.status
    capture = capture_request(n)
    async with db.transaction() as session:
        await checkout.capture(
            session,
            merchant,
            order.id,
            CaptureRequest(carrier=capture["carrier"], tracking_number=capture["tracking_number"]),
        )
    async with db.transaction() as session:
        await checkout.confirm_arrival(session, admin, order.id)
    return "shipped"


async def _concurrently(
    db: Any, secret: str, operator_id: str, tag: str, jobs: list[tuple[str, int]], outcomes: dict[str, int]
) -> None:
    """``_shipped_order`` for each (merchant, consumer number), a few at a time (as a few checkouts would)."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(merchant_id: str, n: int) -> None:
        async with gate:
            status = await _shipped_order(db, secret, operator_id, merchant_id, tag, n)
        outcomes[status] = outcomes.get(status, 0) + 1

    await asyncio.gather(*(one(merchant_id, n) for merchant_id, n in jobs))


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    from domain.kit import clock

    return dt.datetime.combine(day, dt.time(hour, minute % 60), tzinfo=clock.JST).astimezone(dt.UTC)


async def seed_invoices(args: argparse.Namespace) -> dict[str, Any]:
    from freezegun import freeze_time

    from app.cli._common import load_settings, open_db
    from domain.kit import clock

    settings = load_settings()
    today = clock.jst_today()
    span = max(args.last - args.first, 0)
    by_day: dict[int, list[int]] = {}  # days ago -> consumer numbers (freezegun is entered once per day: it is slow)
    for i in range(args.count):
        by_day.setdefault(args.last - (i * (span + 1) // args.count), []).append(args.start + i)
    outcomes: dict[str, int] = {}
    async with open_db(settings) as db:
        for days_back, numbers in sorted(by_day.items(), reverse=True):
            frozen = (
                freeze_time(_at(today - dt.timedelta(days=days_back), 10, 0), tick=True, real_asyncio=True)
                if days_back
                else contextlib.nullcontext()
            )
            with frozen:
                jobs = [(args.merchant, n) for n in numbers]
                await _concurrently(db, settings.secret_key, args.operator, args.tag, jobs, outcomes)
    return {"orders": outcomes}


async def seed_settlement(args: argparse.Namespace) -> dict[str, Any]:
    from freezegun import freeze_time

    from app.cli._common import load_settings, open_db
    from domain.kit import clock
    from domain.settlement.contracts import ContractTerms, put_contract
    from domain.tenancy import service as tenancy

    settings = load_settings()
    today = clock.jst_today()
    cutoff = today - dt.timedelta(days=(today.weekday() - 4) % 7 or 7)  # the last Friday before today
    week = [cutoff - dt.timedelta(days=d) for d in range(6, -1, -1)]  # the Saturday after the previous one .. cutoff
    signed = _at(today - dt.timedelta(days=args.contract_days), 9, 0)
    admin, _ = _principals(args.operator, "")
    merchants: list[str] = []
    outcomes: dict[str, int] = {}
    async with open_db(settings) as db:
        with freeze_time(signed, tick=True, real_asyncio=True):
            for m in range(args.merchants):
                async with db.transaction() as session:
                    merchant = await tenancy.create_merchant(
                        session, admin, name=f"{args.tag} shop {m:04d}", consumer_fee=330, test_mode=False
                    )
                    await put_contract(
                        session,
                        admin,
                        merchant.id,
                        ContractTerms(
                            fee_rate_bp=290 + m % 50,
                            cycle="weekly",
                            bank_code="0001",
                            branch_code="001",
                            account_type="1",
                            account_number=f"{1_000_000 + m:07d}",
                            holder_kana="ｶ)ﾃﾞﾓ",
                            invoice_fee_separate=150,
                            monthly_fee=1000 if m % 3 == 0 else 0,
                            transfer_fee=250 if m % 2 == 0 else 0,
                        ),
                    )
                merchants.append(merchant.id)
        for d, day in enumerate(week):
            jobs = [
                (merchant_id, args.start + m * args.orders + k)
                for m, merchant_id in enumerate(merchants)
                for k in range(args.orders)
                if (m + k) % len(week) == d
            ]
            with freeze_time(_at(day, 10, 0), tick=True, real_asyncio=True):
                await _concurrently(db, settings.secret_key, args.operator, args.tag, jobs, outcomes)
    return {"merchants": len(merchants), "orders": outcomes, "cutoff": cutoff.isoformat()}


async def seed_tenant(args: argparse.Namespace) -> dict[str, Any]:
    from freezegun import freeze_time

    from app.cli._common import load_settings, open_db
    from domain.kit import clock
    from domain.tenancy import service as tenancy

    settings = load_settings()
    with freeze_time(_at(clock.jst_today() - dt.timedelta(days=args.days_back), 9, 0), tick=True, real_asyncio=True):
        async with open_db(settings) as db, db.transaction() as session:
            operator = await tenancy.create_operator(session, name=args.name)
            admin, _ = _principals(operator.id, "")
            merchant = await tenancy.create_merchant(session, admin, name=f"{args.name} shop", consumer_fee=330)
    return {"operator": operator.id, "merchant": merchant.id}


async def enqueue(args: argparse.Namespace) -> dict[str, Any]:
    from app.cli._common import load_settings, open_db
    from domain.kit import outbox

    settings = load_settings()
    async with open_db(settings) as db, db.transaction() as session:
        message_id = await outbox.enqueue(
            session,
            args.actor,
            json.loads(args.payload),
            tenant_id=args.tenant,
            dedupe_key=f"faults:{args.actor}:{uuid.uuid4().hex}",
        )
    return {"message_id": message_id}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("invoices", help="shipped orders (open invoices) over past days")
    p.add_argument("--operator", required=True)
    p.add_argument("--merchant", required=True)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--first", type=int, default=0, help="the most recent day, in days ago")
    p.add_argument("--last", type=int, default=0, help="the oldest day, in days ago")
    p.add_argument("--start", type=int, default=1_000_000, help="first consumer number (data.order_request)")
    p.add_argument("--tag", default="SEED")
    p = sub.add_parser("settlement", help="merchants with weekly contracts and last week's shipped orders")
    p.add_argument("--operator", required=True)
    p.add_argument("--merchants", type=int, default=100)
    p.add_argument("--orders", type=int, default=3)
    p.add_argument("--contract-days", type=int, default=16)
    p.add_argument("--start", type=int, default=2_000_000)
    p.add_argument("--tag", default="STL")
    p = sub.add_parser("tenant", help="a new operator and one live merchant, made --days-back days ago")
    p.add_argument("--name", required=True)
    p.add_argument("--days-back", type=int, default=120)
    p = sub.add_parser("enqueue", help="stage one outbox message, as the scheduler does")
    p.add_argument("actor")
    p.add_argument("payload", help="JSON object")
    p.add_argument("--tenant", default=None)
    args = parser.parse_args()
    started = time.monotonic()
    handler = {"invoices": seed_invoices, "settlement": seed_settlement, "tenant": seed_tenant, "enqueue": enqueue}[
        args.command
    ]
    result = asyncio.run(handler(args))
    print("SEED_RESULT " + json.dumps({**result, "seconds": round(time.monotonic() - started, 1)}), flush=True)


if __name__ == "__main__":
    main()
