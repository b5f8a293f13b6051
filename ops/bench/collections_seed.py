"""Seeding for the collections benchmarks: a fresh database with one operator and merchant, and N captured orders
each with an open invoice (and its consumer), written with COPY so that a million rows take seconds.

The rows are what checkout would have written for a shipped order of a distinct consumer (credit exposure = the
order amount, consumer outstanding = the same), minus the ledger postings (the benchmarks check their own
postings, not the seeded ones). Invoice ``i`` has number ``i`` and the payment keys checkout derives from it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_DSN = os.environ.get("BNPL_BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

ITEMS = json.dumps([{"ref": "SKU-1", "name": "商品", "unit_price": 0, "quantity": 1, "tax_rate": 10}])
BUYER = json.dumps({"name": "山田 太郎", "name_kana": "ヤマダ タロウ"}, ensure_ascii=False)


def fresh_database(name: str) -> str:
    """Drop and create ``name``, migrate it, and return its SQLAlchemy URL."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_DSN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    env = {**os.environ, "BNPL_DATABASE_URL": url, "BNPL_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "app", "db", "upgrade"], check=True, env=env, cwd=ROOT, capture_output=True)
    return url


def dsn_of(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_tenant(url: str) -> tuple[str, str]:
    """(operator id, merchant id), made by the domain services as the CLI makes them."""
    os.environ["BNPL_DATABASE_URL"] = url

    async def main() -> tuple[str, str]:
        from app.db import create_engine, create_sessionmaker
        from app.settings import get_settings
        from app.uow import Database
        from domain.kit.tenancy import Principal, Role
        from domain.tenancy import service
        from domain.tenancy.service import CLI_ACTOR

        get_settings.cache_clear()  # the URL changed since the last call
        engine = create_engine(get_settings())
        db = Database(create_sessionmaker(engine), engine)
        try:
            async with db.transaction() as s:
                operator = await service.create_operator(s, name="Bench operator")
                admin = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_ADMIN, tenant_id=operator.id)
                merchant = await service.create_merchant(s, admin, name="Bench shop")
                return operator.id, merchant.id
        finally:
            await engine.dispose()

    return asyncio.run(main())


def seed_open_invoices(
    dsn: str,
    tenant_id: str,
    merchant_id: str,
    n: int,
    *,
    issue_date: dt.date,
    due_days: int = 14,
    amount_of=lambda i: 1_000 + (i * 37) % 50_000,  # noqa: B008 - a plain default function
    status: str = "issued",
) -> None:
    """COPY ``n`` consumers, captured orders and open invoices (numbers 1..n) for one tenant."""
    from domain.invoicing import keys
    from domain.invoicing.service import virtual_account_for

    now = dt.datetime.now(dt.UTC)
    due = issue_date + dt.timedelta(days=due_days)
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY consumers (tenant_id, id, currency, outstanding, orders_count, overdue_count, created_at)"
                " FROM STDIN"
            ) as copy:
                for i in range(1, n + 1):
                    copy.write_row((tenant_id, f"con_bench{i:012d}", "JPY", amount_of(i), 1, 0, now))
            with cur.copy(
                "COPY orders (tenant_id, id, merchant_id, merchant_order_id, status, currency, amount,"
                " captured_amount, released_amount, refunded_amount, exposure, items, buyer, invoice_delivery,"
                " consumer_id, credit_policy_version, guarantee, test_mode, updated_at, created_at) FROM STDIN"
            ) as copy:
                for i in range(1, n + 1):
                    amount = amount_of(i)
                    copy.write_row(
                        (
                            tenant_id,
                            f"ord_bench{i:012d}",
                            merchant_id,
                            f"BENCH-{i}",
                            "captured",
                            "JPY",
                            amount,
                            amount,
                            0,
                            0,
                            amount,
                            ITEMS,
                            BUYER,
                            "separate",
                            f"con_bench{i:012d}",
                            0,
                            "guaranteed",
                            False,
                            now,
                            now,
                        )
                    )
            with cur.copy(
                "COPY invoices (tenant_id, id, number, order_id, merchant_id, consumer_id, delivery, status,"
                " currency, principal, fee, fee_tax, fee_recognized, paid_amount, issue_date, due_date,"
                " payment_number, virtual_account, reissue, created_at, payer_kana, chain_id, dunning_base_date)"
                " FROM STDIN"
            ) as copy:
                for i in range(1, n + 1):
                    copy.write_row(
                        (
                            tenant_id,
                            f"inv_bench{i:012d}",
                            i,
                            f"ord_bench{i:012d}",
                            merchant_id,
                            f"con_bench{i:012d}",
                            "separate",
                            status,
                            "JPY",
                            amount_of(i),
                            0,
                            0,
                            False,
                            0,
                            issue_date,
                            due,
                            keys.payment_number("00001", i),
                            f"0001-001-{virtual_account_for(i)}",
                            0,
                            now,
                            "ﾔﾏﾀﾞﾀﾛｳ",
                            f"inv_bench{i:012d}",
                            due,
                        )
                    )
            cur.execute(
                "INSERT INTO tenant_counters (tenant_id, name, value) VALUES (%s, 'invoice', %s)"
                " ON CONFLICT (tenant_id, name) DO UPDATE SET value = EXCLUDED.value",
                (tenant_id, n),
            )
        conn.commit()
        conn.execute("ANALYZE consumers")
        conn.execute("ANALYZE orders")
        conn.execute("ANALYZE invoices")
