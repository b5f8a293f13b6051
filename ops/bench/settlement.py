"""Settlement benchmark (issue 6): one weekly cycle for M merchants with N captured, guaranteed orders each,
against the same set-based SQL through bare psycopg in the same run.

    .venv/bin/python ops/bench/settlement.py [--merchants 1000] [--orders 1000] [--profile]

1. Seeds a fresh database (``bnpl_bench_stl``) with COPY: one operator, M merchants each with a contract (weekly,
   ``advance_on = arrival``, 3.00 % rate fee, ¥150 per 別送 invoice, bank 0001/001, holder ``ｶ)ﾃﾞﾓ``), and M × N
   orders, each captured in full (one ``order_captures`` row, shipped in the week) and guaranteed (arrival confirmed
   in the week). No consumers or invoices: settlement does not read them. The contracts date from the Saturday the
   week starts, so the run makes exactly one statement per merchant (the cut-off: the last Friday before today).
2. A copy of it (``CREATE DATABASE … TEMPLATE``) is kept for the baseline, so both start from the same rows.
3. In a child process (so its peak RSS is its own): ``run_settlement(session, tenant, as_of=the Saturday after)`` in one
   transaction, as the scheduler's job runs it. ``--profile`` also times every statement by its SQL and the
   domain's steps (line inserts by kind, totals, booking) and prints where the time went.
4. Checks in SQL: M statements, M × N sale lines, Σ sales = Σ captured, each statement's payout = sales − fees −
   tax (and the fees as the contract says), the tenant's ledger balanced.
5. Baseline on the copy: the statements' rows, the sale lines by one ``INSERT … SELECT … ON CONFLICT DO NOTHING``
   for every merchant at once, and the statements' figures by one ``GROUP BY`` aggregate ``UPDATE``, committed.
   Ratio = ours ÷ baseline.

Results are printed and written to ``ops/bench/results/settlement.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import collections_seed as seed  # noqa: E402 - the sibling seeding module

JST = dt.timezone(dt.timedelta(hours=9))
# The last full week before today (a run never looks ahead): its Friday cut-off, closed by a run on the day after.
_TODAY = dt.datetime.now(JST).date()
CUTOFF = _TODAY - dt.timedelta(days=(_TODAY.weekday() - 4) % 7 or 7)  # the last Friday before today
WEEK_START = CUTOFF - dt.timedelta(days=6)  # Saturday: the period after the previous cut-off
AS_OF = CUTOFF + dt.timedelta(days=1)  # the Saturday after: the run closes the week
END = dt.datetime.combine(AS_OF, dt.time(0), JST)  # everything before the end of the cut-off day
FEE_RATE_BP = 300
INVOICE_FEE_SEPARATE = 150
HOLDER = "ｶ)ﾃﾞﾓ"
ITEMS = json.dumps([{"ref": "SKU-1", "name": "商品", "unit_price": 0, "quantity": 1, "tax_rate": 10}])
CAPTURE_ITEMS = json.dumps([{"ref": "SKU-1", "quantity": 1}])


def amount_of(k: int) -> int:
    return 1_000 + (k * 37) % 50_000


def merchant_id(m: int) -> str:
    return f"mch_bench{m:06d}"


# -- seeding ----------------------------------------------------------------------------------------------------------


def seed_settlement(dsn: str, tenant_id: str, merchants: int, orders: int) -> int:
    """COPY the merchants, contracts, orders and captures; the total captured."""
    from domain.settlement.bank import bank_branch, zengin_name

    bank_branch("0001", "001")  # the contract's account must be one a payout file can carry
    zengin_name(HOLDER, max_bytes=30, what="holder_kana")
    created = dt.datetime.combine(WEEK_START, dt.time(9), JST)
    total = 0
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY merchants (tenant_id, id, name, status, created_at, consumer_fee, test_mode) FROM STDIN"
            ) as copy:
                for m in range(1, merchants + 1):
                    copy.write_row((tenant_id, merchant_id(m), f"Bench shop {m}", "active", created, 0, False))
            with cur.copy(
                "COPY merchant_contracts (tenant_id, id, merchant_id, fee_rate_bp, invoice_fee_separate,"
                " invoice_fee_enclosed, monthly_fee, transfer_fee, cycle, minimum_payout, advance_on, bank_code,"
                " branch_code, account_type, account_number, holder_kana, updated_at, updated_by, created_at)"
                " FROM STDIN"
            ) as copy:
                for m in range(1, merchants + 1):
                    copy.write_row(
                        (
                            tenant_id,
                            f"mct_bench{m:06d}",
                            merchant_id(m),
                            FEE_RATE_BP,
                            INVOICE_FEE_SEPARATE,
                            0,
                            0,
                            0,
                            "weekly",
                            0,
                            "arrival",
                            "0001",
                            "001",
                            "1",
                            f"{m:07d}",
                            HOLDER,
                            created,
                            "cli",
                            created,
                        )
                    )
            with cur.copy(
                "COPY orders (tenant_id, id, merchant_id, merchant_order_id, status, currency, amount,"
                " captured_amount, released_amount, refunded_amount, exposure, items, buyer, invoice_delivery,"
                " ordered_at, credit_policy_version, authorized_at, guarantee, arrival_confirmed_at, test_mode,"
                " updated_at, created_at) FROM STDIN"
            ) as copy:
                for m in range(1, merchants + 1):
                    mid = merchant_id(m)
                    for j in range(orders):
                        k = (m - 1) * orders + j + 1
                        amount = amount_of(k)
                        ordered = created + dt.timedelta(seconds=k % 86_400)
                        copy.write_row(
                            (
                                tenant_id,
                                f"ord_bench{k:012d}",
                                mid,
                                f"BENCH-{k}",
                                "captured",
                                "JPY",
                                amount,
                                amount,
                                0,
                                0,
                                amount,
                                ITEMS,
                                seed.BUYER,
                                "separate",
                                ordered,
                                0,
                                ordered,
                                "guaranteed",
                                ordered + dt.timedelta(days=1 + k % 4),  # 11-22 … 11-27 09:00 JST
                                False,
                                ordered,
                                ordered,
                            )
                        )
            with cur.copy(
                "COPY order_captures (tenant_id, id, order_id, amount, items, carrier, tracking_number, shipped_at,"
                " created_by, created_at) FROM STDIN"
            ) as copy:
                for k in range(1, merchants * orders + 1):
                    amount = amount_of(k)
                    total += amount
                    shipped = created + dt.timedelta(days=1, seconds=k % 86_400)
                    copy.write_row(
                        (
                            tenant_id,
                            f"cap_bench{k:012d}",
                            f"ord_bench{k:012d}",
                            amount,
                            CAPTURE_ITEMS,
                            "yamato",
                            f"{k:012d}",
                            shipped,
                            "key_bench",
                            shipped,
                        )
                    )
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in ("merchants", "merchant_contracts", "orders", "order_captures"):
            conn.execute(f"VACUUM ANALYZE {table}")
    return total


def prepare(name: str, merchants: int, orders: int) -> tuple[str, str, int]:
    url = seed.fresh_database(name)
    tenant_id, _ = seed.create_tenant(url)
    total = seed_settlement(seed.dsn_of(url), tenant_id, merchants, orders)
    return url, tenant_id, total


def clone(url: str, name: str) -> str:
    """A copy of the seeded database (the baseline's), made from it as a template."""
    source = url.rsplit("/", 1)[1]
    with psycopg.connect(seed.ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    return url.rsplit("/", 1)[0] + f"/{name}"


# -- the measured run, in a child process ---------------------------------------------------------------------------


def install_profiler() -> tuple[dict[str, float], dict[str, int]]:
    """Time every statement (by its first SQL line) and the domain's steps, by patching them in place."""
    import collections
    import functools

    from sqlalchemy.ext.asyncio import AsyncSession

    from domain.kit import counters
    from domain.settlement import service

    times: dict[str, float] = collections.Counter()
    counts: dict[str, int] = collections.Counter()

    def key_of(stmt: object) -> str:
        text = " ".join(str(stmt).split())
        return text[:110]

    def timed_method(name: str) -> None:
        orig = getattr(AsyncSession, name)

        @functools.wraps(orig)
        async def wrapper(self, *args, **kwargs):  # noqa: ANN001, ANN202
            t = time.perf_counter()
            try:
                return await orig(self, *args, **kwargs)
            finally:
                key = f"{name}: " + (key_of(args[0]) if args else "")
                times[key] += time.perf_counter() - t
                counts[key] += 1

        setattr(AsyncSession, name, wrapper)

    for name in ("execute", "scalar", "scalars", "flush"):
        timed_method(name)

    def timed_function(module: object, name: str, label=None) -> None:  # noqa: ANN001
        orig = getattr(module, name)

        @functools.wraps(orig)
        async def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            t = time.perf_counter()
            try:
                return await orig(*args, **kwargs)
            finally:
                key = "step " + (label(*args) if label else name)
                times[key] += time.perf_counter() - t
                counts[key] += 1

        setattr(module, name, wrapper)

    timed_function(service, "_insert_lines", lambda session, statement, kind, query: f"_insert_lines[{kind}]")
    for name in ("_statement", "_lines", "_totals", "_book_statement"):
        timed_function(service, name)
    timed_function(counters, "next_value")
    return times, counts


def child(url: str, tenant_id: str, profile: bool) -> None:
    import asyncio

    os.environ["BNPL_DATABASE_URL"] = url
    os.environ["BNPL_LOG_LEVEL"] = "WARNING"

    async def main() -> dict[str, object]:
        from app.db import create_engine, create_sessionmaker
        from app.settings import get_settings
        from domain.settlement import service

        times = counts = None
        if profile:
            times, counts = install_profiler()
        engine = create_engine(get_settings())
        sessionmaker = create_sessionmaker(engine)
        t0 = time.perf_counter()
        async with sessionmaker() as s, s.begin():
            made = await service.run_settlement(s, tenant_id, AS_OF, actor="system")
            statements = len(made)
            t1 = time.perf_counter()
        t2 = time.perf_counter()
        await engine.dispose()
        out: dict[str, object] = {
            "statements_made": statements,
            "run_s": t1 - t0,
            "commit_s": t2 - t1,
            "total_s": t2 - t0,
        }
        if profile:
            assert times is not None and counts is not None
            out["profile"] = [
                {"what": k, "seconds": round(v, 3), "calls": counts[k]}
                for k, v in sorted(times.items(), key=lambda kv: -kv[1])[:25]
            ]
        return out

    out = asyncio.run(main())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_child(url: str, tenant_id: str, profile: bool) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", url, tenant_id, "1" if profile else "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"the measured run failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- checks -----------------------------------------------------------------------------------------------------------


def check(url: str, tenant_id: str, merchants: int, orders: int, captured: int) -> dict[str, int]:
    with psycopg.connect(seed.dsn_of(url)) as conn:
        statements, sales, fees, payouts, tax = conn.execute(
            "SELECT count(*), coalesce(sum(sales), 0), coalesce(sum(rate_fee + invoice_fees + monthly_fee"
            " + transfer_fee), 0), coalesce(sum(payout), 0), coalesce(sum(fee_tax), 0)"
            " FROM settlements WHERE tenant_id = %s AND period_end = %s",
            (tenant_id, CUTOFF),
        ).fetchone()
        lines, line_total = conn.execute(
            "SELECT count(*), coalesce(sum(amount), 0) FROM settlement_lines WHERE tenant_id = %s AND kind = 'sale'",
            (tenant_id,),
        ).fetchone()
        other_lines = conn.execute(
            "SELECT count(*) FROM settlement_lines WHERE tenant_id = %s AND kind <> 'sale'", (tenant_id,)
        ).fetchone()[0]
        # Every statement: its sales are its lines, its fees what the contract says, its payout the rest.
        wrong = conn.execute(
            "SELECT count(*) FROM settlements s LEFT JOIN (SELECT settlement_id, count(*) AS n, sum(amount) AS total"
            " FROM settlement_lines WHERE tenant_id = %(t)s AND kind = 'sale' GROUP BY settlement_id) l"
            " ON l.settlement_id = s.id WHERE s.tenant_id = %(t)s AND NOT ("
            " s.status = 'calculated' AND s.sales = l.total AND l.n = %(n)s AND s.invoice_count = l.n"
            " AND s.rate_fee = s.sales * %(bp)s / 10000 AND s.invoice_fees = l.n * %(fee)s"
            " AND s.fee_tax = (s.invoice_fees + s.monthly_fee) * 10 / 100"
            " AND s.payout = s.sales - s.rate_fee - s.invoice_fees - s.monthly_fee - s.transfer_fee - s.fee_tax"
            " AND s.carry_out = 0)",
            {"t": tenant_id, "n": orders, "bp": FEE_RATE_BP, "fee": INVOICE_FEE_SEPARATE},
        ).fetchone()[0]
        debits, credits, entries = conn.execute(
            "SELECT coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0),"
            " coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0), count(DISTINCT entry_id)"
            " FROM ledger_postings WHERE tenant_id = %s",
            (tenant_id,),
        ).fetchone()
    result = {
        "statements": statements,
        "sale_lines": lines,
        "other_lines": other_lines,
        "sales": int(sales),
        "captured": captured,
        "fees": int(fees),
        "fee_tax": int(tax),
        "payouts": int(payouts),
        "statements_wrong": wrong,
        "ledger_entries": entries,
        "debits": int(debits),
        "credits": int(credits),
    }
    assert statements == merchants and lines == merchants * orders and other_lines == 0, result
    assert sales == captured == line_total, result
    assert payouts == sales - fees - tax and wrong == 0, result
    assert debits == credits and debits == fees + tax, result
    return result


# -- baseline ---------------------------------------------------------------------------------------------------------


def baseline(url: str, tenant_id: str) -> dict[str, float]:
    """The same outcome (statements, sale lines, figures) by three set-based statements through bare psycopg."""
    end = END
    t0 = time.perf_counter()
    with psycopg.connect(seed.dsn_of(url)) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO settlements (tenant_id, id, number, merchant_id, cycle, period_start, period_end, pay_date,"
            " status, sales, refunds, clawbacks, unguaranteed_paid, rate_fee, invoice_fees, invoice_count,"
            " monthly_fee, transfer_fee, fee_tax, carry_in, net, payout, carry_out, terms, calculated_by, created_at)"
            " SELECT c.tenant_id, 'stl_' || c.merchant_id, row_number() OVER (ORDER BY c.merchant_id), c.merchant_id,"
            " c.cycle, %s, %s, %s, 'calculated', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '{}', 'system', now()"
            " FROM merchant_contracts c WHERE c.tenant_id = %s",
            (WEEK_START, CUTOFF, CUTOFF + dt.timedelta(days=7), tenant_id),
        )
        t1 = time.perf_counter()
        cur.execute(
            "INSERT INTO settlement_lines (tenant_id, id, settlement_id, merchant_id, kind, source_id, order_id,"
            " merchant_order_id, delivery, amount, occurred_at, created_at)"
            " SELECT c.tenant_id, 's_' || c.id, s.id, o.merchant_id, 'sale', c.id, o.id, o.merchant_order_id,"
            " o.invoice_delivery, c.amount, c.shipped_at, now()"
            " FROM order_captures c JOIN orders o ON o.tenant_id = c.tenant_id AND o.id = c.order_id"
            " JOIN settlements s ON s.tenant_id = o.tenant_id AND s.merchant_id = o.merchant_id"
            " AND s.period_end = %s"
            " WHERE c.tenant_id = %s AND o.test_mode IS false AND o.guarantee = 'guaranteed'"
            " AND o.arrival_confirmed_at < %s"
            " ON CONFLICT DO NOTHING",
            (CUTOFF, tenant_id, end),
        )
        # The lines were written in this transaction: without fresh statistics the planner takes the table
        # for empty and nests loops over a million rows (45 s instead of about 1).
        cur.execute("ANALYZE settlement_lines")
        t2 = time.perf_counter()
        cur.execute(
            "UPDATE settlements s SET sales = a.sales, invoice_count = a.n, rate_fee = a.sales * c.fee_rate_bp / 10000,"
            " invoice_fees = a.n * c.invoice_fee_separate, fee_tax = a.n * c.invoice_fee_separate * 10 / 100,"
            " net = a.sales - a.sales * c.fee_rate_bp / 10000 - a.n * c.invoice_fee_separate"
            " - a.n * c.invoice_fee_separate * 10 / 100,"
            " payout = a.sales - a.sales * c.fee_rate_bp / 10000 - a.n * c.invoice_fee_separate"
            " - a.n * c.invoice_fee_separate * 10 / 100"
            " FROM (SELECT merchant_id, count(*) FILTER (WHERE delivery = 'separate') AS n, sum(amount) AS sales"
            " FROM settlement_lines WHERE tenant_id = %s AND kind = 'sale' GROUP BY merchant_id) a,"
            " merchant_contracts c"
            " WHERE s.tenant_id = %s AND s.period_end = %s AND a.merchant_id = s.merchant_id"
            " AND c.tenant_id = s.tenant_id AND c.merchant_id = s.merchant_id",
            (tenant_id, tenant_id, CUTOFF),
        )
        t3 = time.perf_counter()
        conn.commit()
    t4 = time.perf_counter()
    return {
        "statements_s": t1 - t0,
        "lines_s": t2 - t1,
        "aggregate_s": t3 - t2,
        "commit_s": t4 - t3,
        "total_s": t4 - t0,
    }


def baseline_check(url: str, tenant_id: str, merchants: int, orders: int, captured: int) -> None:
    with psycopg.connect(seed.dsn_of(url)) as conn:
        statements, sales, lines = conn.execute(
            "SELECT count(*), sum(sales), sum(invoice_count) FROM settlements WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()
    assert statements == merchants and sales == captured and lines == merchants * orders, (statements, sales, lines)


# -- main -------------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=1_000)
    parser.add_argument("--orders", type=int, default=1_000, help="Captured, guaranteed orders per merchant.")
    parser.add_argument("--profile", action="store_true", help="Time each statement and step of the run too.")
    parser.add_argument("--child", nargs=3, metavar=("URL", "TENANT", "PROFILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.child[2] == "1")
        return
    merchants, orders = args.merchants, args.orders
    n = merchants * orders
    results: dict[str, object] = {
        "merchants": merchants,
        "orders_per_merchant": orders,
        "orders": n,
        "cutoff": CUTOFF.isoformat(),
        "as_of": AS_OF.isoformat(),
        "machine": f"{os.cpu_count()} cores",
        "profiled": args.profile,
    }
    print(f"seeding {merchants:,} merchants × {orders:,} captured orders = {n:,} …", flush=True)
    t = time.perf_counter()
    url, tenant_id, captured = prepare("bnpl_bench_stl", merchants, orders)
    base_url = clone(url, "bnpl_bench_stl_base")
    print(f"seeded in {time.perf_counter() - t:.1f} s (Σ captured ¥{captured:,})", flush=True)

    ours = run_child(url, tenant_id, args.profile)
    results["ours"] = ours
    results["check"] = check(url, tenant_id, merchants, orders, captured)
    total_s = float(ours["total_s"])  # type: ignore[arg-type]
    print(
        f"ours: run_settlement {ours['run_s']:.2f} s + commit {ours['commit_s']:.2f} s = {total_s:.2f} s"
        f" → {n / total_s:,.0f} orders/s, {merchants / total_s:,.1f} statements/s,"
        f" peak RSS {ours['peak_rss_mb']:.0f} MB{' (profiled: slower)' if args.profile else ''}",
        flush=True,
    )
    print(f"checks ok: {results['check']}", flush=True)
    if args.profile:
        print("where the time went (seconds, calls):")
        for row in ours["profile"]:  # type: ignore[union-attr]
            print(f"  {row['seconds']:8.3f} {row['calls']:6d}  {row['what']}")

    base = baseline(base_url, tenant_id)
    baseline_check(base_url, tenant_id, merchants, orders, captured)
    results["baseline"] = base
    results["ratio"] = total_s / base["total_s"]
    print(
        f"baseline (statements + one INSERT … SELECT of the lines + one GROUP BY UPDATE; bare psycopg):"
        f" {base['total_s']:.2f} s (lines {base['lines_s']:.2f} s, aggregate {base['aggregate_s']:.2f} s,"
        f" commit {base['commit_s']:.2f} s) → {n / base['total_s']:,.0f} orders/s;"
        f" ours ÷ baseline = {results['ratio']:.2f}",
        flush=True,
    )
    target = 30.0
    results["target_s"] = target
    results["meets_target"] = total_s < target
    print(f"target < {target:.0f} s: {'met' if total_s < target else 'MISSED'}")
    out = HERE / "results" / "settlement.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
