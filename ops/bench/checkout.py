"""Checkout benchmark: ``POST /v1/orders`` (fraud screening + credit decision + order) on a running server, against
the same database work through bare psycopg in the same run.

    .venv/bin/python ops/bench/checkout.py [--seconds 20] [--connections 4,16] [--workers 1,2] [--profile]

What it does, in one run on this machine:
1. builds a fresh PostgreSQL database (``bnpl_bench_checkout``, so that ``make bench`` running beside it does not
   drop it) with the migrations and the demo tenant, merchant and merchant key;
2. for each ``--workers`` value: starts ``bnpl serve --workers W`` (PostgreSQL, pool of 10 per process, rate limit
   off, logs at WARNING), warms it up for 3 s at 16 connections (caches, prepared statements), runs ``ANALYZE``
   (what autovacuum does on a live database), then loads it with ``wrk -t2 -cN -dS --latency -s
   checkout_post.lua`` for each ``--connections`` value. Every request is a new order of a new, plausible,
   distinct consumer with a unique ``merchant_order_id`` and ``Idempotency-Key`` (see ``checkout_post.lua``);
3. after every load, checks in SQL that each order id was used once, that orders ≥ 201 responses (the excess is
   at most the requests in flight when wrk stopped), that ≥ 99 % are ``authorized`` (else the data generator is
   wrong, and the decline details and fraud reasons are printed), that every order has its screening, usage event,
   audit event and completed idempotency key, that the consumers' exposure equals the orders', and at the end that
   the ledger and invoices are untouched (authorization moves no money);
4. runs the baseline (``checkout_baseline.py``): the same statements, transactions and pool checkouts through bare
   psycopg, a pool of 10, the same concurrency, and prints the ratio server ÷ baseline;
5. records where the CPU went during each load (server processes, PostgreSQL backends of this database, wrk,
   everything else on the machine) from ``/proc``, and with ``--profile`` samples the one-worker server with
   py-spy during the 16-connection load and summarises the profile (``--py-spy`` names the binary).

Results are printed and written to ``ops/bench/results/checkout.json``. The server is stopped on every exit path
(its own process group, killed by id).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import checkout_baseline as baseline  # noqa: E402 - the sibling baseline

ADMIN_DSN = os.environ.get("BNPL_BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
LUA = HERE / "checkout_post.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")
POOL_SIZE = 10  # app/settings.py database_pool_size, per server process


def dsn_of(db: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + f"/{db}"


def server_env(db: str) -> dict[str, str]:
    return {
        **os.environ,
        "BNPL_DATABASE_URL": "postgresql+psycopg://" + dsn_of(db).split("://", 1)[1],
        "BNPL_DATABASE_POOL_SIZE": str(POOL_SIZE),
        "BNPL_RATE_LIMIT_PER_MINUTE": "0",
        "BNPL_LOG_LEVEL": "WARNING",
        "BNPL_ENV": "development",
    }


# -- set-up ----------------------------------------------------------------------------------------------------


def prepare(db: str) -> dict[str, str]:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')
    bnpl = [sys.executable, "-m", "app"]
    env = server_env(db)
    subprocess.run([*bnpl, "db", "upgrade"], env=env, check=True, cwd=ROOT, capture_output=True)
    out = subprocess.run([*bnpl, "demo"], env=env, check=True, cwd=ROOT, capture_output=True, text=True).stdout
    key = re.search(r"merchant key:\s+(\S+)", out)
    assert key, out
    with psycopg.connect(dsn_of(db)) as conn:
        row = conn.execute(
            "SELECT secret_hash, tenant_id, merchant_id, id FROM api_keys WHERE role = 'merchant'"
        ).fetchone()
        assert row is not None
        test_mode = conn.execute("SELECT test_mode FROM merchants WHERE id = %s", (row[2],)).fetchone()
        assert test_mode is not None and not test_mode[0], "the demo merchant must not be in test mode"
    return {
        "key": key.group(1),
        "secret_hash": row[0],
        "tenant_id": row[1],
        "merchant_id": row[2],
        "api_key_id": row[3],
    }


class Server:
    """``bnpl serve`` in its own process group, so that uvicorn's worker processes go with it."""

    def __init__(self, db: str, port: int, workers: int) -> None:
        self.port, self.workers = port, workers
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)],
            env=server_env(db),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        _RUNNING.append(self)

    @property
    def pgid(self) -> int:
        return self.proc.pid  # start_new_session: the process group id is the leader's pid

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{err[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    if self.workers > 1:
                        time.sleep(2)  # /health answered by one worker; give the others their start-up
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the server did not become healthy")

    def stop(self) -> None:
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.proc.poll() is None:
            try:
                os.killpg(self.pgid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        # workers of the group that outlived the leader
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


_RUNNING: list[Server] = []


def _cleanup() -> None:
    for server in list(_RUNNING):
        server.stop()


def _on_signal(signum: int, _frame: Any) -> None:
    _cleanup()
    sys.exit(128 + signum)


# -- load ------------------------------------------------------------------------------------------------------


def wrk(port: int, key: str, seconds: int, connections: int, run: int, base: int) -> dict[str, Any]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(LUA)]
    env = {**os.environ, "BNPL_BENCH_KEY": key, "BNPL_BENCH_RUN": str(run), "BNPL_BENCH_BASE": str(base)}
    proc = subprocess.run([*cmd, f"http://127.0.0.1:{port}/v1/orders"], capture_output=True, text=True, env=env)
    out = proc.stdout
    if proc.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}\n{proc.stderr}")

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float("nan") if not m else float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    done = re.search(r"(\d+) requests in", out)
    nxt = re.search(r"bench_next_base (\d+)", out)
    assert done and nxt, out
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": ms("50%"),
        "p90_ms": ms("90%"),
        "p99_ms": ms("99%"),
        "requests": int(done.group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
        "statuses": {int(c): int(k) for c, k in re.findall(r"bench_status (\d+) (\d+)", out)},
        "next_base": int(nxt.group(1)),
    }


# -- CPU accounting from /proc ---------------------------------------------------------------------------------


def _proc_stat(pid: str) -> tuple[str, int, int] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, int(fields[2]), int(fields[11]) + int(fields[12])  # comm, pgrp, utime + stime


def cpu_snapshot(server_pgid: int | None, db: str) -> dict[str, float]:
    """CPU seconds so far: server process group, PostgreSQL (this database's backends + background processes),
    wrk, this process, and the machine's total busy time."""
    groups: Counter[str] = Counter()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        st = _proc_stat(pid)
        if st is None:
            continue
        comm, pgrp, ticks = st
        if server_pgid is not None and pgrp == server_pgid:
            groups["server"] += ticks
        elif comm == "wrk":
            groups["wrk"] += ticks
        elif int(pid) == os.getpid():
            groups["bench_client"] += ticks
        elif comm == "postgres":
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            # backends name their database; background processes (and the postmaster) have no client address
            if f" {db} " in cmdline or not ("(" in cmdline or "[local]" in cmdline):
                groups["postgres"] += ticks
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    busy = sum(cpu) - cpu[3] - cpu[4]  # minus idle and iowait
    out = {k: v / CLK_TCK for k, v in groups.items()}
    out["machine_busy"] = busy / CLK_TCK
    out["machine_total"] = sum(cpu) / CLK_TCK
    return out


def machine_busy_pct(interval: float = 1.0) -> float:
    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        return sum(cpu) - cpu[3] - cpu[4], sum(cpu)

    b0, t0 = read()
    time.sleep(interval)
    b1, t1 = read()
    return 100 * (b1 - b0) / max(t1 - t0, 1)


def wait_quiet(max_wait: float, threshold: float = 25.0) -> float:
    """Wait (at most ``max_wait`` s) until the machine is mostly idle for 2 s: other work on the 2 cores (a test
    run) halves the figures. Answers the busy % seen last (the run's ``other`` CPU share says what it was)."""
    deadline = time.monotonic() + max_wait
    busy = machine_busy_pct(2.0)
    while busy > threshold and time.monotonic() < deadline:
        busy = machine_busy_pct(2.0)
    if busy > threshold:
        print(f"  (machine still {busy:.0f} % busy with other work after {max_wait:.0f} s; measuring anyway)")
    return busy


def cpu_delta(before: dict[str, float], after: dict[str, float], orders: int) -> dict[str, Any]:
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in set(before) | set(after)}
    wall_cores = d.pop("machine_total") or 1.0
    busy = d.pop("machine_busy")
    known = sum(d.values())
    d["other"] = max(busy - known, 0.0)
    cores = os.cpu_count() or 1
    per_order = {k: 1000 * v / orders for k, v in d.items()} if orders else {}
    mine = sum(v for k, v in per_order.items() if k != "other")
    return {
        # what the machine could do if nothing else ran on it: its cores ÷ the CPU one order costs (server or
        # baseline client + PostgreSQL + wrk); robust to a busy machine, unlike orders/s
        "ceiling_orders_per_s_idle_machine": round(cores * 1000 / mine) if mine else None,
        "machine_busy_pct": round(100 * busy / wall_cores, 1),
        "share_of_machine_pct": {k: round(100 * v / wall_cores, 1) for k, v in sorted(d.items())},
        "cpu_ms_per_order": {k: round(1000 * v / orders, 2) for k, v in sorted(d.items())} if orders else {},
        "cores": cores,
    }


# -- SQL checks ------------------------------------------------------------------------------------------------


def settle(dsn: str, run: int, timeout: float = 15) -> None:
    """Wait for the requests wrk abandoned at its deadline: the server finishes them (claim → order → stored
    response) after wrk has closed the connections."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM idempotency_keys WHERE key LIKE %s AND state = 'in_flight'", (f"co-{run}-%",)
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.2)


def check_run(dsn: str, run: int, load: dict[str, Any], connections: int) -> dict[str, Any]:
    like = f"CO-{run}-%"
    settle(dsn, run)
    with psycopg.connect(dsn) as conn:
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM orders WHERE merchant_order_id LIKE %s GROUP BY 1", (like,))
        )
        orders, distinct_ids, with_screening, exposure = conn.execute(
            "SELECT count(*), count(DISTINCT o.merchant_order_id), count(s.id), coalesce(sum(o.exposure), 0)"
            " FROM orders o LEFT JOIN fraud_screenings s ON s.tenant_id = o.tenant_id AND s.id = o.screening_id"
            " WHERE o.merchant_order_id LIKE %s",
            (like,),
        ).fetchone()  # type: ignore[misc]
        usage = conn.execute(
            "SELECT count(*) FROM usage_events u JOIN orders o ON o.screening_id = u.source_id"
            " WHERE u.kind = 'screening' AND o.merchant_order_id LIKE %s",
            (like,),
        ).fetchone()[0]  # type: ignore[index]
        audits = conn.execute(
            "SELECT count(*) FROM audit_events a JOIN orders o ON o.id = a.resource_id"
            " WHERE a.resource_type = 'order' AND o.merchant_order_id LIKE %s",
            (like,),
        ).fetchone()[0]  # type: ignore[index]
        idem = dict(
            conn.execute("SELECT state, count(*) FROM idempotency_keys WHERE key LIKE %s GROUP BY 1", (f"co-{run}-%",))
        )
        consumers_exposure = conn.execute(
            "SELECT coalesce(sum(c.outstanding), 0), count(DISTINCT c.id) FROM consumers c"
            " WHERE c.id IN (SELECT consumer_id FROM orders WHERE merchant_order_id LIKE %s)",
            (like,),
        ).fetchone()
        declines = conn.execute(
            "SELECT coalesce(decline_detail, status), count(*) FROM orders WHERE merchant_order_id LIKE %s"
            " AND status <> 'authorized' GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
            (like,),
        ).fetchall()
        reasons = conn.execute(
            "SELECT r, count(*) FROM fraud_screenings s CROSS JOIN LATERAL jsonb_array_elements_text(s.reasons) r"
            " WHERE s.order_ref LIKE %s GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
            (like,),
        ).fetchall()
    created = load["statuses"].get(201, 0)
    authorized = statuses.get("authorized", 0)
    problems = []
    if distinct_ids != orders:
        problems.append(f"{orders - distinct_ids} merchant_order_ids used twice")
    if not (created <= orders <= created + connections + load["socket_errors"]):
        problems.append(f"{orders} orders for {created} 201 responses")
    if orders and authorized / orders < 0.99:
        problems.append(f"only {authorized}/{orders} authorized: the data generator is wrong")
    if with_screening != orders or usage != orders or audits != orders:
        problems.append(f"screenings {with_screening}, usage events {usage}, audit events {audits} for {orders}")
    if idem.get("completed", 0) != orders or idem.get("in_flight", 0):
        problems.append(f"idempotency keys {idem} for {orders} orders")
    if consumers_exposure is None or int(consumers_exposure[0]) != int(exposure):
        problems.append(f"consumers' outstanding {consumers_exposure} ≠ orders' exposure {exposure}")
    if consumers_exposure is not None and consumers_exposure[1] != orders:
        problems.append(f"{consumers_exposure[1]} consumers for {orders} orders (expected one new consumer each)")
    return {
        "orders": orders,
        "responses_201": created,
        "statuses": statuses,
        "authorized_pct": round(100 * authorized / orders, 2) if orders else None,
        "decline_details": declines,
        "fraud_reasons": reasons,
        "problems": problems,
    }


LEDGER_TABLES = ("journal_entries", "ledger_postings", "ledger_accounts", "invoices")


def ledger_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in LEDGER_TABLES}  # type: ignore[index]  # noqa: S608


def check_baseline(dsn: str, prefix: str, orders: int) -> list[str]:
    with psycopg.connect(dsn) as conn:
        n, authorized = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'authorized') FROM orders WHERE merchant_order_id"
            " LIKE %s",
            (f"{prefix}-%",),
        ).fetchone()  # type: ignore[misc]
        idents = conn.execute(
            "SELECT count(*) FROM fraud_identifiers i JOIN orders o ON o.screening_id = i.screening_id"
            " WHERE o.merchant_order_id LIKE %s",
            (f"{prefix}-%",),
        ).fetchone()[0]  # type: ignore[index]
    problems = []
    if n != orders or authorized != orders or idents != 6 * orders:
        problems.append(f"baseline wrote {n} orders ({authorized} authorized, {idents} identifiers) for {orders}")
    return problems


# -- profile ---------------------------------------------------------------------------------------------------

# Exclusive ("self") time: the innermost frame that belongs to one of these, first match wins per frame.
LIBRARIES: list[tuple[str, str]] = [  # (path prefix as py-spy prints it, bucket)
    ("psycopg_pool/", "psycopg"),
    ("psycopg/", "psycopg"),
    ("sqlalchemy/sql/", "SQLAlchemy Core: statement construction + compilation"),
    ("sqlalchemy/orm/", "SQLAlchemy ORM (session, flush, unit of work, loading)"),
    ("sqlalchemy/engine/", "SQLAlchemy engine (execute, result rows, bind/result processing)"),
    ("sqlalchemy/", "SQLAlchemy other (pool, async bridge, util)"),
    ("greenlet/", "SQLAlchemy other (pool, async bridge, util)"),
    ("litestar/", "Litestar (routing, DI, middleware, request/response)"),
    ("pydantic_core/", "pydantic (validation, serialisation)"),
    ("pydantic/", "pydantic (validation, serialisation)"),
    ("msgspec/", "msgspec"),
    ("uvicorn/", "uvicorn + HTTP parsing"),
    ("h11/", "uvicorn + HTTP parsing"),
    ("httptools/", "uvicorn + HTTP parsing"),
    ("structlog/", "logging"),
    ("logging/", "logging"),
    ("prometheus_client/", "metrics (prometheus_client)"),
    ("phonenumbers/", "fraud normalisation (phone, address, name, e-mail)"),
    ("kanjize/", "fraud normalisation (phone, address, name, e-mail)"),
    ("jaconv/", "fraud normalisation (phone, address, name, e-mail)"),
    ("fraud/normalize/", "fraud normalisation (phone, address, name, e-mail)"),
    ("fraud/", "fraud engine (signals, decision, hashing, repository code)"),
    ("ulid/", "ids (ULID)"),
    ("json/", "JSON (stdlib json)"),
    ("hmac.py", "hashing (hmac/hashlib)"),
    ("hashlib.py", "hashing (hmac/hashlib)"),
    ("asyncio/", "asyncio event loop + tasks"),
    ("selectors.py", "asyncio event loop + tasks"),
    ("uvloop/", "asyncio event loop + tasks"),
    ("domain/", "application code (domain/, billing/)"),
    ("billing/", "application code (domain/, billing/)"),
    ("app/", "application code (app/)"),
]
# Inclusive time: the share of samples whose stack passes through one of these (a sample can be in several).
PHASES: list[tuple[str, str]] = [
    ("authenticate_request (app/auth.py", "auth middleware (key hash + lookup)"),
    ("request_fingerprint (app/idempotency.py", "idempotency: request fingerprint (json parse + dump + sha256)"),
    ("claim (domain/kit/idempotency.py", "idempotency: claim (own transaction)"),
    ("complete (domain/kit/idempotency.py", "idempotency: store response"),
    ("create_order (app/http/checkout/orders.py", "handler create_order (everything in the business tx)"),
    ("authorize (domain/checkout/service.py", "checkout.service.authorize"),
    ("screen_order (fraud/service.py", "fraud.screen_order (whole screening)"),
    ("build_identity (fraud/normalize/identity.py", "fraud: build_identity (normalisation)"),
    ("history (fraud/repository.py", "fraud: history reads (2 statements)"),
    ("hits (fraud/repository.py", "fraud: list/negative/external hits"),
    ("insert_screening (fraud/repository.py", "fraud: insert screening + identifiers"),
    ("evaluate_signals (fraud/signals.py", "fraud: signals"),
    ("record_usage (billing/metering.py", "usage event insert"),
    ("active_policy (fraud/service.py", "fraud policy read"),
    ("active_policy (domain/checkout/service.py", "credit policy read"),
    ("merchant_terms (domain/checkout/repository.py", "merchant terms read"),
    ("resolve_consumer (domain/checkout/credit.py", "credit: resolve consumer (3 statements)"),
    ("reserve (domain/checkout/credit.py", "credit: reserve"),
    ("insert_order (domain/checkout/repository.py", "insert order"),
    ("render_order (domain/checkout/schemas.py", "render_order for the webhook payload"),
    ("emit (domain/webhooks/service.py", "webhooks emit (endpoint SELECT; audit autoflush happens here)"),
    ("_flush (sqlalchemy/orm/session.py", "ORM flush (the audit event)"),
    ("of (app/http/schemas/orders.py", "OrderOut.of (response model)"),
    ("_render (app/idempotency.py", "response JSON (model_dump_json)"),
    ("commit (sqlalchemy/", "COMMIT"),
    ("_compiler (sqlalchemy/", "SQLAlchemy compile (cache miss or construction)"),
    ("_execute_context (sqlalchemy/engine/base.py", "SQLAlchemy execute (all statements)"),
    ("await_only (sqlalchemy/util/_concurrency_py3k.py", "greenlet bridge (SQLAlchemy async → psycopg)"),
    ("relay", "outbox relay / scheduler (background)"),
]


def profile_summary(folded: Path) -> dict[str, Any]:
    """Self time by library and inclusive time by phase, from py-spy's ``--format raw`` (folded stacks)."""
    self_time: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        bucket = "other (stdlib: datetime, re, enum, typing, …)"
        for frame in reversed(frames):
            path = frame[frame.rfind("(") + 1 :]
            hit = next((name for prefix, name in LIBRARIES if path.startswith(prefix)), None)
            if hit is not None:
                bucket = hit
                break
        self_time[bucket] += n
        leaves[frames[-1]] += n
        for pattern, name in PHASES:
            if pattern in stack:
                phases[name] += n
    pct = lambda c: {k: round(100 * v / total, 1) for k, v in c.most_common()}  # noqa: E731
    return {
        "samples": total,
        "self_by_library_pct": pct(self_time),
        "inclusive_by_phase_pct": {name: round(100 * phases[name] / total, 1) for _, name in PHASES if phases[name]},
        "top_leaf_frames_pct": {k: round(100 * v / total, 1) for k, v in leaves.most_common(25)},
    }


# -- main ------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", default="4,16", help="comma-separated wrk connection counts")
    parser.add_argument("--workers", default="1,2", help="comma-separated `bnpl serve --workers` values")
    parser.add_argument("--db", default="bnpl_bench_checkout")
    parser.add_argument("--port", type=int, default=8126)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--profile", action="store_true", help="py-spy the 1-worker server at the largest -c")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "/tmp/pyspy/bin/py-spy")  # noqa: S108
    parser.add_argument("--profile-out", default="/tmp/checkout")  # noqa: S108
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--quiet-wait", type=float, default=120, help="wait up to this many seconds for an idle machine per load"
    )
    args = parser.parse_args()
    connections = [int(c) for c in args.connections.split(",")]
    workers_list = [int(w) for w in args.workers.split(",")]
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    atexit.register(_cleanup)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    dsn = dsn_of(args.db)
    ids = prepare(args.db)
    ledger_before = ledger_counts(dsn)
    results: dict[str, Any] = {}
    profile: dict[str, Any] | None = None
    run, base = 0, 0
    for workers in workers_list:
        server = Server(args.db, args.port, workers)
        try:
            server.wait_ready()
            run += 1
            warm = wrk(args.port, ids["key"], 3, 16, run, base)  # caches, prepared statements, pool
            base = warm["next_base"]
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("ANALYZE")
            for c in connections:
                run += 1
                spy = None
                if args.profile and workers == 1 and c == max(connections):
                    spy = subprocess.Popen(
                        [args.py_spy, "record", "--pid", str(server.proc.pid), "--duration",
                         str(max(args.seconds - 2, 1)), "-r", "200", "--nonblocking", "--format", "raw",
                         "-o", f"{args.profile_out}.folded"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    )  # fmt: skip
                wait_quiet(args.quiet_wait)
                before = cpu_snapshot(server.pgid, args.db)
                load = wrk(args.port, ids["key"], args.seconds, c, run, base)
                after = cpu_snapshot(server.pgid, args.db)
                base = load["next_base"]
                if spy is not None:
                    _, err = spy.communicate(timeout=60)
                    folded = Path(f"{args.profile_out}.folded")
                    if folded.exists():
                        profile = profile_summary(folded)
                        profile["rps_during_profile"] = load["rps"]
                    else:
                        profile = {"error": err.decode(errors="replace")[-2000:]}
                check = check_run(dsn, run, load, c)
                load["cpu"] = cpu_delta(before, after, check["orders"])
                load["check"] = check
                results[f"server_w{workers}_c{c}"] = load
                print(
                    f"server workers={workers} c={c}: {load['rps']:.0f} orders/s p50 {load['p50_ms']:.1f} ms "
                    f"p99 {load['p99_ms']:.1f} ms non-2xx {load['non_2xx']} socket errors {load['socket_errors']} "
                    f"authorized {check['authorized_pct']} % problems {check['problems'] or 'none'}",
                    flush=True,
                )
        finally:
            server.stop()

    if not args.no_baseline:
        for c in connections:
            prefix = f"BL-{c}"
            ctx = baseline.Ctx(ids["secret_hash"], ids["tenant_id"], ids["merchant_id"], ids["api_key_id"], prefix)
            wait_quiet(args.quiet_wait)
            before = cpu_snapshot(None, args.db)
            res = asyncio.run(
                baseline.run(
                    dsn, ctx, args.seconds, c, pool_size=POOL_SIZE, on_done=lambda: cpu_snapshot(None, args.db)
                )
            )
            res["cpu"] = cpu_delta(before, res.pop("on_done"), int(res["orders"]))
            res["problems"] = check_baseline(dsn, prefix, int(res["orders"]))
            results[f"baseline_c{c}"] = res
            print(
                f"baseline c={c}: {res['rps']:.0f} orders/s p50 {res['p50_ms']:.1f} ms p99 {res['p99_ms']:.1f} ms "
                f"errors {res['errors']:.0f} problems {res['problems'] or 'none'}",
                flush=True,
            )

    ledger_after = ledger_counts(dsn)
    ledger_ok = ledger_before == ledger_after
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "seconds": args.seconds,
        "results": results,
        "ledger_untouched": ledger_ok,
        "ledger_counts": {"before": ledger_before, "after": ledger_after},
        "profile": profile,
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "checkout.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")

    print(f"\n{'scenario':<22}{'orders/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'non-2xx':>8}{'auth %':>8}"
          f"{'srv ms/o':>9}{'pg ms/o':>8}{'other%':>7}{'ceiling':>8}{'ratio':>7}")  # fmt: skip
    for name, r in results.items():
        c = int(name.rsplit("_c", 1)[1])
        base_r = results.get(f"baseline_c{c}")
        ratio = f"{r['rps'] / base_r['rps']:.2f}" if base_r and name.startswith("server") else ""
        cpu = r["cpu"]["cpu_ms_per_order"]
        srv = cpu.get("server", cpu.get("bench_client", float("nan")))
        auth = r["check"]["authorized_pct"] if "check" in r else 100.0
        errs = r.get("non_2xx", r.get("errors", 0))
        print(f"{name:<22}{r['rps']:>9.0f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{errs:>8.0f}{auth!s:>8}"
              f"{srv:>9.2f}{cpu.get('postgres', float('nan')):>8.2f}"
              f"{r['cpu']['share_of_machine_pct'].get('other', 0.0):>7.1f}"
              f"{r['cpu']['ceiling_orders_per_s_idle_machine']!s:>8}{ratio:>7}")  # fmt: skip
    print("(srv ms/o: CPU ms per order of the server processes, or of the baseline's Python client; pg ms/o: of "
          "PostgreSQL; other%: the machine's CPU used by anything else during the load, e.g. a test run; "
          "ceiling: cores ÷ the CPU one order costs here, i.e. orders/s on an otherwise idle machine)")  # fmt: skip
    print(f"ledger and invoices untouched: {ledger_ok} {ledger_after}")
    if profile and "self_by_library_pct" in profile:
        print(f"\nprofile ({profile['samples']} samples, {args.profile_out}.folded): self time by library")
        for k, v in profile["self_by_library_pct"].items():
            print(f"  {v:5.1f} %  {k}")
        print("inclusive time by phase")
        for k, v in profile["inclusive_by_phase_pct"].items():
            print(f"  {v:5.1f} %  {k}")
    elif profile:
        print(f"profile failed: {profile}")
    problems = [p for r in results.values() for p in r.get("check", {}).get("problems", []) + r.get("problems", [])]
    if not args.keep_db:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    if problems or not ledger_ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
