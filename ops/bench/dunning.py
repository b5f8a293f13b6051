"""Dunning benchmark: one day's sweep over 1,000,000 open invoices on PostgreSQL, against bare SQL in the same run.

    .venv/bin/python ops/bench/dunning.py [--invoices 1000000] [--as-of 2026-12-01] [--batch 10000] [--keep]

What it does:
1. builds a fresh database (``bnpl_bench_dunning``) with the migrations and the demo tenant and merchant;
2. generates the book with bulk SQL (``generate_series``, not the API): ``--invoices`` open invoices of ¥10,000 on
   as many orders, 4 invoices per consumer. 92 % are current (base due dates spread over the next 14 days), 8 %
   overdue (spread over the last 130 days). The overdue ones are where yesterday's sweep left them: their
   ``dunning_actions`` for every step reached by ``as_of − 1``, status overdue / in_collection, the re-bill count;
   those charged off before today are left out (the sweep skips them). Then ``ANALYZE``;
3. the baseline, through bare psycopg in one transaction, rolled back: the floor of the same day's work as plain
   set-based SQL, with no chunking, no locks and no per-invoice code: the status UPDATE, the notifications and
   dunning actions of today's reminders / notices / final demands (INSERT … SELECT … ON CONFLICT DO NOTHING),
   the hand-offs to collection, and for the re-bills and charge-offs an INSERT of the successor invoice / an
   UPDATE of the status per invoice row (set-based, with no ledger entry);
4. the sweep itself (``run_dunning``, every tenant, chunks of ``--batch`` committed one by one), timed, and its
   result checked: every invoice due a step today has its action, no chain acted twice, the ledger balances.

Figures are printed (time, invoices visited per second, actions per second, ratio to the baseline) and written to
``ops/bench/results/dunning.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_DSN = os.environ.get("BNPL_BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = "bnpl_bench_dunning"
PRINCIPAL = 10_000
CURRENT_SHARE = 0.92
OVERDUE_DAYS = 130


def dsn_of(db: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + f"/{db}"


def sa_url(db: str) -> str:
    return "postgresql+psycopg://" + dsn_of(db).split("://", 1)[1]


def prepare() -> tuple[str, str]:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    env = {**os.environ, "BNPL_DATABASE_URL": sa_url(DB), "BNPL_LOG_LEVEL": "WARNING", "BNPL_ENV": "development"}
    bnpl = [sys.executable, "-m", "app"]
    subprocess.run([*bnpl, "db", "upgrade"], env=env, check=True, cwd=ROOT, capture_output=True)
    subprocess.run([*bnpl, "demo"], env=env, check=True, cwd=ROOT, capture_output=True)
    with psycopg.connect(dsn_of(DB)) as conn:
        row = conn.execute("SELECT tenant_id, id FROM merchants WHERE NOT test_mode ORDER BY id LIMIT 1").fetchone()
        assert row is not None
        conn.execute("DELETE FROM dunning_actions")
    return row[0], row[1]


def generate(tenant: str, merchant: str, n: int, as_of: dt.date) -> dict[str, Any]:
    """The book, in bulk SQL. Invoice g (1..n) has order g and consumer ceil(g / 4)."""
    from domain.collections.ladder import DEFAULT_COLLECTIONS_POLICY as policy
    from domain.collections.ladder import steps_due

    current = int(n * CURRENT_SHARE)
    now = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    with psycopg.connect(dsn_of(DB)) as conn:
        conn.execute("SET synchronous_commit = off")
        p = {"t": tenant, "m": merchant, "n": n, "cur": current, "now": now, "as_of": as_of, "od": OVERDUE_DAYS}
        conn.execute(
            "INSERT INTO consumers (tenant_id, id, currency, outstanding, orders_count, overdue_count, created_at) "
            "SELECT %(t)s, 'con_' || lpad(c::text, 26, '0'), 'JPY', 0, 4, 0, %(now)s "
            "FROM generate_series(1, (%(n)s + 3) / 4) c",
            p,
        )
        conn.execute(
            "INSERT INTO orders (tenant_id, id, merchant_id, merchant_order_id, status, currency, amount,"
            " captured_amount, released_amount, refunded_amount, exposure, items, buyer, invoice_delivery,"
            " consumer_id, credit_policy_version, guarantee, test_mode, updated_at, created_at) "
            "SELECT %(t)s, 'ord_' || lpad(g::text, 26, '0'), %(m)s, 'B-' || g, 'captured', 'JPY', 10000, 10000, 0,"
            " 0, 10000, '[]'::jsonb,"
            " jsonb_build_object('name', '山田 太郎', 'email', 'taro' || g || '@example.jp', 'phone', '09000000000'),"
            " 'separate', 'con_' || lpad(((g + 3) / 4)::text, 26, '0'), 0, 'guaranteed', false, %(now)s, %(now)s "
            "FROM generate_series(1, %(n)s) g",
            p,
        )
        # Base due dates: current ones over the next 14 days, overdue ones over the last OVERDUE_DAYS days.
        conn.execute(
            "INSERT INTO invoices (tenant_id, id, number, order_id, merchant_id, consumer_id, delivery, status,"
            " currency, principal, fee, fee_tax, fee_recognized, late_fee, late_fee_tax, damages, paid_amount,"
            " paid_late_fee, paid_damages, paid_fee, paid_principal, waived, charged_off_amount, recovered_amount,"
            " issue_date, due_date, payment_number, virtual_account, reissue, chain_id, dunning_base_date,"
            " rebill_count, dispute_hold, created_at) "
            "SELECT %(t)s, 'inv_' || lpad(g::text, 26, '0'), g + 1000000, 'ord_' || lpad(g::text, 26, '0'), %(m)s,"
            " 'con_' || lpad(((g + 3) / 4)::text, 26, '0'), 'separate', 'issued', 'JPY', 10000, 0, 0, true,"
            " 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b - 14, b, 'B' || lpad(g::text, 21, '0'),"
            " '0001-001-' || lpad(g::text, 7, '0'), 0, 'inv_' || lpad(g::text, 26, '0'), b, 0, false, %(now)s "
            "FROM (SELECT g, CASE WHEN g <= %(cur)s THEN %(as_of)s::date + 1 + (g %% 14)"
            " ELSE %(as_of)s::date - 1 - (g %% %(od)s) END AS b FROM generate_series(1, %(n)s) g) s",
            p,
        )
        conn.execute(
            "INSERT INTO tenant_counters (tenant_id, name, value) VALUES (%(t)s, 'invoice', %(n)s + 1000000) "
            "ON CONFLICT (tenant_id, name) DO UPDATE SET value = EXCLUDED.value",
            p,
        )
        # Where yesterday's sweep left the book: actions of every step reached by as_of − 1, statuses, re-bills.
        yesterday = as_of - dt.timedelta(days=1)
        bases = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT dunning_base_date FROM invoices"
                " WHERE tenant_id = %(t)s AND dunning_base_date <= %(y)s",
                {"t": tenant, "y": yesterday + dt.timedelta(days=3)},
            ).fetchall()
        ]
        from domain.collections.ladder import is_overdue

        # One hash join each (not one statement per base date): the (base, step) pairs reached yesterday, and
        # per base date the status and re-bill count the ladder gave.
        reached_rows: list[tuple[dt.date, int, str]] = []
        state_rows: list[tuple[dt.date, str, int, int, int]] = []
        for base in bases:
            reached = steps_due(policy, base, yesterday)
            reached_rows += [(base, index, step.action) for index, step in reached]
            actions = [s.action for _, s in reached]
            status = (
                "charged_off"
                if "charge_off" in actions
                else "in_collection"
                if "collection" in actions
                else "overdue"
                if is_overdue(base, yesterday)
                else "issued"
            )
            fees = min(actions.count("rebill"), policy.max_late_fees)
            state_rows.append((base, status, actions.count("rebill"), 56 * fees, 5 * fees))
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE reached (b date, i int, a text)")
            cur.execute("CREATE TEMP TABLE state (b date, s text, r int, f bigint, x bigint)")
            with cur.copy("COPY reached FROM STDIN") as copy:
                for row in reached_rows:
                    copy.write_row(row)
            with cur.copy("COPY state FROM STDIN") as copy:
                for row in state_rows:
                    copy.write_row(row)
        conn.execute(
            "INSERT INTO dunning_actions (tenant_id, id, chain_id, invoice_id, base_date, step, action,"
            " as_of, result, created_at) "
            "SELECT i.tenant_id, 'dna_' || substr(i.chain_id, 5) || '_' || r.i, i.chain_id, i.id,"
            " i.dunning_base_date, r.i, r.a, %(y)s, '{}'::jsonb, %(now)s FROM invoices i"
            " JOIN reached r ON r.b = i.dunning_base_date WHERE i.tenant_id = %(t)s AND i.number > 1000000",
            {"t": tenant, "y": yesterday, "now": now},
        )
        conn.execute(
            "UPDATE invoices i SET status = s.s, rebill_count = s.r, late_fee = s.f, late_fee_tax = s.x"
            " FROM state s WHERE i.tenant_id = %(t)s AND i.dunning_base_date = s.b AND i.number > 1000000",
            {"t": tenant},
        )
        conn.execute(
            "UPDATE consumers c SET overdue_count = x.n FROM (SELECT consumer_id, count(*) n FROM invoices"
            " WHERE tenant_id = %(t)s AND status IN ('overdue', 'in_collection', 'charged_off') GROUP BY 1) x"
            " WHERE c.tenant_id = %(t)s AND c.id = x.consumer_id",
            {"t": tenant},
        )
        conn.commit()
    with psycopg.connect(dsn_of(DB), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        counts = dict(conn.execute("SELECT status, count(*) FROM invoices GROUP BY status ORDER BY status").fetchall())
    return {"seconds": round(time.perf_counter() - t0, 1), "by_status": counts}


def baseline(tenant: str, as_of: dt.date) -> dict[str, Any]:
    """The same day's effects as plain set-based SQL (module docstring), in one transaction, rolled back."""
    from domain.collections.ladder import DEFAULT_COLLECTIONS_POLICY as policy
    from domain.collections.ladder import is_overdue, steps_due

    with psycopg.connect(dsn_of(DB)) as conn:
        bases = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT dunning_base_date FROM invoices WHERE tenant_id = %s AND dunning_base_date <= %s"
                " AND status IN ('issued','payment_pending','partially_paid','overdue','in_collection')",
                (tenant, as_of + dt.timedelta(days=3)),
            ).fetchall()
        ]
        t0 = time.perf_counter()
        rows = 0
        now = dt.datetime.now(dt.UTC)
        for base in bases:
            p = {"t": tenant, "b": base, "as_of": as_of, "now": now}
            if is_overdue(base, as_of):
                cur = conn.execute(
                    "UPDATE invoices SET status = 'overdue' WHERE tenant_id = %(t)s AND dunning_base_date = %(b)s"
                    " AND status IN ('issued', 'partially_paid')",
                    p,
                )
                rows += cur.rowcount
            for index, step in steps_due(policy, base, as_of):
                q = {**p, "i": index, "a": step.action}
                not_acted = (
                    "NOT EXISTS (SELECT 1 FROM dunning_actions d WHERE d.tenant_id = i.tenant_id AND"
                    " d.chain_id = i.chain_id AND d.base_date = i.dunning_base_date AND d.step = %(i)s)"
                )
                scope = (
                    "FROM invoices i WHERE i.tenant_id = %(t)s AND i.dunning_base_date = %(b)s AND i.status IN"
                    " ('issued','payment_pending','partially_paid','overdue','in_collection') AND " + not_acted
                )
                if step.action in ("reminder", "overdue_notice", "final_demand"):
                    rows += conn.execute(
                        "INSERT INTO notifications (tenant_id, id, dedupe_key, template, channel, order_id,"
                        " invoice_id, data, status, attempts, created_at) SELECT i.tenant_id, 'ntf_' ||"
                        " substr(i.chain_id, 5) || '_' || %(i)s, i.chain_id || ':' || i.dunning_base_date || ':' ||"
                        " %(i)s, %(a)s, 'email', i.order_id, i.id, jsonb_build_object('amount_due', i.principal,"
                        " 'due_date', i.due_date::text, 'payment_number', i.payment_number), 'pending', 0, %(now)s "
                        + scope
                        + " ON CONFLICT DO NOTHING",
                        q,
                    ).rowcount
                elif step.action == "rebill":
                    rows += conn.execute(
                        "INSERT INTO invoices (tenant_id, id, number, order_id, merchant_id, consumer_id, delivery,"
                        " status, currency, principal, fee, fee_tax, fee_recognized, late_fee, late_fee_tax,"
                        " damages, paid_amount, paid_late_fee, paid_damages, paid_fee, paid_principal, waived,"
                        " charged_off_amount, recovered_amount, issue_date, due_date, payment_number,"
                        " virtual_account, reissue, supersedes_id, chain_id, dunning_base_date, rebill_count,"
                        " dispute_hold, created_at) SELECT i.tenant_id, 'inv_r' || substr(i.id, 6), i.number +"
                        " 100000000, i.order_id, i.merchant_id, i.consumer_id, i.delivery, 'overdue', i.currency,"
                        " i.principal, i.fee, i.fee_tax, true, i.late_fee + 56, i.late_fee_tax + 5, 0, 0, 0, 0, 0,"
                        " 0, 0, 0, 0, %(as_of)s, %(as_of)s + 10, 'r' || i.payment_number, i.virtual_account, 1,"
                        " i.id, i.chain_id, i.dunning_base_date, i.rebill_count + 1, false, %(now)s " + scope,
                        q,
                    ).rowcount
                    conn.execute(
                        "UPDATE invoices i SET status = 'rebilled' " + scope.replace("FROM invoices i ", ""),  # noqa: S608 - constants
                        q,
                    )
                elif step.action in ("collection", "charge_off"):
                    status = "in_collection" if step.action == "collection" else "charged_off"
                    rows += conn.execute(
                        f"UPDATE invoices i SET status = '{status}' " + scope.replace("FROM invoices i ", ""),  # noqa: S608 - constants
                        q,
                    ).rowcount
                conn.execute(
                    "INSERT INTO dunning_actions (tenant_id, id, chain_id, invoice_id, base_date, step, action,"
                    " as_of, result, created_at) SELECT i.tenant_id, 'dna_' || substr(i.chain_id, 5) || '_' ||"
                    " %(i)s, i.chain_id, i.id, i.dunning_base_date, %(i)s, %(a)s, %(as_of)s, '{}'::jsonb, %(now)s "
                    + scope
                    + " ON CONFLICT DO NOTHING",
                    q,
                )
        seconds = time.perf_counter() - t0
        conn.rollback()
    return {"seconds": round(seconds, 2), "rows": rows}


async def sweep(as_of: dt.date, batch: int) -> dict[str, Any]:
    os.environ["BNPL_DATABASE_URL"] = sa_url(DB)
    os.environ.setdefault("BNPL_LOG_LEVEL", "WARNING")
    from app.db import create_engine, create_sessionmaker
    from app.settings import get_settings
    from app.uow import Database
    from domain.collections.dunning import Cursor, Summary, run_dunning

    engine = create_engine(get_settings())
    db = Database(create_sessionmaker(engine), engine)
    t0 = time.perf_counter()

    def progress(total: Summary, cursor: Cursor | None) -> None:
        if total.chunks % 25 == 0 or cursor is None:
            print(
                f"  {time.perf_counter() - t0:6.1f}s {total.chunks:4d} chunks {total.invoices:8d} invoices "
                f"{total.notifications:6d} notifications {total.rebills:5d} re-bills {total.charge_offs:5d} "
                f"charge-offs {total.overdue:5d} overdue",
                flush=True,
            )

    try:
        summary = await run_dunning(db.transaction, None, as_of, batch_size=batch, progress=progress)
        seconds = time.perf_counter() - t0
    finally:
        await engine.dispose()
    return {"seconds": round(seconds, 2), **summary.as_dict()}


def verify(tenant: str, as_of: dt.date) -> dict[str, Any]:
    with psycopg.connect(dsn_of(DB)) as conn:
        dup = conn.execute(
            "SELECT count(*) FROM (SELECT chain_id, step FROM dunning_actions GROUP BY 1, 2 HAVING count(*) > 1) x"
        ).fetchone()
        today = dict(
            conn.execute(
                "SELECT action, count(*) FROM dunning_actions WHERE as_of = %s GROUP BY 1 ORDER BY 1", (as_of,)
            ).fetchall()
        )
        unbalanced = conn.execute(
            "SELECT count(*) FROM (SELECT entry_id FROM ledger_postings GROUP BY entry_id"
            " HAVING sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) <> 0) x"
        ).fetchone()
    assert dup is not None and dup[0] == 0, "a chain acted twice on a step"
    assert unbalanced is not None and unbalanced[0] == 0, "unbalanced journal entries"
    return {"actions_today": today}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--as-of", default="2026-12-01")
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    as_of = dt.date.fromisoformat(args.as_of)

    print(f"Preparing {DB} …", flush=True)
    tenant, merchant = prepare()
    print(f"Generating {args.invoices:,} open invoices …", flush=True)
    book = generate(tenant, merchant, args.invoices, as_of)
    print(f"  {book['seconds']} s: {book['by_status']}", flush=True)
    print("Baseline (bare SQL, rolled back) …", flush=True)
    base = baseline(tenant, as_of)
    print(f"  {base['seconds']} s, {base['rows']:,} rows", flush=True)
    print(f"Sweep as of {as_of} (chunks of {args.batch:,}) …", flush=True)
    result = asyncio.run(sweep(as_of, args.batch))
    checks = verify(tenant, as_of)
    open_invoices = sum(v for k, v in book["by_status"].items() if k != "charged_off")
    figures = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "open_invoices": open_invoices,
        "book": book,
        "baseline": base,
        "sweep": result,
        "checks": checks,
        "open_invoices_per_second": round(open_invoices / result["seconds"]),
        "ratio_to_baseline": round(result["seconds"] / base["seconds"], 2) if base["seconds"] else None,
    }
    print(json.dumps(figures, indent=2, default=str))
    out = HERE / "results" / "dunning.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(
        f"\nSweep: {result['seconds']} s for {open_invoices:,} open invoices "
        f"({figures['open_invoices_per_second']:,}/s); baseline {base['seconds']} s; "
        f"ratio {figures['ratio_to_baseline']}"
    )


if __name__ == "__main__":
    main()
