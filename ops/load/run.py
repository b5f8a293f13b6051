"""Load test of the production process layout: a day's mix of traffic (``locustfile.py``), one command, a verdict.

    .venv/bin/python ops/load/run.py                      # the soak: 10 minutes at the default rate
    .venv/bin/python ops/load/run.py --minutes 2          # a short check
    .venv/bin/python ops/load/run.py --rate 60 --minutes 5
    .venv/bin/python ops/load/run.py --find-capacity      # rising steps; prints the capacity and half of it

What it does:
1. makes sure locust is installed (``uv sync --frozen --inexact --group load``: the ``load`` group is not part of
   ``make install``);
2. starts ``Stack("load")`` (``ops/stack.py``): a fresh database ``bnpl_ops_load`` on the machine's PostgreSQL,
   migrated and seeded with ``bnpl demo``, the machine's Redis, two API processes (ports 8311 and 8312), a worker
   and the scheduler, all ``BNPL_ENV=production``, logs in ``var/ops/load/``; then adds ``--merchants`` − 1 live
   merchants with their keys through the admin API (an operator has more than one shop);
3. warms up (``--warmup`` seconds of the same mix at the same rate, its figures kept apart), runs ``ANALYZE`` (what
   autovacuum does on a live database), then runs locust headless for ``--minutes`` at ``--rate`` requests/s
   (``--rate`` ÷ ``--user-rate`` clients, each at ``constant_throughput(--user-rate)``), sampling every
   ``--sample-every`` seconds each process's RSS (children included), PostgreSQL's connections to the database,
   the outbox backlog and dead messages (outbox rows and Dramatiq's dead-letter sets);
4. waits for the outbox to drain, runs ``bnpl check``, scans the processes' logs for warnings and errors, and
   prints throughput (total and per route), p50/p95/p99 per route, errors, retries, RSS after warm-up vs at the end
   per process, where the CPU went, and the verdict.

PASS iff: 0 errors (an answer other than the route's success status after the client's retries, and every 5xx,
a 503 that a retry recovered included); memory flat (each process's RSS at the end < 110 % of its RSS after the
warm-up); the outbox drained (no backlog within ``--drain-timeout``, no outbox message dead and none dead-lettered
by Dramatiq since the start); ``bnpl check`` clean. Results: ``ops/load/results/<stamp>-<mode>.json`` and
``-endpoints.csv``, ``-samples.csv``, with locust's own CSVs and the clients' tallies under
``ops/load/results/<stamp>-<mode>/``.

``--find-capacity`` runs ``--step-seconds`` at each of ``--steps`` (requests/s) on one stack and stops at the first
step that does not keep up (achieved < 90 % of the target, p99 > 1 s, or any error); the capacity is the best
throughput of the steps that kept up, the suggested soak rate half of it (reliability_perf.md L3).

Everything talks to 127.0.0.1 only; every loop has a deadline; the stack and locust are stopped on every exit path
(``ops/stack.py``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from stack import Proc, Stack, cpu_seconds, log  # noqa: E402 - ops/ is the scripts' package root

RESULTS = HERE / "results"
LOCUSTFILE = HERE / "locustfile.py"
UV = ROOT / ".uv" / "bin" / "uv"

# About half of the mix's capacity measured on this 2-core machine with --find-capacity (README.md, "Target rate").
DEFAULT_RATE = 40.0
MEMORY_GROWTH_LIMIT = 0.10
STEP_KEEPS_UP = 0.90  # a capacity step keeps up when it achieves this share of its target …
STEP_P99_MS = 1_000  # … with p99 under this, and no error
PROBLEM_TEXT = re.compile(r"Traceback|Error|Exception|CRITICAL|WARNING|Killed")


# -- preparation ---------------------------------------------------------------------------------------------------


def ensure_locust() -> Path:
    """The ``load`` dependency group, installed beside whatever else the environment holds (``--inexact``)."""
    if UV.exists():
        subprocess.run([str(UV), "sync", "--frozen", "--inexact", "--group", "load", "--quiet"], cwd=ROOT, check=True)
    locust = Path(sys.executable).parent / "locust"
    if not locust.exists():
        raise SystemExit(f"locust is not installed in {sys.prefix}: run {UV} sync --frozen --group load")
    return locust


def add_merchants(stack: Stack, count: int) -> list[str]:
    """The demo's live merchant key plus ``count`` new live merchants, each with a merchant key."""
    keys = [stack.keys["merchant"]]
    base = stack.urls()[0]
    admin = {"Authorization": f"Bearer {stack.keys['admin']}"}
    with httpx.Client(base_url=base, headers=admin, timeout=30) as client:
        for i in range(1, count + 1):
            merchant = client.post(
                "/admin/v1/merchants",
                json={"name": f"Load Shop {i}", "consumer_fee": 220 + 55 * i},
                headers={"Idempotency-Key": f"load-merchant-{i}"},
            )
            merchant.raise_for_status()
            key = client.post(
                "/admin/v1/api-keys",
                json={"role": "merchant", "name": "checkout server", "merchant_id": merchant.json()["id"]},
                headers={"Idempotency-Key": f"load-merchant-key-{i}"},
            )
            key.raise_for_status()
            keys.append(key.json()["secret"])
    return keys


# -- one locust run -------------------------------------------------------------------------------------------------


class Sampler:
    """Every process's RSS, PostgreSQL connections, the outbox backlog and dead messages, over time."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.rows: list[dict[str, Any]] = []
        self.t0 = time.monotonic()
        self.redis = redis.Redis.from_url(stack.env["BNPL_REDIS_URL"], socket_timeout=5)
        self.namespace = stack.env["BNPL_BROKER_NAMESPACE"]

    def dead_lettered(self) -> int:
        """Messages in Dramatiq's dead-letter sets (``<namespace>:<queue>.XQ``) of the stack's broker namespace."""
        keys = list(self.redis.scan_iter(match=f"{self.namespace}:*.XQ", count=1000))
        return sum(int(self.redis.zcard(key)) for key in keys)

    def sample(self, label: str = "") -> dict[str, Any]:
        backends = pg_backends(self.stack)
        row: dict[str, Any] = {
            "t": round(time.monotonic() - self.t0, 1),
            "label": label,
            **{f"rss_{name}": rss for name, rss in self.stack.memory().items()},
            "pg_connections": len(backends),
            "outbox_backlog": self.stack.outbox_backlog(),
            "outbox_dead": int(self.stack.scalar("SELECT count(*) FROM outbox_messages WHERE failed_at IS NOT NULL")),
            "dramatiq_dead": self.dead_lettered(),
        }
        self.rows.append(row)
        return row


class LockWaits:
    """Backends of the database waiting on a lock, probed every half second: a hot row shows up here first."""

    def __init__(self, stack: Stack) -> None:
        self.conn = psycopg.connect(stack.dsn, autocommit=True)
        self.probes = 0
        self.waiting = 0  # backend-probes spent waiting
        self.peak = 0
        self.statements: Counter[str] = Counter()

    def probe(self) -> None:
        rows = self.conn.execute(
            "SELECT wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchall()
        self.probes += 1
        self.waiting += len(rows)
        self.peak = max(self.peak, len(rows))
        self.statements.update(f"{event}: {query}" for event, query in rows)

    def close(self) -> None:
        self.conn.close()

    def summary(self) -> dict[str, Any]:
        return {
            "probes": self.probes,
            "mean_waiting": round(self.waiting / self.probes, 2) if self.probes else 0.0,
            "peak_waiting": self.peak,
            "top": dict(self.statements.most_common(5)),
        }


def autovacuum_on(stack: Stack) -> bool:
    return str(stack.scalar("SHOW autovacuum")).lower() == "on"


def analyze(stack: Stack) -> None:
    """What autovacuum's analyze does on a live database (statement timeout: the load must not wait on it)."""
    with stack.sql() as conn:
        conn.execute("SET statement_timeout = '60s'")
        conn.execute("ANALYZE")


def pg_backends(stack: Stack) -> list[int]:
    """The PostgreSQL server processes serving the stack's database (its pools' connections)."""
    with stack.sql() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tck = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tck, sum(fields) / tck


def run_locust(
    stack: Stack,
    locust: Path,
    *,
    label: str,
    out_dir: Path,
    rate: float,
    seconds: float,
    user_rate: float,
    merchant_keys: list[str],
    seq_base: int,
    sampler: Sampler | None = None,
    sample_every: float = 10,
    client_timeout: float = 30,
    analyze_every: float = 0,
) -> dict[str, Any]:
    """Run locust headless for ``seconds`` at ``rate``; returns its per-route stats, the clients' tally and CPU."""
    users = max(4, math.ceil(rate / user_rate))
    spawn = max(1.0, users / 2)  # all clients within ~2 s (a slower ramp would lower the achieved average)
    prefix = out_dir / label
    env = {
        **os.environ,
        "BNPL_LOAD_HOSTS": ",".join(stack.urls()),
        "BNPL_LOAD_MERCHANT_KEYS": ",".join(merchant_keys),
        "BNPL_LOAD_ADMIN_KEY": stack.keys["admin"],
        "BNPL_LOAD_FINANCE_KEY": stack.keys["finance"],
        "BNPL_LOAD_USER_RATE": str(user_rate),
        "BNPL_LOAD_RUN": f"{time.strftime('%H%M%S')}{label}",
        "BNPL_LOAD_SEQ_BASE": str(seq_base),
        "BNPL_LOAD_TALLY": f"{prefix}_tally.json",
        "BNPL_LOAD_TIMEOUT": str(client_timeout),
    }
    argv = [
        str(locust),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        f"{spawn:.1f}",
        "--run-time",
        f"{int(seconds)}s",
        "--stop-timeout",
        "20",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    log(f"locust {label}: {users} clients x {user_rate}/s = {users * user_rate:.0f} req/s for {int(seconds)} s")
    cpu_before = {p.name: p.cpu() for p in stack.processes}
    pg_before = {pid: cpu_seconds([pid]) for pid in pg_backends(stack)}
    machine_before = machine_cpu()
    proc = Proc(f"locust-{label}", argv, env, out_dir / f"{label}_locust.log").start()
    started = time.monotonic()
    deadline = started + seconds + 90  # run time + stop timeout + start-up and CSV writing
    next_sample = started + sample_every
    next_analyze = started + analyze_every
    locust_cpu = 0.0
    locks = LockWaits(stack)
    while proc.alive and time.monotonic() < deadline:
        locust_cpu = max(locust_cpu, proc.cpu())
        locks.probe()
        if sampler and time.monotonic() >= next_sample and time.monotonic() < started + seconds:
            sampler.sample(label)
            next_sample += sample_every
        if analyze_every and time.monotonic() >= next_analyze:
            analyze(stack)
            next_analyze += analyze_every
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    locks.close()
    if proc.alive:
        log(f"locust {label} did not finish in time: stopped")
    proc.stop()
    machine_after = machine_cpu()
    cpu = {p.name: p.cpu() - cpu_before.get(p.name, 0.0) for p in stack.processes}
    # the backends at the end (a pool may have opened connections during the run), less what they had used before
    cpu["postgres"] = sum(cpu_seconds([pid]) - pg_before.get(pid, 0.0) for pid in pg_backends(stack))
    cpu["locust"] = locust_cpu
    cpu["machine"] = machine_after[0] - machine_before[0]
    cpu["other"] = max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"))
    tally_path = Path(f"{prefix}_tally.json")
    tally = json.loads(tally_path.read_text()) if tally_path.exists() else {}
    stats = tally.pop("stats", {})
    if not stats:
        raise RuntimeError(f"locust {label} wrote no results:\n{proc.tail(30)}")
    return {
        "label": label,
        "target_rps": rate,
        "users": users,
        "seconds": seconds,
        "wall_seconds": round(elapsed, 1),
        "stats": stats,
        "tally": tally,
        "cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
        "lock_waits": locks.summary(),
    }


# -- reporting -----------------------------------------------------------------------------------------------------


def endpoint_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    routes = result["tally"].get("routes", {})
    rows = []
    for name, s in sorted(result["stats"].items(), key=lambda kv: (kv[0] == "Aggregated", -kv[1]["requests"])):
        r = routes.get(name, {})
        if name == "Aggregated":
            errors, retries = result["tally"].get("errors", 0), result["tally"].get("retries", 0)
        else:
            errors, retries = sum(r.get("errors", {}).values()), sum(r.get("retries", {}).values())
        rows.append(
            {
                "route": "TOTAL" if name == "Aggregated" else name,
                "requests": s["requests"],
                "rps": round(s["rps"], 2),
                "p50_ms": s["p50_ms"],
                "p95_ms": s["p95_ms"],
                "p99_ms": s["p99_ms"],
                "max_ms": round(s["max_ms"]),
                "errors": errors,
                "error_rate_pct": round(100 * errors / s["requests"], 3) if s["requests"] else 0.0,
                "retries": retries,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    widths = [max(len(title), *(len(_fmt(r.get(key))) for r in rows)) for key, title in columns]
    print(
        "  ".join(
            title.ljust(w) if i == 0 else title.rjust(w)
            for i, ((_, title), w) in enumerate(zip(columns, widths, strict=True))
        )
    )
    for r in rows:
        print(
            "  ".join(
                _fmt(r.get(key)).ljust(w) if i == 0 else _fmt(r.get(key)).rjust(w)
                for i, ((key, _), w) in enumerate(zip(columns, widths, strict=True))
            )
        )


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 or value == 0 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def scan_logs(stack: Stack) -> dict[str, Any]:
    """Warnings, errors and lines that are not JSON (tracebacks) in each process's log, and the API processes'
    answers by status (their access log: a 5xx the client never saw, because it had given up, is counted too)."""
    out: dict[str, Any] = {}
    for proc in stack.processes:
        levels: Counter[str] = Counter()
        events: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        samples: list[str] = []
        try:
            lines = proc.log_path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = json.loads(line)
                level = str(entry.get("level", "?"))
                if entry.get("event") == "request" and "status" in entry:
                    statuses[str(entry["status"])] += 1
                    if int(entry["status"]) >= 500:
                        level = "5xx"  # reported with the warnings, whatever level it was logged at
            except ValueError:  # a banner ("Serving on …"), or a traceback that bypassed the JSON logger
                if not PROBLEM_TEXT.search(line):
                    continue
                level, entry = "text", {"event": line.strip()[:120]}
            if level in ("info", "debug"):
                continue
            levels[level] += 1
            events[f"{level}: {entry.get('event', '?')}"] += 1
            if len(samples) < 5:
                samples.append(line[:600])
        out[proc.name] = {"lines": len(lines), "levels": dict(levels), "events": dict(events.most_common(10))}
        if statuses:
            out[proc.name]["statuses"] = dict(sorted(statuses.items()))
        if samples:
            out[proc.name]["samples"] = samples
    return out


def database_summary(stack: Stack) -> dict[str, Any]:
    queries = {
        "orders": "SELECT status, count(*) FROM orders GROUP BY 1 ORDER BY 2 DESC",
        "invoices": "SELECT status, count(*) FROM invoices GROUP BY 1 ORDER BY 2 DESC",
        "payments": "SELECT status || '/' || coalesce(outcome, '-'), count(*) FROM payments GROUP BY 1 ORDER BY 2 DESC",
        "payment_files": "SELECT status, count(*) FROM payment_files GROUP BY 1 ORDER BY 2 DESC",
        "dead_outbox": "SELECT actor || ': ' || left(coalesce(last_error, ''), 200), count(*) FROM outbox_messages "
        "WHERE failed_at IS NOT NULL GROUP BY 1",
    }
    out: dict[str, Any] = {}
    with stack.sql() as conn:
        for name, query in queries.items():
            out[name] = {str(k): int(v) for k, v in conn.execute(query).fetchall()}  # type: ignore[arg-type]
    return out


def mib(value: float) -> float:
    return round(value / 1_048_576, 1)


# -- modes ---------------------------------------------------------------------------------------------------------


def soak(args: argparse.Namespace, stack: Stack, locust: Path, keys: list[str], out_dir: Path) -> dict[str, Any]:
    sampler = Sampler(stack)
    sampler.sample("start")
    warm = run_locust(
        stack,
        locust,
        label="warmup",
        out_dir=out_dir,
        rate=args.rate,
        seconds=args.warmup,
        user_rate=args.user_rate,
        merchant_keys=keys,
        analyze_every=args.analyze_every,
        seq_base=0,
        client_timeout=args.client_timeout,
    )
    analyze(stack)
    baseline = sampler.sample("after warm-up")
    main = run_locust(
        stack,
        locust,
        label="soak",
        out_dir=out_dir,
        rate=args.rate,
        seconds=args.minutes * 60,
        user_rate=args.user_rate,
        merchant_keys=keys,
        analyze_every=args.analyze_every,
        seq_base=int(warm["tally"]["next_seq"]),
        sampler=sampler,
        sample_every=args.sample_every,
        client_timeout=args.client_timeout,
    )
    during = [r for r in sampler.rows if r["label"] == "soak"]
    end = during[-1] if during else sampler.sample("end")
    log(f"waiting for the outbox to drain (at most {args.drain_timeout} s)")
    drained = stack.wait_outbox_drained(args.drain_timeout)
    after = sampler.sample("drained" if drained else "drain timed out")
    log("bnpl check")
    check_ok, check_out = stack.check()

    memory = {}
    for proc in stack.processes:
        start, last = baseline[f"rss_{proc.name}"], end[f"rss_{proc.name}"]
        peak = max(r[f"rss_{proc.name}"] for r in [baseline, *during])
        memory[proc.name] = {
            "after_warmup_mib": mib(start),
            "end_mib": mib(last),
            "peak_mib": mib(peak),
            "growth_pct": round(100 * (last - start) / start, 1) if start else None,
        }
    rows = endpoint_rows(main)
    total = rows[-1]
    tally = main["tally"]
    dead_new = after["outbox_dead"] - sampler.rows[0]["outbox_dead"]
    dlq_new = after["dramatiq_dead"] - sampler.rows[0]["dramatiq_dead"]
    failures = []
    logs = scan_logs(stack)
    server_5xx = sum(
        n for scan in logs.values() for status, n in scan.get("statuses", {}).items() if status.startswith("5")
    )
    if tally.get("errors", 0) or tally.get("responses_5xx", 0) or server_5xx:
        failures.append(
            f"{tally.get('errors', 0)} errors; 5xx: {tally.get('responses_5xx', 0)} seen by the clients, "
            f"{server_5xx} in the API processes' access logs (warm-up included)"
        )
    for name, m in memory.items():
        if m["growth_pct"] is None or m["growth_pct"] >= 100 * MEMORY_GROWTH_LIMIT:
            failures.append(f"memory of {name} grew {m['growth_pct']} % after warm-up (limit < 10 %)")
    if not drained:
        failures.append(f"outbox not drained after {args.drain_timeout} s (backlog {after['outbox_backlog']})")
    if dead_new or dlq_new:
        failures.append(f"dead during the run: {dead_new} outbox messages, {dlq_new} in Dramatiq's dead-letter sets")
    if not check_ok:
        failures.append("bnpl check failed")
    notes = []
    if total["rps"] < STEP_KEEPS_UP * args.rate:
        notes.append(f"achieved {total['rps']} req/s, under 90 % of the target {args.rate}: the machine was short")
    pg = [r["pg_connections"] for r in [baseline, *during]]
    ours_ms = cpu_ms_per_request(main["cpu_seconds"], total["requests"])
    wall = main["wall_seconds"]
    other = main["cpu_seconds"]["other"] / wall if wall else 0.0
    if other > 0.2:
        notes.append(f"other work on the machine took {other:.2f} cores on average: latencies are the machine's")
    return {
        "mode": "soak",
        "target_rps": args.rate,
        "minutes": args.minutes,
        "users": main["users"],
        "endpoints": rows,
        "errors": tally.get("errors", 0),
        "responses_5xx": tally.get("responses_5xx", 0),
        "server_5xx": server_5xx,
        "retries": tally.get("retries", 0),
        "retry_causes": _causes(tally, "retries"),
        "error_causes": _causes(tally, "errors"),
        "error_samples": {k: v["error_samples"] for k, v in tally.get("routes", {}).items() if v["error_samples"]},
        "outcomes": tally.get("outcomes", {}),
        "fallbacks": tally.get("fallbacks", {}),
        "memory": memory,
        "pg_connections": {"after_warmup": baseline["pg_connections"], "end": end["pg_connections"], "max": max(pg)},
        "outbox": {
            "max_backlog": max(r["outbox_backlog"] for r in during) if during else None,
            "drained": drained,
            "dead_during_run": dead_new,
            "dramatiq_dead_lettered_during_run": dlq_new,
        },
        "cpu_seconds": main["cpu_seconds"],
        "lock_waits": main["lock_waits"],
        "analyze_every_seconds": args.analyze_every,
        "cpu_ms_per_request": ours_ms,
        "ceiling_rps": round(1000 * (os.cpu_count() or 1) / ours_ms) if ours_ms else None,
        "wall_seconds": wall,
        "warmup": {"seconds": args.warmup, "endpoints": endpoint_rows(warm)[-1:]},
        "check": {"ok": check_ok, "output": check_out[-4000:]},
        "database": database_summary(stack),
        "logs": logs,
        "samples": sampler.rows,
        "failures": failures,
        "notes": notes,
    }


def _causes(tally: dict[str, Any], kind: str) -> dict[str, int]:
    out: Counter[str] = Counter()
    for route in tally.get("routes", {}).values():
        out.update(route.get(kind, {}))
    return dict(out)


def find_capacity(
    args: argparse.Namespace, stack: Stack, locust: Path, keys: list[str], out_dir: Path
) -> dict[str, Any]:
    steps = [float(s) for s in args.steps.split(",")]
    warm = run_locust(
        stack,
        locust,
        label="warmup",
        out_dir=out_dir,
        rate=steps[0],
        seconds=args.warmup,
        user_rate=args.user_rate,
        merchant_keys=keys,
        analyze_every=args.analyze_every,
        seq_base=0,
        client_timeout=args.client_timeout,
    )
    seq = int(warm["tally"]["next_seq"])  # buyers continue where the last run stopped: every one stays distinct
    analyze(stack)
    results: list[dict[str, Any]] = []
    lock_detail: list[dict[str, Any]] = []
    for i, rate in enumerate(steps):
        res = run_locust(
            stack,
            locust,
            label=f"step{i + 1}",
            out_dir=out_dir,
            rate=rate,
            seconds=args.step_seconds,
            user_rate=args.user_rate,
            merchant_keys=keys,
            analyze_every=args.analyze_every,
            seq_base=seq,
            client_timeout=args.client_timeout,
        )
        seq = int(res["tally"]["next_seq"])
        total = endpoint_rows(res)[-1]
        orders = res["stats"].get("POST /v1/orders", {})
        api_cpu = sum(v for k, v in res["cpu_seconds"].items() if k.startswith("api"))
        ours_ms = cpu_ms_per_request(res["cpu_seconds"], total["requests"])
        row = {
            "target_rps": rate,
            "users": res["users"],
            "rps": total["rps"],
            "orders_per_s": round(orders.get("rps", 0.0), 1),
            "p50_ms": total["p50_ms"],
            "p95_ms": total["p95_ms"],
            "p99_ms": total["p99_ms"],
            "errors": total["errors"] + res["tally"].get("responses_5xx", 0),
            "retries": total["retries"],
            "api_cpu_ms_per_req": round(1000 * api_cpu / max(1, total["requests"]), 1),
            "cpu_ms_per_req": ours_ms,
            "ceiling_rps": round(1000 * (os.cpu_count() or 1) / ours_ms) if ours_ms else None,
            "cores_busy": round(res["cpu_seconds"]["machine"] / res["wall_seconds"], 2),
            "other_cores": round(res["cpu_seconds"]["other"] / res["wall_seconds"], 2),
            "lock_waiting": res["lock_waits"]["mean_waiting"],
        }
        lock_detail.append({"target_rps": rate, **res["lock_waits"]})
        row["keeps_up"] = (
            row["rps"] >= STEP_KEEPS_UP * rate and (row["p99_ms"] or 0) <= STEP_P99_MS and row["errors"] == 0
        )
        results.append(row)
        log(f"step {rate:.0f} req/s: achieved {row['rps']}, p99 {row['p99_ms']} ms, errors {row['errors']}")
        if not row["keeps_up"]:
            break
    kept = [r for r in results if r["keeps_up"]]
    capacity = max((r["rps"] for r in kept), default=0.0)
    ceilings = sorted(r["ceiling_rps"] for r in results if r["ceiling_rps"])
    other = max(r["other_cores"] for r in results)
    return {
        "mode": "capacity",
        "steps": results,
        "capacity_rps": capacity,
        "suggested_rate": round(capacity / 2),
        "saturated": not results[-1]["keeps_up"],
        "ceiling_rps": ceilings[len(ceilings) // 2] if ceilings else None,
        "other_cores_max": other,
        "lock_waits": lock_detail,
        "logs": scan_logs(stack),
    }


def cpu_ms_per_request(cpu: dict[str, float], requests: int) -> float | None:
    """CPU of everything the load needs (API processes, worker, scheduler, PostgreSQL, locust) per request."""
    ours = sum(v for k, v in cpu.items() if k not in ("machine", "other"))
    return round(1000 * ours / requests, 1) if requests else None


# -- main ----------------------------------------------------------------------------------------------------------


def report_soak(summary: dict[str, Any]) -> None:
    print()
    print(f"== load: {summary['minutes']} min at {summary['target_rps']} req/s target ({summary['users']} clients)")
    print_table(
        summary["endpoints"],
        [
            ("route", "route"),
            ("requests", "requests"),
            ("rps", "req/s"),
            ("p50_ms", "p50 ms"),
            ("p95_ms", "p95 ms"),
            ("p99_ms", "p99 ms"),
            ("max_ms", "max ms"),
            ("errors", "errors"),
            ("retries", "retries"),
        ],
    )
    total = summary["endpoints"][-1]
    print(
        f"\nerrors {summary['errors']} ({total['error_rate_pct']} %); 5xx seen by the clients "
        f"{summary['responses_5xx']}, in the access logs {summary['server_5xx']}; "
        f"retries {summary['retries']} {summary['retry_causes'] or ''}"
    )
    if summary["error_causes"]:
        print(f"error causes: {summary['error_causes']}")
    print(f"outcomes: {json.dumps(summary['outcomes'], ensure_ascii=False)}")
    print("\nRSS (MiB)        after warm-up      end     peak   growth")
    for name, m in summary["memory"].items():
        print(f"  {name:<14} {m['after_warmup_mib']:>13} {m['end_mib']:>8} {m['peak_mib']:>8} {m['growth_pct']:>7} %")
    pg, outbox = summary["pg_connections"], summary["outbox"]
    print(f"PostgreSQL connections: after warm-up {pg['after_warmup']}, end {pg['end']}, max {pg['max']}")
    print(
        f"outbox: max backlog {outbox['max_backlog']}, drained {outbox['drained']}, "
        f"dead during the run {outbox['dead_during_run']} (Dramatiq dead-lettered "
        f"{outbox['dramatiq_dead_lettered_during_run']})"
    )
    cpu = summary["cpu_seconds"]
    wall = summary["wall_seconds"] or summary["minutes"] * 60
    print(
        "CPU (cores busy): "
        + ", ".join(f"{k} {v / wall:.2f}" for k, v in cpu.items() if k != "machine")
        + f"; machine {cpu['machine'] / wall:.2f} of {os.cpu_count()}"
    )
    print(
        f"CPU per request (stack + PostgreSQL + locust): {summary['cpu_ms_per_request']} ms; "
        f"ceiling of this machine idle: {summary['ceiling_rps']} req/s"
    )
    locks = summary["lock_waits"]
    print(
        f"lock waits (pg_stat_activity every 0.5 s): {locks['mean_waiting']} backends waiting on average, "
        f"peak {locks['peak_waiting']}"
    )
    for statement, probes in locks["top"].items():
        print(f"  {probes:>5} x {statement}")
    for name, scan in summary["logs"].items():
        if scan["levels"]:
            print(f"log {name}: {scan['events']}")
    print(f"bnpl check: {'clean' if summary['check']['ok'] else 'FAILED'}")
    if not summary["check"]["ok"]:
        print("  " + summary["check"]["output"][-1500:].replace("\n", "\n  "))
    for note in summary["notes"]:
        print(f"note: {note}")


def report_capacity(summary: dict[str, Any]) -> None:
    print()
    print("== capacity of the mix (each step a fresh locust run)")
    print_table(
        summary["steps"],
        [
            ("target_rps", "target"),
            ("users", "clients"),
            ("rps", "req/s"),
            ("orders_per_s", "orders/s"),
            ("p50_ms", "p50 ms"),
            ("p95_ms", "p95 ms"),
            ("p99_ms", "p99 ms"),
            ("errors", "errors"),
            ("retries", "retries"),
            ("api_cpu_ms_per_req", "API CPU ms/req"),
            ("cpu_ms_per_req", "all CPU ms/req"),
            ("ceiling_rps", "ceiling"),
            ("cores_busy", "cores busy"),
            ("other_cores", "of which other"),
            ("lock_waiting", "lock waiters"),
            ("keeps_up", "keeps up"),
        ],
    )
    more = "" if summary["saturated"] else " (not saturated: add higher --steps)"
    print(f"\ncapacity {summary['capacity_rps']} req/s{more}; suggested soak rate {summary['suggested_rate']} req/s")
    print(
        f"ceiling (cores ÷ CPU per request of the stack, PostgreSQL and locust; what an idle machine could do): "
        f"{summary['ceiling_rps']} req/s"
    )
    if summary["other_cores_max"] > 0.2:
        print(
            f"note: other work on the machine took up to {summary['other_cores_max']} cores during the steps: "
            "the capacity above is the machine's today, not the product's; measure again on a quiet machine"
        )


def write_results(summary: dict[str, Any], stem: Path) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    summary["machine"] = {"cores": os.cpu_count(), "python": platform.python_version(), "host": platform.node()}
    Path(f"{stem}.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    table = summary.get("endpoints") or summary.get("steps") or []
    if table:
        with Path(f"{stem}-{'endpoints' if 'endpoints' in summary else 'steps'}.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    if summary.get("samples"):
        fields = list(dict.fromkeys(k for row in summary["samples"] for k in row))
        with Path(f"{stem}-samples.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(summary["samples"])
    log(f"results: {stem}.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10, help="length of the soak (default 10)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help=f"target req/s (default {DEFAULT_RATE})")
    parser.add_argument("--warmup", type=float, default=60, help="seconds of warm-up at the rate (default 60)")
    parser.add_argument("--user-rate", type=float, default=0.5, help="req/s per simulated client (default 0.5)")
    parser.add_argument("--merchants", type=int, default=5, help="live merchants sending traffic (default 5)")
    parser.add_argument("--sample-every", type=float, default=10, help="seconds between samples (default 10)")
    parser.add_argument("--drain-timeout", type=float, default=300, help="seconds to wait for the outbox")
    parser.add_argument("--find-capacity", action="store_true", help="rising steps instead of a soak")
    parser.add_argument("--steps", default="20,40,60,80,100,120,140,170,200", help="req/s of the capacity steps")
    parser.add_argument("--step-seconds", type=float, default=45, help="seconds per capacity step (default 45)")
    parser.add_argument(
        "--client-timeout",
        type=float,
        default=30,
        help="seconds a client waits before it gives up on an answer and retries with the same key (default 30)",
    )
    parser.add_argument(
        "--analyze-every",
        type=float,
        default=None,
        help="seconds between ANALYZEs during the load (default: 60 when the server's autovacuum is off, else never)",
    )
    parser.add_argument("--ports", default="8311,8312", help="the two API processes' ports")
    args = parser.parse_args()
    if not re.fullmatch(r"\d+(,\d+)*", args.ports):
        parser.error("--ports: comma-separated port numbers")

    locust = ensure_locust()
    mode = "capacity" if args.find_capacity else "soak"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = RESULTS / f"{stamp}-{mode}"
    out_dir.mkdir(parents=True, exist_ok=True)
    ports = tuple(int(p) for p in args.ports.split(","))
    with Stack("load", api_ports=ports) as stack:
        keys = add_merchants(stack, max(0, args.merchants - 1))
        if args.analyze_every is None:
            # This machine's PostgreSQL runs with autovacuum off: without autovacuum's analyze the planner keeps
            # the estimates of the warm-up while the tables grow tenfold, which no production database would do.
            # Stand in for it.
            args.analyze_every = 0.0 if autovacuum_on(stack) else 60.0
            if args.analyze_every:
                log("autovacuum is off on this PostgreSQL: ANALYZE every 60 s during the load stands in for it")
        log(f"{len(keys)} live merchants; results in {out_dir}")
        if args.find_capacity:
            summary = find_capacity(args, stack, locust, keys, out_dir)
            report_capacity(summary)
            write_results(summary, RESULTS / f"{stamp}-{mode}")
            return 0
        summary = soak(args, stack, locust, keys, out_dir)
    report_soak(summary)
    write_results(summary, RESULTS / f"{stamp}-{mode}")
    failures = summary["failures"]
    print()
    if failures:
        print(f"FAIL load soak ({args.minutes} min at {args.rate} req/s)")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print(f"PASS load soak ({args.minutes} min at {args.rate} req/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())  # Ctrl-C: ops/stack.py's signal handler stops every process (locust included) and exits
