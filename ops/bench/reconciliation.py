"""Reconciliation benchmark: import a generated Zengin 振込入金通知 file of N payments against N open invoices and
reconcile it, against the same work done set-based through bare psycopg in the same run.

    .venv/bin/python ops/bench/reconciliation.py [--payments 100000] [--memory-sizes 20000,100000]

1. Seeds a fresh database (``bnpl_bench_recon``) with N captured orders, consumers and open invoices (COPY).
2. Builds the file: one account group per invoice's virtual account (header, one transfer of exactly the balance,
   trailer), so N payments are 3N + 1 records of 200 bytes (CRLF); building is not timed.
3. In a child process (so its peak RSS is its own): ``import_file`` (parse, validate trailers, store the file and
   its N payment rows) in one transaction, then ``reconcile_chunk`` until done, each chunk committed: exactly what
   ``bnpl payments import`` and the worker do. Reports seconds per phase, records/s and payments/s, and peak RSS.
4. Checks the outcome in SQL: N payments applied ``exact``, N invoices paid, consumers' outstanding 0, and the ledger
   balanced with the bank up by the file's total.
5. Baseline on a second fresh database seeded alike: the same file parsed by the same parser, COPY into a staging
   table, one UPDATE … FROM per table (invoices paid, orders' exposure, consumers' outstanding), committed.
   Ratio = ours ÷ baseline.
6. ``--memory-sizes``: peak RSS of the child for files of these sizes (memory should not grow with the file much
   beyond the file itself, which the import keeps to store it).

Results are printed and written to ``ops/bench/results/reconciliation.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import collections_seed as seed  # noqa: E402 - the sibling seeding module

ISSUE = dt.date(2026, 11, 20)
PAID = dt.date(2026, 12, 1)


def build_file(n: int) -> bytes:
    from domain.collections.formats.zengin import Zengin01Group, Zengin01Transfer, build_zengin_01
    from domain.invoicing.service import virtual_account_for

    groups = []
    for i in range(1, n + 1):
        account = virtual_account_for(i)
        transfer = Zengin01Transfer(
            inquiry_no=f"{i % 1_000_000:06d}",
            account_date=PAID,
            value_date=PAID,
            amount=seed_amount(i),
            payer_name="ﾔﾏﾀﾞ ﾀﾛｳ",
        )
        groups.append(
            Zengin01Group(
                bank_code="0001",
                branch_code="001",
                account_number=account,
                period_from=PAID,
                period_to=PAID,
                transfers=(transfer,),
            )
        )
    return build_zengin_01(groups, created_on=PAID)


def seed_amount(i: int) -> int:
    return 1_000 + (i * 37) % 50_000


def prepare(name: str, n: int) -> tuple[str, str, str]:
    url = seed.fresh_database(name)
    tenant_id, merchant_id = seed.create_tenant(url)
    seed.seed_open_invoices(seed.dsn_of(url), tenant_id, merchant_id, n, issue_date=ISSUE, amount_of=seed_amount)
    return url, tenant_id, merchant_id


# -- the measured run, in a child process ---------------------------------------------------------------------------


def child(url: str, tenant_id: str, path: str) -> None:
    import asyncio

    os.environ["BNPL_DATABASE_URL"] = url
    os.environ["BNPL_LOG_LEVEL"] = "WARNING"

    async def main() -> dict[str, float]:
        from app.db import create_engine, create_sessionmaker
        from app.settings import get_settings
        from domain.checkout.service import active_policy
        from domain.collections import batch, service
        from domain.kit.tenancy import Principal, Role
        from domain.tenancy.service import CLI_ACTOR

        engine = create_engine(get_settings())
        sessionmaker = create_sessionmaker(engine)
        principal = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_FINANCE, tenant_id=tenant_id)
        t0 = time.perf_counter()
        data = await asyncio.to_thread(Path(path).read_bytes)
        async with sessionmaker() as s, s.begin():
            record, _ = await service.import_file(s, principal, data, "bench.txt")
            file_id = record.id
        del data
        t1 = time.perf_counter()
        chunks = 0
        while True:
            async with sessionmaker() as s, s.begin():
                result = await batch.reconcile_chunk(s, tenant_id, file_id, await active_policy(s, tenant_id))
            chunks += 1
            if not result.remaining:
                break
        t2 = time.perf_counter()
        await engine.dispose()
        return {"import_s": t1 - t0, "reconcile_s": t2 - t1, "total_s": t2 - t0, "chunks": chunks}

    out = asyncio.run(main())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_child(url: str, tenant_id: str, path: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", url, tenant_id, path],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- checks -----------------------------------------------------------------------------------------------------------


def check(url: str, tenant_id: str, n: int, total: int) -> dict[str, int]:
    import psycopg

    with psycopg.connect(seed.dsn_of(url)) as conn:
        applied = conn.execute(
            "SELECT count(*) FROM payments WHERE tenant_id = %s AND status = 'applied' AND outcome = 'exact'",
            (tenant_id,),
        ).fetchone()[0]
        paid = conn.execute(
            "SELECT count(*) FROM invoices WHERE tenant_id = %s AND status = 'paid' AND paid_amount = principal",
            (tenant_id,),
        ).fetchone()[0]
        outstanding = conn.execute(
            "SELECT coalesce(sum(outstanding), 0) FROM consumers WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()[0]
        debits, credits = conn.execute(
            "SELECT coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0),"
            " coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0) FROM ledger_postings WHERE tenant_id = %s",
            (tenant_id,),
        ).fetchone()
        bank = conn.execute(
            "SELECT coalesce(sum(CASE WHEN p.direction = 'debit' THEN p.amount ELSE -p.amount END), 0)"
            " FROM ledger_postings p JOIN ledger_accounts a ON a.tenant_id = p.tenant_id AND a.id = p.account_id"
            " WHERE p.tenant_id = %s AND a.key = 'bank'",
            (tenant_id,),
        ).fetchone()[0]
    result = {
        "applied": applied,
        "paid": paid,
        "outstanding": int(outstanding),
        "debits": int(debits),
        "credits": int(credits),
        "bank": int(bank),
    }
    assert applied == n and paid == n, result
    assert outstanding == 0, result
    assert debits == credits and bank == total, result
    return result


# -- baseline ---------------------------------------------------------------------------------------------------------


def baseline(url: str, tenant_id: str, path: str) -> float:
    import psycopg

    from domain.collections.formats import detect_and_parse

    t0 = time.perf_counter()
    parsed = detect_and_parse(Path(path).read_bytes())
    with psycopg.connect(seed.dsn_of(url)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE staging (account text, amount bigint, external_id text) ON COMMIT DROP")
        with cur.copy("COPY staging (account, amount, external_id) FROM STDIN") as copy:
            for p in parsed.payments:
                copy.write_row((p.account, p.amount, p.external_id))
        cur.execute(
            "UPDATE invoices i SET paid_principal = i.principal, paid_amount = i.principal, status = 'paid'"
            " FROM staging s WHERE i.tenant_id = %s AND i.virtual_account = s.account AND i.status = 'issued'"
            " AND i.principal = s.amount",
            (tenant_id,),
        )
        cur.execute(
            "UPDATE orders o SET exposure = 0 FROM invoices i WHERE o.tenant_id = %s AND i.tenant_id = o.tenant_id"
            " AND i.order_id = o.id AND i.status = 'paid'",
            (tenant_id,),
        )
        cur.execute(
            "UPDATE consumers c SET outstanding = 0 FROM invoices i WHERE c.tenant_id = %s"
            " AND i.tenant_id = c.tenant_id AND i.consumer_id = c.id AND i.status = 'paid'",
            (tenant_id,),
        )
        conn.commit()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--memory-sizes", default="", help="Comma-separated file sizes to compare peak RSS for.")
    parser.add_argument("--child", nargs=3, metavar=("URL", "TENANT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    n = args.payments
    results: dict[str, object] = {"payments": n, "machine": f"{os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"seeding {n:,} open invoices …", flush=True)
        url, tenant_id, _ = prepare("bnpl_bench_recon", n)
        t = time.perf_counter()
        data = build_file(n)
        path = Path(tmp) / "nyukin.txt"
        path.write_bytes(data)
        records = data.count(b"\r\n")
        total = sum(seed_amount(i) for i in range(1, n + 1))
        print(
            f"file: {records:,} records, {len(data) / 1e6:.1f} MB, built in {time.perf_counter() - t:.1f} s", flush=True
        )
        ours = run_child(url, tenant_id, str(path))
        results["ours"] = ours
        results["check"] = check(url, tenant_id, n, total)
        print(
            f"ours: import {ours['import_s']:.2f} s + reconcile {ours['reconcile_s']:.2f} s = {ours['total_s']:.2f} s"
            f" → {records / ours['total_s']:,.0f} records/s, {n / ours['total_s']:,.0f} payments/s,"
            f" peak RSS {ours['peak_rss_mb']:.0f} MB ({ours['chunks']} chunks)",
            flush=True,
        )
        base_url, base_tenant, _ = prepare("bnpl_bench_recon_base", n)
        base = baseline(base_url, base_tenant, str(path))
        results["baseline_s"] = base
        results["ratio"] = ours["total_s"] / base
        ratio = ours["total_s"] / base
        print(f"baseline (same parser, COPY, UPDATE … FROM; bare psycopg): {base:.2f} s; ours ÷ baseline = {ratio:.2f}")
        memory: dict[int, float] = {}
        for size in [int(s) for s in args.memory_sizes.split(",") if s]:
            m_url, m_tenant, _ = prepare("bnpl_bench_recon_mem", size)
            m_path = Path(tmp) / f"nyukin_{size}.txt"
            m_path.write_bytes(build_file(size))
            memory[size] = run_child(m_url, m_tenant, str(m_path))["peak_rss_mb"]
            print(f"memory: {size:,} payments → peak RSS {memory[size]:.0f} MB", flush=True)
        results["memory_peak_rss_mb"] = memory
    out = HERE / "results" / "reconciliation.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
