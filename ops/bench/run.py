"""Benchmark: an authenticated GET on the running server, against the same SQL through bare psycopg.

    make bench                      # or: .venv/bin/python ops/bench/run.py --seconds 10 --connections 32

What it does, in one run on this machine:
1. builds a fresh PostgreSQL database ``bnpl_bench`` with the migrations and one tenant, merchant and key;
2. starts ``bnpl serve`` (one uvicorn process, PostgreSQL, rate limit off, logs at WARNING);
3. loads ``GET /v1/merchant`` (API-key auth lookup + tenant-scoped merchant read + JSON) and ``GET /health``
   (no database: the framework's ceiling) with wrk (``apt-get install wrk``; falls back to a Python client);
4. runs the same two SQL statements the authenticated GET executes through bare psycopg (async, a pool of the
   same size, the same concurrency): the baseline.
Results are printed and written to ``ops/bench/results/latest.json``; the ratio is API req/s ÷ baseline req/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

ROOT = Path(__file__).resolve().parents[2]
ADMIN_DSN = os.environ.get("BNPL_BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "bnpl_bench"
DSN = ADMIN_DSN.rsplit("/", 1)[0] + f"/{DB_NAME}"
URL = "postgresql+psycopg://" + DSN.split("://", 1)[1]
PORT = 8123

AUTH_SQL = """
SELECT api_keys.id, api_keys.role, api_keys.tenant_id, api_keys.merchant_id, operators.status, merchants.status
FROM api_keys LEFT OUTER JOIN operators ON operators.id = api_keys.tenant_id
LEFT OUTER JOIN merchants ON merchants.tenant_id = api_keys.tenant_id AND merchants.id = api_keys.merchant_id
WHERE api_keys.secret_hash = %s AND api_keys.revoked_at IS NULL
"""
MERCHANT_SQL = "SELECT * FROM merchants WHERE merchants.tenant_id = %s AND merchants.id = %s"


def env() -> dict[str, str]:
    return {
        **os.environ,
        "BNPL_DATABASE_URL": URL,
        "BNPL_RATE_LIMIT_PER_MINUTE": "0",
        "BNPL_LOG_LEVEL": "WARNING",
        "BNPL_ENV": "development",
    }


def prepare() -> tuple[str, str, str, str]:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    bnpl = [sys.executable, "-m", "app"]
    subprocess.run([*bnpl, "db", "upgrade"], env=env(), check=True, cwd=ROOT, capture_output=True)
    out = subprocess.run([*bnpl, "demo"], env=env(), check=True, cwd=ROOT, capture_output=True, text=True).stdout
    key = re.search(r"merchant key:\s+(\S+)", out)
    assert key, out
    sys.path.insert(0, str(ROOT))
    from app.settings import get_settings
    from domain.tenancy.service import hash_secret

    with psycopg.connect(DSN) as conn:
        tenant_id, merchant_id = conn.execute("SELECT tenant_id, id FROM merchants LIMIT 1").fetchone()  # type: ignore[misc]
    return key.group(1), hash_secret(key.group(1), get_settings().secret_key), tenant_id, merchant_id


def wrk(path: str, key: str | None, seconds: int, connections: int) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if key:
        cmd += ["-H", f"Authorization: Bearer {key}"]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{PORT}{path}"], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


async def python_load(path: str, key: str | None, seconds: int, connections: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{PORT}", headers=headers, limits=httpx.Limits(max_connections=connections)
    ) as client:

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                r = await client.get(path)
                latencies.append((time.perf_counter() - t) * 1000)
                errors += r.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*[loop() for _ in range(connections)])
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[int(len(latencies) * 0.99)],
        "errors": float(errors),
    }


async def baseline(
    secret_hash: str, tenant_id: str, merchant_id: str, seconds: int, concurrency: int, pool_size: int
) -> dict[str, float]:
    """The authenticated GET's two statements through bare psycopg, with the API's pool size and concurrency."""
    latencies: list[float] = []
    async with AsyncConnectionPool(DSN, min_size=pool_size, max_size=pool_size, open=False) as pool:
        await pool.open(wait=True)
        deadline = time.perf_counter() + seconds

        async def loop() -> None:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                async with pool.connection() as conn:
                    await (await conn.execute(AUTH_SQL, (secret_hash,))).fetchone()
                async with pool.connection() as conn:
                    await (await conn.execute(MERCHANT_SQL, (tenant_id, merchant_id))).fetchone()
                latencies.append((time.perf_counter() - t) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*[loop() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[int(len(latencies) * 0.99)],
        "errors": 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    key, secret_hash, tenant_id, merchant_id = prepare()
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(PORT)],
        env=env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        tool = "wrk" if shutil.which("wrk") else "python-httpx"

        def load(path: str, k: str | None) -> dict[str, float]:
            if tool == "wrk":
                return wrk(path, k, args.seconds, args.connections)
            return asyncio.run(python_load(path, k, args.seconds, args.connections))

        load("/v1/merchant", key)  # warm-up (connections, caches)
        results = {
            "get_merchant_authenticated": load("/v1/merchant", key),
            "health_no_db": load("/health", None),
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
    results["baseline_bare_psycopg_same_sql"] = asyncio.run(
        baseline(secret_hash, tenant_id, merchant_id, args.seconds, args.connections, pool_size=10)
    )
    ratio = results["get_merchant_authenticated"]["rps"] / results["baseline_bare_psycopg_same_sql"]["rps"]
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_tool": tool,
        "seconds": args.seconds,
        "connections": args.connections,
        "results": results,
        "ratio_api_to_baseline": round(ratio, 3),
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'scenario':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, r in results.items():
        print(f"{name:<34}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['errors']:>8.0f}")
    print(f"ratio authenticated GET / bare psycopg baseline: {ratio:.3f}  (load tool: {tool})")
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
