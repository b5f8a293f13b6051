"""Platform billing benchmark (issue 7): bill T tenants with N usage events for one JST month, and stream the
month's usage-detail export, each against the same SQL through bare psycopg in the same run.

    .venv/bin/python ops/bench/billing.py                                   # --tenants 1000 --events 10000000
    .venv/bin/python ops/bench/billing.py --tenants 100 --events 500000     # a quick try
    .venv/bin/python ops/bench/billing.py --profile                         # + where the run's time goes
    .venv/bin/python ops/bench/billing.py --json                            # the results as JSON on stdout

1. Builds a fresh database (``bnpl_bench_billing``, migrated with ``bnpl db upgrade``). The month billed is the last
   JST month whose grace window has ended; the run is "as of" the day it ends (month end + ``grace_days``).
   * T operators (bulk SQL), the issuer (``service.put_issuer``), the shipped catalog (``service.seed_catalog``:
     standard ¥4,000 incl. 1,000 screenings then ¥4 / ¥3; premium ¥100,000 incl. 30,000 then ¥3 / ¥2.5; the
     ¥20,000 chargeback-guarantee add-on) and the subscriptions through ``service.subscribe`` with the clock frozen
     on their start day (freezegun): every 10th tenant premium, the rest standard; every 50th (the 25th, 75th, …)
     starts on the 16th (prorated fee and included units; its earlier events are not billed); every 25th (the
     3rd, 28th, …) also takes the add-on.
   * N ``usage_events`` (kind ``screening``, quantity 1, unique ``source_id``), inserted by one
     ``INSERT … SELECT … generate_series`` in time order (as they arrive), spread evenly over each tenant's month,
     unevenly across tenants: 20 % under the 1,000 included (100–999), 10 % exactly 1,000, 10 % exactly 10,000
     (the first tier's top), 10 % heavy (premium, one of them ~5 % of all events, past premium's 100,000), the rest
     medium. JST edges: one event at 00:00:00.000000 JST on the 1st and one at 23:59:59.999999 JST on the last day
     (both billed), one a microsecond before the month and one at its end (neither billed nor exported; not
     counted in N). Constraints and indexes of ``usage_events`` are dropped for the load and re-created after
     (the same definitions, read from the catalog), then ``VACUUM ANALYZE`` and ``CHECKPOINT``.
2. Warms the page cache (one untimed aggregation), then the baseline (a): the run's aggregation as
   ``billing/repository.py`` words it (``usage_totals``: units per tenant and kind over the month, one GROUP BY on
   plain columns; ``usage_by_day`` for the split-month tenants only), through bare psycopg, every row fetched; timed
   before and after the run, the faster is the floor the ratio is taken against. For reference, the per-day GROUP
   BY for every tenant in one statement (the aggregation the issue had in mind) is timed too.
3. In a child process (so its peak RSS is its own): ``run_billing(session, as_of)`` in one transaction, committed,
   as the daily job runs it, with the product's engine settings. A run that a ``statement_timeout`` kills is
   reported as such (it rolled back) and measured again with the timeout off, so the figures still say where the
   time goes. The service's steps are timed (``draft_month``, ``_close``, and ``finalize`` where a version of the
   service calls it per invoice); ``--profile`` also times every statement by its SQL and the service's helpers.
4. Checks in SQL (and ``billing.ledger.unbalanced_entries``): T invoices for the month, all finalized, numbered
   1..T gapless; per invoice, the usage lines' units = max(0, events in the subscription's days − included) and
   their amounts the tiers' prices (recomputed here from the events and the plan versions), the snapshot counts =
   those events, the fees as prorated, the tax once per rate; the ledger balanced, one entry per invoice, AR = Σ
   totals, usage revenue = Σ usage lines.
5. The usage-detail export of the month's first ``--export-days`` days and of the whole month (platform
   principal, UTF-8 with BOM, Japanese header) to /dev/null, each path in a child process (its peak RSS):
   ``served`` = ``billing.exports.usage_csv_copy`` (what the API and ``bnpl exports`` send for CSV on PostgreSQL:
   COPY through the session's connection) and ``rendered`` = ``usage_rows`` (a server-side cursor) through
   ``domain.kit.tabular.csv_chunks`` (XLSX, SQLite and the other reports go this way); against baseline (b),
   ``COPY (SELECT the same columns, the instant as JST text, same range and order) TO STDOUT WITH CSV`` through
   bare psycopg. On the smaller export the two paths' bytes are compared (SHA-256).

Each measurement waits (``--quiet-wait``) for the machine to be mostly idle and records the CPU shares of this
benchmark's Python, PostgreSQL and everything else while it ran (two cores: a test run beside it skews every
figure). Progress goes to stderr; a summary block (or with ``--json`` the results) to stdout; the results are also
written to ``ops/bench/results/billing.json``. The database is dropped at the end unless ``--keep``; ``--reuse``
runs again on a kept database (its billing output truncated first) without seeding.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_DSN = os.environ.get("BNPL_BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = "bnpl_bench_billing"
JST = ZoneInfo("Asia/Tokyo")
GRACE_DAYS = 3  # the issuer's default
TARGET_S = 15.0
REGISTRATION_NUMBER = "T7123456789012"
EDGE_FIRST, EDGE_LAST = 5, 6  # tenants with an event at the month's first / last JST instant (and just outside)
MID_MONTH_DAY = 16


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def dsn_of(db: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + f"/{db}"


def sa_url(db: str) -> str:
    return "postgresql+psycopg://" + dsn_of(db).split("://", 1)[1]


def last_full_month() -> dt.date:
    """The last JST month whose grace window has ended by today (a run is never dated ahead)."""
    today = dt.datetime.now(JST).date()
    month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    if next_month(month) + dt.timedelta(days=GRACE_DAYS) > today:
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return month


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def jst_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=JST).astimezone(dt.UTC)


def tenant_id(i: int) -> str:
    return f"opr_BENCH{i:021d}"  # opr_ + 26 characters, as a ULID id


def is_premium(i: int) -> bool:
    return i % 10 == 0


def starts_mid_month(i: int) -> bool:
    return i % 50 == 25


def has_addon(i: int) -> bool:
    return i % 25 == 3


def event_counts(tenants: int, events: int) -> dict[int, int]:
    """Events per tenant (summing to ``events`` − 1: the last-instant edge event is added on its own)."""
    if tenants < 10:
        raise SystemExit("--tenants: at least 10 (the mix of tenant kinds repeats every 10)")
    counts: dict[int, int] = {}
    for i in range(1, tenants + 1):
        r = i % 10
        if r in (1, 2):
            counts[i] = 100 + (i * 37) % 900  # under the 1,000 included
        elif r == 3:
            counts[i] = 1_000  # exactly the included units
        elif r == 4:
            counts[i] = 10_000  # exactly the top of the first tier (1,000 + 9,000)
    weights: dict[int, float] = {}
    for i in range(1, tenants + 1):
        if i in counts:
            continue
        if is_premium(i):
            weights[i] = 150.0 if i == 10 else 10.0 + i % 30  # heavy; tenant 10 far past premium's tiers
        else:
            weights[i] = 1.0 + (i % 7) / 6  # medium
    rest = events - 1 - sum(counts.values())
    if rest < 10 * len(weights):
        need = events - rest + 10 * len(weights)
        raise SystemExit(f"--events: at least {need:,} for {tenants:,} tenants")
    total = sum(weights.values())
    for i, w in weights.items():
        counts[i] = int(rest * w / total)
    counts[10] += rest - sum(counts[i] for i in weights)
    return dict(sorted(counts.items()))


# -- seeding ----------------------------------------------------------------------------------------------------------


def fresh_database() -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    env = {**os.environ, "BNPL_DATABASE_URL": sa_url(DB), "BNPL_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "app", "db", "upgrade"], env=env, check=True, cwd=ROOT, capture_output=True)


def drop_database() -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


def seed_catalog_and_subscriptions(tenants: int, month: dt.date) -> None:
    """Issuer, the shipped catalog and every subscription, through the services, with the clock on the start day."""
    from freezegun import freeze_time

    os.environ["BNPL_DATABASE_URL"] = sa_url(DB)
    os.environ["BNPL_LOG_LEVEL"] = "WARNING"

    async def main() -> None:
        import domain.models  # noqa: F401 - every model on the metadata, as the app and worker have it
        from app.db import create_engine, create_sessionmaker
        from app.settings import get_settings
        from billing import service

        get_settings.cache_clear()
        engine = create_engine(get_settings())
        sessionmaker = create_sessionmaker(engine)
        try:
            with freeze_time(dt.datetime.combine(month, dt.time(0), dt.UTC), real_asyncio=True):  # 09:00 JST, 1st
                async with sessionmaker() as s, s.begin():
                    await service.put_issuer(
                        s,
                        "bench",
                        legal_name="株式会社ベンチ後払い",
                        registration_number=REGISTRATION_NUMBER,
                        address="東京都千代田区丸の内1-1-1",
                    )
                    plans = {p.code: p for p in await service.seed_catalog(s)}
                    for i in range(1, tenants + 1):
                        if starts_mid_month(i):
                            continue
                        code = "premium" if is_premium(i) else "standard"
                        await service.subscribe(s, "bench", tenant_id=tenant_id(i), plan_id=plans[code].id)
                        if has_addon(i):
                            await service.subscribe(
                                s, "bench", tenant_id=tenant_id(i), plan_id=plans["chargeback_guarantee"].id
                            )
            mid = month.replace(day=MID_MONTH_DAY)
            with freeze_time(dt.datetime.combine(mid, dt.time(0), dt.UTC), real_asyncio=True):
                async with sessionmaker() as s, s.begin():
                    for i in range(1, tenants + 1):
                        if starts_mid_month(i):
                            code = "premium" if is_premium(i) else "standard"
                            await service.subscribe(s, "bench", tenant_id=tenant_id(i), plan_id=plans[code].id)
        finally:
            await engine.dispose()

    asyncio.run(main())


def seed_events(tenants: int, events: int, month: dt.date) -> dict[str, Any]:
    """Operators and the month's usage events, in bulk SQL (constraints and indexes off during the load)."""
    counts = event_counts(tenants, events)
    lo, hi = jst_midnight(month), jst_midnight(next_month(month))
    span = (hi - lo).total_seconds()
    t0 = time.perf_counter()
    with psycopg.connect(dsn_of(DB)) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET work_mem = '2GB'")
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute(
            "INSERT INTO operators (id, name, status, created_at)"
            " SELECT 'opr_BENCH' || lpad(i::text, 21, '0'), 'ベンチ運営会社 ' || i, 'active', %s"
            " FROM generate_series(1, %s) i",
            (lo - dt.timedelta(days=90), tenants),
        )
        constraints = conn.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'usage_events'::regclass AND contype IN ('p', 'u', 'f')"
            " ORDER BY CASE contype WHEN 'f' THEN 0 ELSE 1 END"
        ).fetchall()
        indexes = conn.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = 'usage_events'::regclass AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) ORDER BY 1"
        ).fetchall()
        for name, _kind, _def in constraints:
            conn.execute(sql.SQL("ALTER TABLE usage_events DROP CONSTRAINT {}").format(sql.Identifier(name)))
        for name, _def in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        conn.execute("CREATE TEMP TABLE bench_counts (no int, tenant_id text, n bigint, frac float8)")
        with conn.cursor() as cur, cur.copy("COPY bench_counts FROM STDIN") as copy:
            for i, n in counts.items():
                frac = 0.0 if i == EDGE_FIRST else (i * 0.6180339887498949) % 1.0
                copy.write_row((i, tenant_id(i), n, frac))
        # Event g of a tenant with n events falls at (g + frac) / n of the month: evenly over its month, never
        # outside it, the tenants interleaved; written in time order, as events arrive.
        conn.execute(
            "INSERT INTO usage_events (tenant_id, id, kind, source_id, occurred_at, quantity, payload_hash)"
            " SELECT b.tenant_id, 'use_' || lpad(b.no::text, 6, '0') || lpad(g::text, 20, '0'), 'screening',"
            " 'scr_' || lpad(b.no::text, 6, '0') || lpad(g::text, 20, '0'),"
            " %s::timestamptz + make_interval(secs => (g + b.frac) * %s / b.n), 1, NULL"
            " FROM bench_counts b CROSS JOIN LATERAL generate_series(0, b.n - 1) g ORDER BY 5",
            (lo, span),
        )
        edges = [
            (tenant_id(EDGE_LAST), "use_edge_last", hi - dt.timedelta(microseconds=1)),  # billed (last instant)
            (tenant_id(EDGE_FIRST), "use_edge_before", lo - dt.timedelta(microseconds=1)),  # previous month
            (tenant_id(EDGE_LAST), "use_edge_after", hi),  # next month
        ]
        for tid, eid, at in edges:
            conn.execute(
                "INSERT INTO usage_events (tenant_id, id, kind, source_id, occurred_at, quantity)"
                " VALUES (%s, %s, 'screening', %s, %s, 1)",
                (tid, eid, "scr_" + eid[4:], at),
            )
        t_load = time.perf_counter()
        log(
            f"  events inserted in {t_load - t0:.1f} s; re-creating {len(constraints)} constraints, "
            f"{len(indexes)} indexes …"
        )
        for name, _kind, definition in sorted(constraints, key=lambda c: c[1] == "f"):  # keys first, then FKs
            conn.execute(
                sql.SQL("ALTER TABLE usage_events ADD CONSTRAINT {} " + definition).format(sql.Identifier(name))
            )
        for _name, definition in indexes:
            conn.execute(definition)
        conn.commit()
    t_index = time.perf_counter()
    return {
        "load_s": round(t_load - t0, 1),
        "constraints_and_indexes_s": round(t_index - t_load, 1),
        "counts": counts,
    }


def vacuum() -> float:
    t = time.perf_counter()
    with psycopg.connect(dsn_of(DB), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    return round(time.perf_counter() - t, 1)


def reset_outputs() -> None:
    """Forget a previous run's invoices and ledger (``--reuse``); TRUNCATE passes the immutability triggers."""
    with psycopg.connect(dsn_of(DB), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE billing_postings, billing_journal_entries, billing_usage_snapshots, billing_invoice_taxes,"
            " billing_invoice_lines, billing_payments, billing_credit_notes, billing_invoices"
        )
        conn.execute("DELETE FROM tenant_counters WHERE tenant_id = 'platform'")
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def table_sizes() -> dict[str, Any]:
    with psycopg.connect(dsn_of(DB)) as conn:
        heap, total = conn.execute(
            "SELECT pg_relation_size('usage_events'), pg_total_relation_size('usage_events')"
        ).fetchone()
    return {"usage_events_heap_mb": round(heap / 2**20), "usage_events_total_mb": round(total / 2**20)}


# -- baselines --------------------------------------------------------------------------------------------------------

# The run's aggregation as billing/repository.py words it: the month's units per tenant and kind (plain columns,
# hashed), and per JST day only for the tenants whose priced subscription covers part of the month.
TOTALS = (
    "SELECT tenant_id, kind, SUM(quantity) FROM usage_events WHERE occurred_at >= %(lo)s AND occurred_at < %(hi)s"
    " GROUP BY tenant_id, kind"
)
PER_DAY = (
    "SELECT tenant_id, kind, (occurred_at AT TIME ZONE 'Asia/Tokyo')::date AS day, SUM(quantity) FROM usage_events"
    " WHERE occurred_at >= %(lo)s AND occurred_at < %(hi)s{tenants} GROUP BY tenant_id, kind,"
    " (occurred_at AT TIME ZONE 'Asia/Tokyo')::date"
)
EXPORT_SELECT = (
    "SELECT id, tenant_id, kind, quantity, to_char(occurred_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI:SS'),"
    " source_id FROM usage_events WHERE occurred_at >= {lo} AND occurred_at < {hi} ORDER BY occurred_at"
)


def split_tenants(tenants: int) -> list[str]:
    """The tenants whose usage is priced over part of the month (a subscription starting on the 16th)."""
    return [tenant_id(i) for i in range(1, tenants + 1) if starts_mid_month(i)]


def baseline_aggregate(month: dt.date, tenants: int) -> dict[str, Any]:
    """(a) The run's aggregation through bare psycopg, every row fetched: the units per tenant and kind over the
    month, and per JST day for the split-month tenants (one statement each)."""
    p = {"lo": jst_midnight(month), "hi": jst_midnight(next_month(month)), "t": split_tenants(tenants)}
    with psycopg.connect(dsn_of(DB)) as conn:
        t = time.perf_counter()
        totals = conn.execute(TOTALS, p).fetchall()
        t1 = time.perf_counter()
        days = conn.execute(PER_DAY.format(tenants=" AND tenant_id = ANY(%(t)s)"), p).fetchall()
        t2 = time.perf_counter()
    return {
        "seconds": round(t2 - t, 3),
        "totals_s": round(t1 - t, 3),
        "per_day_split_s": round(t2 - t1, 3),
        "rows": len(totals) + len(days),
        "units": int(sum(r[2] for r in totals)),
    }


def reference_per_day(month: dt.date) -> dict[str, Any]:
    """For reference: the per-day GROUP BY for every tenant (the issue's aggregation in one statement): the planner
    cannot estimate the groups of the day expression, takes every row for a group and sorts them all."""
    p = {"lo": jst_midnight(month), "hi": jst_midnight(next_month(month))}
    with psycopg.connect(dsn_of(DB)) as conn:
        t = time.perf_counter()
        rows = conn.execute(PER_DAY.format(tenants=""), p).fetchall()
        seconds = time.perf_counter() - t
    return {"seconds": round(seconds, 3), "rows": len(rows), "units": int(sum(r[3] for r in rows))}


def baseline_export(start: dt.date, end: dt.date) -> dict[str, Any]:
    """(b) ``COPY (SELECT the export's columns …) TO STDOUT WITH CSV`` through bare psycopg, to /dev/null."""
    lo, hi = jst_midnight(start), jst_midnight(end + dt.timedelta(days=1))
    query = sql.SQL(EXPORT_SELECT).format(lo=sql.Literal(lo), hi=sql.Literal(hi))
    statement = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(query)
    size = lines = 0
    with psycopg.connect(dsn_of(DB)) as conn, conn.cursor() as cur, open(os.devnull, "wb") as sink:  # noqa: PTH123
        t = time.perf_counter()
        with cur.copy(statement) as copy:
            for data in copy:
                size += len(data)
                lines += bytes(data).count(b"\n")
                sink.write(data)
        seconds = time.perf_counter() - t
    rows = lines - 1
    return {"seconds": round(seconds, 2), "rows": rows, "bytes": size, "rows_per_s": round(rows / seconds)}


def explain(month: dt.date, start: dt.date, end: dt.date, tenants: int) -> dict[str, str]:
    """The plans PostgreSQL picks: the aggregations, and the export as a cursor and as COPY."""
    p = {"lo": jst_midnight(month), "hi": jst_midnight(next_month(month)), "t": split_tenants(tenants)}
    out: dict[str, str] = {}
    with psycopg.connect(dsn_of(DB)) as conn:
        for name, query in (
            ("totals", TOTALS),
            ("per_day_split", PER_DAY.format(tenants=" AND tenant_id = ANY(%(t)s)")),
            ("per_day_every_tenant", PER_DAY.format(tenants="")),
        ):
            plan = conn.execute("EXPLAIN " + query, p).fetchall()
            out[name] = " | ".join(r[0].strip() for r in plan)
        query = sql.SQL(EXPORT_SELECT).format(
            lo=sql.Literal(jst_midnight(start)), hi=sql.Literal(jst_midnight(end + dt.timedelta(days=1)))
        )
        plan = conn.execute(sql.SQL("EXPLAIN {}").format(query)).fetchall()
        out["export_copy"] = " | ".join(r[0].strip() for r in plan)
        # A server-side cursor (usage_rows) is planned for its first rows (cursor_tuple_fraction).
        plan = conn.execute(sql.SQL("EXPLAIN DECLARE bench_c CURSOR FOR {}").format(query)).fetchall()
        out["export_cursor"] = " | ".join(r[0].strip() for r in plan)
    return out


# -- CPU accounting: what else ran on the machine ---------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _postgres_ticks() -> int:
    """CPU ticks of every PostgreSQL process, those that exited included (the postmaster's reaped children's time):
    backends of this benchmark come and go with their connections. Every database's backends count here."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:  # noqa: PTH123
                raw = f.read().decode(errors="replace")
        except OSError:
            continue
        if raw[raw.index("(") + 1 : raw.rindex(")")] != "postgres":
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
        ppid_comm = _comm(fields[1])
        if ppid_comm != "postgres":  # the postmaster: + its exited children's (cutime + cstime)
            total += int(fields[13]) + int(fields[14])
    return total


def _comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:  # noqa: PTH123
            return f.read().strip()
    except OSError:
        return ""


def cpu_snapshot() -> dict[str, float]:
    t = os.times()
    with open("/proc/stat") as f:  # noqa: PTH123
        cpu = [int(x) for x in f.readline().split()[1:]]
    return {
        "bench": t.user + t.system + t.children_user + t.children_system,  # this script and its measured children
        "postgres": _postgres_ticks() / CLK_TCK,
        "busy": (sum(cpu) - cpu[3] - cpu[4]) / CLK_TCK,
        "total": sum(cpu) / CLK_TCK,
    }


def cpu_shares(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Shares of the machine's CPU (all cores = 100 %) during a measurement: this benchmark's Python (the measured
    child included), PostgreSQL (every database: another test run's backends too), and every other process."""
    d = {k: after[k] - before[k] for k in before}
    total = d["total"] or 1.0
    other = max(d["busy"] - d["bench"] - d["postgres"], 0.0)
    return {
        "python_pct": round(100 * d["bench"] / total, 1),
        "postgres_pct": round(100 * d["postgres"] / total, 1),
        "other_pct": round(100 * other / total, 1),
    }


def busy_pct(interval: float = 2.0) -> float:
    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:  # noqa: PTH123
            cpu = [int(x) for x in f.readline().split()[1:]]
        return sum(cpu) - cpu[3] - cpu[4], sum(cpu)

    b0, t0 = read()
    time.sleep(interval)
    b1, t1 = read()
    return 100 * (b1 - b0) / max(t1 - t0, 1)


def wait_quiet(max_wait: float, threshold: float = 25.0) -> float:
    """Wait (at most ``max_wait`` s) for the machine to be mostly idle: other work on two cores (a test run) skews
    every figure. The measurement's ``other_pct`` says what it was anyway."""
    deadline = time.monotonic() + max_wait
    busy = busy_pct()
    while busy > threshold and time.monotonic() < deadline:
        busy = busy_pct()
    if busy > threshold:
        log(f"  (the machine is still {busy:.0f} % busy with other work after {max_wait:.0f} s; measuring anyway)")
    return busy


def measured(fn: Any, *args: Any, quiet_wait: float = 0.0) -> tuple[Any, dict[str, float]]:
    """``fn(*args)`` and the CPU shares of the machine while it ran."""
    if quiet_wait:
        wait_quiet(quiet_wait)
    before = cpu_snapshot()
    out = fn(*args)
    return out, cpu_shares(before, cpu_snapshot())


# -- the measured runs, in child processes ----------------------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/status") as f:  # noqa: PTH123
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def install_profiler() -> tuple[dict[str, float], dict[str, int]]:
    """Time every statement (by its SQL's start) and the service's steps, patching them in place."""
    import collections
    import functools

    from sqlalchemy.ext.asyncio import AsyncSession

    from billing import ledger, service
    from billing.repository import BillingRepository
    from domain.kit import counters

    times: dict[str, float] = collections.Counter()
    counts: dict[str, int] = collections.Counter()

    def key_of(stmt: object) -> str:
        try:
            text = str(stmt)
        except Exception:  # noqa: BLE001 - a statement that does not print is still timed
            text = type(stmt).__name__
        return " ".join(text.split())[:100]

    def timed_method(cls: type, name: str, label: Any = None) -> None:
        orig = getattr(cls, name)

        @functools.wraps(orig)
        async def wrapper(self, *args, **kwargs):  # noqa: ANN001, ANN202
            t = time.perf_counter()
            try:
                return await orig(self, *args, **kwargs)
            finally:
                key = label(args) if label else f"{name}: " + (key_of(args[0]) if args else "")
                times[key] += time.perf_counter() - t
                counts[key] += 1

        setattr(cls, name, wrapper)

    for name in ("execute", "scalar", "scalars", "flush", "refresh", "get"):
        timed_method(AsyncSession, name)
    for name in ("usage_totals", "usage_by_day"):
        if hasattr(BillingRepository, name):
            timed_method(
                BillingRepository,
                name,
                lambda args, name=name: (
                    f"repo {name}("
                    + ("all tenants" if len(args) < 2 or args[1] is None else f"{len(args[1])} tenants")
                    + ")"
                ),
            )
    for name in ("clear_drafts", "clear_draft", "insert_parts", "amounts_by_kind", "invoices_of_month"):
        if hasattr(BillingRepository, name):
            timed_method(BillingRepository, name, lambda args, name=name: f"repo {name}")

    def timed_function(module: Any, name: str, label: Any = None) -> None:
        orig = getattr(module, name)

        if asyncio.iscoroutinefunction(orig):

            @functools.wraps(orig)
            async def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                t = time.perf_counter()
                try:
                    return await orig(*args, **kwargs)
                finally:
                    key = "step " + (label(args) if label else name)
                    times[key] += time.perf_counter() - t
                    counts[key] += 1

        else:

            @functools.wraps(orig)
            def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                t = time.perf_counter()
                try:
                    return orig(*args, **kwargs)
                finally:
                    key = "step " + (label(args) if label else name)
                    times[key] += time.perf_counter() - t
                    counts[key] += 1

        setattr(module, name, wrapper)

    for name in (
        "_usage_of",
        "_write_draft",
        "_customers",
        "_corrections",
        "get_issuer",
        "lock_invoicing",
        "compute_month",
        "unbilled_months",
    ):
        if hasattr(service, name):
            timed_function(service, name)
    for name in ("post", "post_many"):
        if hasattr(ledger, name):
            timed_function(ledger, name, lambda args, name=name: f"ledger.{name}")
    for name in ("next_value", "next_values"):
        timed_function(counters, name)
    return times, counts


def child_run(spec: dict[str, Any]) -> dict[str, Any]:
    os.environ["BNPL_DATABASE_URL"] = sa_url(DB)
    os.environ["BNPL_LOG_LEVEL"] = "WARNING"
    as_of = dt.date.fromisoformat(spec["as_of"])

    async def main() -> dict[str, Any]:
        import functools

        from sqlalchemy import text

        import domain.models  # noqa: F401 - every model on the metadata, as the app and worker have it
        from app.db import create_engine, create_sessionmaker
        from app.settings import get_settings
        from billing import service

        times = counts = None
        if spec["profile"]:
            times, counts = install_profiler()
        # The run's steps, always (a few wrappers called a few times: no measurable cost): drafting, closing
        # (numbers, finalization, ledger) and, where a version of the service still has it, per-invoice finalize.
        phases: dict[str, dict[str, float]] = {}

        def phase(name: str) -> None:
            orig = getattr(service, name, None)
            if orig is None:
                return

            @functools.wraps(orig)
            async def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                t = time.perf_counter()
                try:
                    return await orig(*args, **kwargs)
                finally:
                    entry = phases.setdefault(name, {"seconds": 0.0, "calls": 0})
                    entry["seconds"] += time.perf_counter() - t
                    entry["calls"] += 1

            setattr(service, name, wrapper)

        for name in ("draft_month", "_close", "finalize"):
            phase(name)

        engine = create_engine(get_settings())
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as s:
            await s.execute(text("SELECT 1"))  # connected before the clock starts
        rss_before = rss_mb()
        out: dict[str, Any] = {"statement_timeout_ms": get_settings().database_statement_timeout_ms}
        t0 = time.perf_counter()
        try:
            async with sessionmaker() as s, s.begin():
                summary = await service.run_billing(s, as_of)
                t1 = time.perf_counter()
            t2 = time.perf_counter()
            out |= {
                **summary.as_dict(),
                "run_s": round(t1 - t0, 3),
                "commit_s": round(t2 - t1, 3),
                "total_s": round(t2 - t0, 3),
            }
        except Exception as exc:  # noqa: BLE001 - a failed run is a result too (reported, rolled back)
            cause = getattr(exc, "orig", None) or exc
            out["error"] = f"{type(cause).__name__}: {str(cause).splitlines()[0]}"
            out["failed_after_s"] = round(time.perf_counter() - t0, 3)
        await engine.dispose()
        out["phases"] = {k: {"seconds": round(v["seconds"], 3), "calls": v["calls"]} for k, v in phases.items()}
        out["rss_before_mb"] = round(rss_before, 1)
        if times is not None and counts is not None:
            out["profile"] = [
                {"what": k, "seconds": round(v, 3), "calls": counts[k]}
                for k, v in sorted(times.items(), key=lambda kv: -kv[1])[:30]
            ]
        return out

    out = asyncio.run(main())
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def child_export(spec: dict[str, Any]) -> dict[str, Any]:
    os.environ["BNPL_DATABASE_URL"] = sa_url(DB)
    os.environ["BNPL_LOG_LEVEL"] = "WARNING"
    start, end = dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"])

    async def main() -> dict[str, Any]:
        from sqlalchemy import text

        import domain.models  # noqa: F401 - every model on the metadata, as the app and worker have it
        from app.db import create_engine, create_sessionmaker
        from app.settings import get_settings
        from billing import exports
        from domain.kit.tabular import csv_chunks
        from domain.kit.tenancy import Principal, Role

        principal = Principal(api_key_id="bench", role=Role.PLATFORM)
        engine = create_engine(get_settings())
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as s:
            await s.execute(text("SELECT 1"))
        rss_before = rss_mb()
        size = lines = chunks = 0
        first: bytes = b""
        digest = hashlib.sha256() if spec.get("digest") else None
        error = None
        t0 = time.perf_counter()
        try:
            with open(os.devnull, "wb") as sink:  # noqa: PTH123, ASYNC230
                async with sessionmaker() as s, s.begin():
                    if spec["path"] == "served":  # what the API and the CLI send for CSV on PostgreSQL
                        stream = exports.usage_csv_copy(
                            s, principal, start, end, None, encoding="utf-8-bom", header="ja"
                        )
                    else:  # the rows rendered in Python (XLSX, SQLite, and the other reports' way)
                        rows = exports.usage_rows(s, principal, start, end)
                        stream = csv_chunks(exports.USAGE.columns, rows, encoding="utf-8-bom")
                    async for chunk in stream:
                        if not first:
                            first = chunk[:400]
                        size += len(chunk)
                        lines += chunk.count(b"\r\n")  # no cell of this export holds a line break
                        chunks += 1
                        if digest is not None:
                            digest.update(chunk)
                        sink.write(chunk)
        except Exception as exc:  # noqa: BLE001 - a failed export is a result too (what a client would have got)
            cause = getattr(exc, "orig", None) or exc
            error = f"{type(cause).__name__}: {str(cause).splitlines()[0]}"
        seconds = time.perf_counter() - t0
        await engine.dispose()
        rows_out = lines - 1  # the header
        return {
            "error": error,
            "statement_timeout_ms": get_settings().database_statement_timeout_ms,
            "path": spec["path"],
            "start": start.isoformat(),
            "end": end.isoformat(),
            "sha256": digest.hexdigest() if digest is not None else None,
            "rows": rows_out,
            "bytes": size,
            "chunks": chunks,
            "seconds": round(seconds, 2),
            "rows_per_s": round(rows_out / seconds) if seconds else None,
            "rss_before_mb": round(rss_before, 1),
            "head": first.decode("utf-8-sig", errors="replace").split("\r\n")[:3],
        }

    out = asyncio.run(main())
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def run_child(spec: dict[str, Any], statement_timeout_ms: int | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if statement_timeout_ms is not None:
        env["BNPL_DATABASE_STATEMENT_TIMEOUT_MS"] = str(statement_timeout_ms)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, cwd=ROOT, env=env
    )
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"the measured child ({spec['what']}) failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- checks -----------------------------------------------------------------------------------------------------------


def _graduated(units: int, tiers: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(units priced, amount, lines) of ``units`` over graduated tiers, each line rounded down once."""
    below = amount = lines = 0
    for tier in tiers:
        if units <= below:
            break
        top = units if tier["up_to"] is None else min(units, tier["up_to"])
        if top > below:
            amount += int((Decimal(tier["unit_price"]) * (top - below)).quantize(Decimal(1), rounding=ROUND_DOWN))
            lines += 1
        below = top
    return below, amount, lines


def check(month: dt.date, tenants: int, events: int) -> dict[str, Any]:
    """The run's result, recomputed from the rows (see the module docstring, step 4)."""
    lo, hi = jst_midnight(month), jst_midnight(next_month(month))
    month_days = (next_month(month) - month).days
    with psycopg.connect(dsn_of(DB)) as conn:
        in_month = conn.execute(
            "SELECT count(*), coalesce(sum(quantity), 0) FROM usage_events"
            " WHERE occurred_at >= %s AND occurred_at < %s",
            (lo, hi),
        ).fetchone()
        inv = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'finalized'), min(number_seq), max(number_seq),"
            " count(DISTINCT number_seq), count(DISTINCT number), coalesce(sum(total), 0),"
            " count(*) FILTER (WHERE total <> subtotal + tax_total) FROM billing_invoices WHERE service_month = %s",
            (month,),
        ).fetchone()
        # Per tenant: its base subscription, the events in the days it covered, and what its invoice says.
        subs = conn.execute(
            "SELECT s.tenant_id, s.start_date, s.monthly_fee, v.charges FROM billing_subscriptions s"
            " JOIN billing_plan_versions v ON v.id = s.plan_version_id WHERE s.kind = 'base'"
        ).fetchall()
        addons = dict(
            conn.execute(
                "SELECT tenant_id, sum(monthly_fee) FROM billing_subscriptions WHERE kind = 'addon' GROUP BY 1"
            ).fetchall()
        )
        used = dict(
            conn.execute(
                "SELECT e.tenant_id, sum(e.quantity) FROM usage_events e JOIN billing_subscriptions s"
                " ON s.tenant_id = e.tenant_id AND s.kind = 'base'"
                " WHERE e.occurred_at >= greatest(%s, s.start_date::timestamp AT TIME ZONE 'Asia/Tokyo')"
                " AND e.occurred_at < %s GROUP BY 1",
                (lo, hi),
            ).fetchall()
        )
        lines = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT i.tenant_id,"
                " coalesce(sum(l.quantity) FILTER (WHERE l.kind = 'usage'), 0),"
                " coalesce(sum(l.amount) FILTER (WHERE l.kind = 'usage'), 0),"
                " count(*) FILTER (WHERE l.kind = 'usage'),"
                " coalesce(sum(l.amount) FILTER (WHERE l.kind = 'base_fee'), 0),"
                " coalesce(sum(l.amount) FILTER (WHERE l.kind = 'addon_fee'), 0),"
                " count(*) FILTER (WHERE l.kind = 'usage_correction'),"
                " coalesce(sum(l.amount), 0), max(i.subtotal), max(i.tax_total)"
                " FROM billing_invoices i JOIN billing_invoice_lines l ON l.invoice_id = i.id"
                " WHERE i.service_month = %s GROUP BY 1",
                (month,),
            ).fetchall()
        }
        snapshots = dict(
            conn.execute(
                "SELECT tenant_id, sum(counted) FROM billing_usage_snapshots WHERE service_month = %s GROUP BY 1",
                (month,),
            ).fetchall()
        )
        ledger_rows = conn.execute(
            "SELECT count(DISTINCT e.id),"
            " coalesce(sum(p.amount) FILTER (WHERE p.account = 'accounts_receivable' AND p.direction = 'debit'), 0),"
            " coalesce(sum(p.amount) FILTER (WHERE p.account = 'usage_revenue' AND p.direction = 'credit'), 0),"
            " coalesce(sum(p.amount) FILTER (WHERE p.direction = 'debit'), 0),"
            " coalesce(sum(p.amount) FILTER (WHERE p.direction = 'credit'), 0)"
            " FROM billing_journal_entries e JOIN billing_postings p ON p.entry_id = e.id"
            " WHERE e.kind = 'billing.invoice_finalized'"
        ).fetchone()
    unbalanced = _unbalanced_entries()

    wrong: list[str] = []
    expect_units_total = expect_usage_amount = 0
    for tid, start, fee, charges in subs:
        days = (next_month(month) - max(start, month)).days
        full = days >= month_days
        charge = charges[0]
        included = int(charge["included"]) if full else int(charge["included"]) * days // month_days
        n = int(used.get(tid, 0))
        priced, amount, _ = _graduated(max(0, n - included), charge["tiers"])
        base_fee = fee if full else fee * days // month_days
        got = lines.get(tid)
        if got is None:
            wrong.append(f"{tid}: no invoice lines")
            continue
        q, a, _n_usage, base, addon, corrections, line_sum, subtotal, tax = got
        expect_units_total += priced
        expect_usage_amount += amount
        problems = []
        if q != priced:
            problems.append(f"usage units {q} ≠ {priced} (events {n}, included {included})")
        if a != amount:
            problems.append(f"usage amount {a} ≠ {amount}")
        if int(snapshots.get(tid, 0)) != n:
            problems.append(f"snapshot counted {snapshots.get(tid)} ≠ events {n}")
        if base != base_fee:
            problems.append(f"base fee {base} ≠ {base_fee}")
        if addon != int(addons.get(tid, 0)):
            problems.append(f"add-on fee {addon} ≠ {addons.get(tid, 0)}")
        if corrections:
            problems.append(f"{corrections} correction lines")
        if line_sum != subtotal or tax != subtotal * 10 // 100:
            problems.append(f"subtotal {subtotal} / tax {tax} ≠ Σ lines {line_sum} / 10 %")
        if problems:
            wrong.append(f"{tid}: " + "; ".join(problems))

    count, finalized, lo_seq, hi_seq, distinct_seq, distinct_numbers, totals, bad_totals = inv
    entries, ar, usage_revenue, debits, credits = ledger_rows
    result = {
        "events_in_month": int(in_month[0]),
        "units_in_month": int(in_month[1]),
        "events_billed_in_subscribed_days": int(sum(used.values())),
        "invoices": count,
        "finalized": finalized,
        "numbers": [lo_seq, hi_seq],
        "units_beyond_included": expect_units_total,
        "usage_amount": expect_usage_amount,
        "invoice_totals": int(totals),
        "ledger_entries": entries,
        "ledger_unbalanced": len(unbalanced),
        "invoices_wrong": len(wrong),
    }
    errors = []
    if in_month[0] != events:
        errors.append(f"{in_month[0]} events in the month, seeded {events}")
    if not (count == finalized == tenants and distinct_seq == distinct_numbers == tenants):
        errors.append(f"invoices {count}, finalized {finalized}, distinct numbers {distinct_seq}")
    if (lo_seq, hi_seq) != (1, tenants):
        errors.append(f"numbers {lo_seq}..{hi_seq}, expected 1..{tenants} gapless")
    if bad_totals:
        errors.append(f"{bad_totals} invoices with total ≠ subtotal + tax")
    if unbalanced:
        errors.append(f"unbalanced ledger entries: {unbalanced[:5]}")
    if entries != tenants or ar != totals or usage_revenue != expect_usage_amount or debits != credits:
        errors.append(f"ledger: {entries} entries, AR {ar} vs totals {totals}, usage {usage_revenue}")
    errors += wrong[:10]
    if errors:
        log("CHECK FAILED:\n  " + "\n  ".join(errors))
        result["errors"] = errors
    result["ok"] = not errors
    return result


def _unbalanced_entries() -> list[tuple[str, int]]:
    """``billing.ledger.unbalanced_entries`` (the product's own invariant check)."""
    os.environ["BNPL_DATABASE_URL"] = sa_url(DB)

    async def main() -> list[tuple[str, int]]:
        import domain.models  # noqa: F401 - every model on the metadata, as the app and worker have it
        from app.db import create_engine, create_sessionmaker
        from app.settings import get_settings
        from billing import ledger

        get_settings.cache_clear()
        engine = create_engine(get_settings())
        try:
            async with create_sessionmaker(engine)() as s:
                return await ledger.unbalanced_entries(s)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def export_count(start: dt.date, end: dt.date) -> int:
    with psycopg.connect(dsn_of(DB)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM usage_events WHERE occurred_at >= %s AND occurred_at < %s",
            (jst_midnight(start), jst_midnight(end + dt.timedelta(days=1))),
        ).fetchone()
    return int(row[0])


# -- main -------------------------------------------------------------------------------------------------------------


def fingerprint() -> dict[str, str]:
    """The code measured: HEAD and a digest of the files under test (the working tree may be ahead of HEAD)."""
    files = sorted((ROOT / "billing").glob("*.py")) + [ROOT / "domain/kit/tabular.py"]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return {"head": head.stdout.strip(), "billing_and_tabular_sha256": digest.hexdigest()[:16]}


def summary_block(r: dict[str, Any]) -> str:
    ours, base = r["run"], r["baseline_aggregate"]
    ph = ours["phases"]
    lines = [
        "",
        f"Billing benchmark — {r['tenants']:,} tenants, {r['events']:,} usage events, month {r['month'][:7]} (JST),"
        f" as of {r['as_of']}; {r['machine']}",
    ]
    first = r.get("run_with_product_timeout")
    if first is not None:
        lines.append(
            f"  run_billing with the product's statement_timeout ({first['statement_timeout_ms']:,} ms): FAILED after"
            f" {first['failed_after_s']:.1f} s: {first['error']}"
        )
    if "error" in ours:
        lines.append(f"  run_billing FAILED after {ours['failed_after_s']:.1f} s: {ours['error']}")
    else:
        timeout = "" if first is None else f", statement_timeout {ours['statement_timeout_ms'] or 'off'}"
        steps = "; ".join(f"{k} × {v['calls']} {v['seconds']:.2f} s" for k, v in ph.items())
        lines += [
            f"  run_billing (one transaction{timeout}): {ours['total_s']:.2f} s (run {ours['run_s']:.2f} + commit"
            f" {ours['commit_s']:.2f}) → {r['events'] / ours['total_s']:,.0f} events/s;"
            f" drafted {ours['drafted']}, finalized {ours['finalized']}",
            f"    steps: {steps}",
        ]
    if "cpu" in ours:
        c = ours["cpu"]
        lines.append(
            f"    CPU share of the machine during the run: Python {c['python_pct']} %,"
            f" PostgreSQL {c['postgres_pct']} %, other work {c['other_pct']} %"
        )
    lines += [
        f"  baseline (a) the run's aggregation, bare psycopg: {base['seconds']:.2f} s (per tenant and kind"
        f" {base['totals_s']:.2f} s + per day for the split-month tenants {base['per_day_split_s']:.2f} s; runs"
        f" {r['baseline_runs']}) → {r['events'] / base['seconds']:,.0f} events/s",
        f"  reference: the per-day GROUP BY for every tenant: {r['reference_per_day_every_tenant']['seconds']:.2f} s"
        f" ({r['events'] / r['reference_per_day_every_tenant']['seconds']:,.0f} events/s; a sort of every row)",
        f"  ratio run ÷ baseline: {r['ratio'] if r['ratio'] is not None else '—'}",
        f"  peak RSS of the run: {ours['peak_rss_mb']:.0f} MB (before the run {ours['rss_before_mb']:.0f} MB:"
        f" +{ours['peak_rss_mb'] - ours['rss_before_mb']:.0f} MB)",
    ]
    c = r["check"]
    if "invoices" in c:
        lines.append(
            f"  checks: {'ok' if c['ok'] else 'FAILED'} — {c['invoices']} invoices, {c['finalized']} finalized,"
            f" numbers {c['numbers'][0]}..{c['numbers'][1]}, units beyond included {c['units_beyond_included']:,},"
            f" usage ¥{c['usage_amount']:,}, invoices wrong {c['invoices_wrong']},"
            f" ledger unbalanced {c['ledger_unbalanced']}"
        )
    else:
        lines.append(f"  checks: {c}")
    if r["exports"]:
        lines.append(
            "  usage-detail export to /dev/null (UTF-8 with BOM) vs COPY … TO STDOUT CSV through bare psycopg:"
        )
    for e in r["exports"]:
        copy = e["copy"]
        lines.append(
            f"    {e['start']}..{e['end']}, {e['rows']:,} rows: COPY {copy['seconds']:.1f} s"
            f" ({copy['rows_per_s']:,} rows/s, other work {copy['cpu']['other_pct']} %)"
            + ("" if e.get("same_bytes") is None else f"; paths byte-identical: {e['same_bytes']}")
        )
        for path in ("served", "rendered"):
            failed = e.get(f"{path}_with_product_timeout")
            if failed is not None:
                lines.append(
                    f"      {path:8}: with the product's statement_timeout ({failed['statement_timeout_ms']:,} ms)"
                    f" FAILED after {failed['seconds']:.1f} s and {failed['rows']:,} rows: {failed['error']}"
                    f" — with it off:"
                )
            if path in e:
                x = e[path]
                lines.append(
                    f"      {path:8}: {x['seconds']:7.1f} s {x['rows_per_s']:>9,} rows/s,"
                    f" ÷ COPY {x['ratio_to_copy']:5.2f},"
                    f" peak RSS {x['peak_rss_mb']:.0f} MB ({x['peak_rss_mb'] - x['rss_before_mb']:+.0f}),"
                    f" other work {x['cpu']['other_pct']} %"
                )
    t = r["targets"]
    flat = ", ".join(
        f"{p} {'met' if ok else 'MISSED'} ({t['export_rss_growth_mb'][p]:+} MB for the larger export)"
        for p, ok in t["export_memory_flat"].items()
    )
    killed = t["exports_killed_by_product_timeout"]
    lines += [
        f"  targets: run < {TARGET_S:.0f} s: {'met' if t['run_under_15s'] else 'MISSED'}; run memory:"
        f" {t['run_memory']}; export memory flat: {flat or '—'}"
        + (f"; exports killed by the product's statement_timeout: {', '.join(killed)}" if killed else ""),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=10_000_000, help="Usage events in the month billed.")
    parser.add_argument("--export-days", type=int, default=3, help="The smaller export: the month's first days.")
    parser.add_argument("--profile", action="store_true", help="Time each statement and step of the run too.")
    parser.add_argument("--no-export", action="store_true", help="Bill only.")
    parser.add_argument(
        "--export-paths",
        default="served,rendered",
        help="served: billing.exports.usage_csv_copy (what the API and CLI send for CSV on PostgreSQL); rendered:"
        " usage_rows → domain.kit.tabular.csv_chunks (XLSX, SQLite, every other report). Comma-separated.",
    )
    parser.add_argument("--json", action="store_true", help="Print the results as JSON instead of the summary.")
    parser.add_argument("--keep", action="store_true", help=f"Keep {DB} afterwards (for --reuse).")
    parser.add_argument("--reuse", action="store_true", help=f"Run on a kept {DB} (same options), no seeding.")
    parser.add_argument(
        "--statement-timeout-ms",
        type=int,
        help="The run's and exports' statement_timeout (default: the product's setting; 0: off). With the default,"
        " a run killed by the timeout is reported and measured again with it off.",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="Wait up to this many seconds before each measurement for the machine to be mostly idle.",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        out = child_run(spec) if spec["what"] == "run" else child_export(spec)
        print(json.dumps(out, default=str))
        return

    month = last_full_month()
    as_of = next_month(month) + dt.timedelta(days=GRACE_DAYS)
    month_end = next_month(month) - dt.timedelta(days=1)
    small_end = month + dt.timedelta(days=args.export_days - 1)
    results: dict[str, Any] = {
        "tenants": args.tenants,
        "events": args.events,
        "month": month.isoformat(),
        "as_of": as_of.isoformat(),
        "machine": f"{os.cpu_count()} cores {platform.machine()}, Python {platform.python_version()}",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "code": fingerprint(),
        "profiled": args.profile,
    }
    t = time.perf_counter()
    if args.reuse:
        log(f"reusing {DB}: truncating the previous run's invoices and ledger …")
        reset_outputs()
    else:
        log(f"building {DB} (migrations) …")
        fresh_database()
        log(f"seeding {args.tenants:,} operators and {args.events:,} usage events in {month:%Y-%m} (JST) …")
        seeded = seed_events(args.tenants, args.events, month)
        log("issuer, catalog and subscriptions through the services (clock frozen on the start days) …")
        seed_catalog_and_subscriptions(args.tenants, month)
        seeded["vacuum_analyze_checkpoint_s"] = vacuum()
        counts = seeded.pop("counts")
        results["seed"] = {
            **seeded,
            "seconds": round(time.perf_counter() - t, 1),
            "events_per_tenant": {"min": min(counts.values()), "max": max(counts.values())},
            **table_sizes(),
        }
        log(f"seeded in {results['seed']['seconds']} s: {results['seed']}")

    results["plans"] = explain(month, month, month_end, args.tenants)
    wait = args.quiet_wait
    log("warming the page cache (one untimed aggregation) …")
    warm = baseline_aggregate(month, args.tenants)
    log(f"  {warm['seconds']:.2f} s ({warm['rows']:,} rows)")
    before, before["cpu"] = measured(baseline_aggregate, month, args.tenants, quiet_wait=wait)
    log(f"baseline (a) the run's aggregation through bare psycopg: {before} s")

    log(f"run_billing as of {as_of} (child process) …")
    spec = {"what": "run", "as_of": as_of.isoformat(), "profile": args.profile}
    ours, cpu = measured(run_child, spec, args.statement_timeout_ms, quiet_wait=wait)
    ours["cpu"] = cpu
    if "error" in ours and "statement timeout" in ours["error"] and args.statement_timeout_ms is None:
        # The product's timeout killed a statement (the transaction rolled back): say so, and measure the rest
        # with the timeout off, so the figures show where the time goes.
        log(f"  FAILED after {ours['failed_after_s']:.1f} s: {ours['error']}; again with statement_timeout off …")
        results["run_with_product_timeout"] = ours
        ours, cpu = measured(run_child, spec, 0, quiet_wait=wait)
        ours["cpu"] = cpu
    results["run"] = ours
    if "error" in ours:
        log(f"  FAILED after {ours['failed_after_s']:.1f} s: {ours['error']}")
    else:
        log(
            f"  {ours['total_s']:.2f} s, peak RSS {ours['peak_rss_mb']:.0f} MB, phases {ours['phases']},"
            f" CPU {ours['cpu']}"
        )
    if args.profile:
        log("  where the time went (seconds, calls; nested steps overlap):")
        for row in ours["profile"]:
            log(f"    {row['seconds']:8.3f} {row['calls']:7d}  {row['what']}")
    after, after["cpu"] = measured(baseline_aggregate, month, args.tenants, quiet_wait=wait)
    log(f"baseline (a) again: {after}")
    reference, reference["cpu"] = measured(reference_per_day, month, quiet_wait=wait)
    results["reference_per_day_every_tenant"] = reference
    log(f"reference: the per-day GROUP BY for every tenant, bare psycopg: {reference}")
    base = min((before, after), key=lambda b: b["seconds"])
    results["baseline_aggregate"] = base
    results["baseline_runs"] = [before["seconds"], after["seconds"]]
    results["ratio"] = round(ours["total_s"] / base["seconds"], 2) if "total_s" in ours else None

    if "error" in ours:
        results["check"] = {"ok": False, "skipped": "the run failed"}
    else:
        log("checking the invoices, their lines and the ledger …")
        results["check"] = check(month, args.tenants, args.events)
        log(f"  {results['check']}")

    exports: list[dict[str, Any]] = []
    paths = [p for p in args.export_paths.split(",") if p]
    if not args.no_export:
        for start, end in ((month, small_end), (month, month_end)):
            expected = export_count(start, end)
            log(f"export {start}..{end} ({expected:,} events): COPY baseline through bare psycopg …")
            copy, copy["cpu"] = measured(baseline_export, start, end, quiet_wait=wait)
            log(f"  COPY {copy['seconds']:.1f} s, {copy['rows_per_s']:,} rows/s (CPU {copy['cpu']})")
            entry: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat(), "rows": expected, "copy": copy}
            for path in paths:
                log(f"  {path} (child process) …")
                child_spec = {
                    "what": "export",
                    "path": path,
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "digest": end == small_end,  # the bytes of both paths compared on the smaller export
                }
                got, got["cpu"] = measured(run_child, child_spec, args.statement_timeout_ms, quiet_wait=wait)
                if got["error"] and "statement timeout" in got["error"] and args.statement_timeout_ms is None:
                    # Killed mid-file by the product's timeout (a client would have got a truncated file):
                    # reported, then measured again with the timeout off.
                    log(
                        f"  {path}: FAILED after {got['seconds']:.1f} s and {got['rows']:,} rows: {got['error']};"
                        " again with statement_timeout off …"
                    )
                    entry[f"{path}_with_product_timeout"] = got
                    got, got["cpu"] = measured(run_child, child_spec, 0, quiet_wait=wait)
                if got["error"]:
                    log(f"  {path}: FAILED: {got['error']}")
                    results["check"]["ok"] = False
                got["ratio_to_copy"] = round(got["seconds"] / copy["seconds"], 2)
                log(
                    f"  {path}: {got['seconds']:.1f} s, {got['rows_per_s']:,} rows/s, peak RSS"
                    f" {got['peak_rss_mb']:.0f} MB, ÷ COPY {got['ratio_to_copy']} (CPU {got['cpu']})"
                )
                if got["rows"] != expected or copy["rows"] != expected:
                    log(f"EXPORT COUNT WRONG: {path} {got['rows']}, COPY {copy['rows']}, expected {expected}")
                    results["check"]["ok"] = False
                entry[path] = got
            digests = {entry[p]["sha256"] for p in paths if entry[p].get("sha256")}
            if len(digests) > 1:
                log(f"EXPORT BYTES DIFFER between {paths} for {start}..{end}")
                results["check"]["ok"] = False
            entry["same_bytes"] = None if len(paths) < 2 or not digests else len(digests) == 1
            exports.append(entry)
    results["exports"] = exports

    growth = {
        p: round(exports[-1][p]["peak_rss_mb"] - exports[0][p]["peak_rss_mb"], 1) for p in paths if len(exports) == 2
    }
    results["targets"] = {
        "run_under_15s": "total_s" in ours and ours["total_s"] < TARGET_S and "run_with_product_timeout" not in results,
        "run_memory": f"+{ours['peak_rss_mb'] - ours['rss_before_mb']:.0f} MB peak for {args.tenants:,} tenants,"
        f" {args.events:,} events (compare a run at another --events)",
        "export_rss_growth_mb": growth,
        # Flat: ten times the rows may not cost more than a few MB of peak RSS.
        "export_memory_flat": {p: g < 10 for p, g in growth.items()},
        "exports_killed_by_product_timeout": [
            f"{p} {e['start']}..{e['end']}" for e in exports for p in paths if f"{p}_with_product_timeout" in e
        ],
    }
    out = HERE / "results" / "billing.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        print(summary_block(results))
    log(f"written {out.relative_to(ROOT)}")
    if not args.keep:
        drop_database()
        log(f"dropped {DB}")


if __name__ == "__main__":
    main()
