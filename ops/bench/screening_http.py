"""The HTTP part of the fraud speed benchmark: ``POST /v1/screenings`` on PostgreSQL under wrk.

Run through ``ops/bench/fraud_speed.py --only http`` (or on its own). It reuses ``run.py``'s set-up (a fresh
``bnpl_bench`` database, the demo tenant, one ``bnpl serve`` process) and reports screenings/s and latency,
checks that every screening wrote exactly one usage event, and, as the baseline in the same run, the
authenticated ``GET /v1/merchant`` (the spine's cheapest authenticated call).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as spine  # noqa: E402 - the sibling benchmark's set-up


def _wrk(path: str, key: str, seconds: float, connections: int, script: Path | None = None) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-H", f"Authorization: Bearer {key}"]
    if script is not None:
        cmd += ["-s", str(script)]
    env = {**os.environ, "BNPL_BENCH_KEY": key}
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{spine.PORT}{path}"], capture_output=True, text=True, check=True, env=env
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        return float("nan") if not m else float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps, out
    return {
        "rps": float(rps.group(1)),
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def bench_http(args: argparse.Namespace) -> dict[str, Any]:
    if not shutil.which("wrk"):
        return {"part": "http: POST /v1/screenings", "skipped": "wrk is not installed (apt-get install wrk)"}
    key, _hash, _tenant, _merchant = spine.prepare()
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(spine.PORT)],
        env=spine.env(),
        cwd=spine.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{spine.PORT}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        script = HERE / "screening_post.lua"
        _wrk("/v1/screenings", key, 3, 16, script)  # warm-up, and some history to look up
        with psycopg.connect(spine.DSN, autocommit=True) as conn:
            conn.execute("ANALYZE")  # what autovacuum does on a live database; a fresh one has no statistics
        post = _wrk("/v1/screenings", key, args.seconds, 16, script)
        get = _wrk("/v1/merchant", key, args.seconds, 16)
    finally:
        server.terminate()
        server.wait(timeout=10)
    with psycopg.connect(spine.DSN) as conn:
        screenings = conn.execute("SELECT count(*) FROM fraud_screenings").fetchone()[0]  # type: ignore[index]
        usage = conn.execute("SELECT count(*) FROM usage_events WHERE kind = 'screening'").fetchone()[0]  # type: ignore[index]
        identifiers = conn.execute("SELECT count(*) FROM fraud_identifiers").fetchone()[0]  # type: ignore[index]
    with psycopg.connect(spine.ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{spine.DB_NAME}" WITH (FORCE)')
    return {
        "part": "http: POST /v1/screenings (PostgreSQL, one server process, wrk -c16)",
        "per_second": round(post["rps"]),
        "p50_ms": post["p50_ms"],
        "p99_ms": post["p99_ms"],
        "errors": int(post["errors"]),
        "screenings_stored": screenings,
        "usage_events": usage,
        "identifier_rows": identifiers,
        "baseline_get_merchant_rps": round(get["rps"]),
        "ratio_to_authenticated_get": round(post["rps"] / get["rps"], 3) if get["rps"] else None,
    }


def report_http(result: dict[str, Any]) -> None:
    print(f"\n{result['part']}")
    if "skipped" in result:
        print(f"  skipped: {result['skipped']}")
        return
    print(
        f"  {result['per_second']:>10,} screenings/s   p50 {result['p50_ms']} ms   p99 {result['p99_ms']} ms   "
        f"non-2xx {result['errors']}"
    )
    print(
        f"  stored {result['screenings_stored']:,} screenings, {result['usage_events']:,} usage events, "
        f"{result['identifier_rows']:,} identifier rows"
    )
    print(
        f"  baseline GET /v1/merchant {result['baseline_get_merchant_rps']:,} req/s in the same run; "
        f"ratio {result['ratio_to_authenticated_get']}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    report_http(bench_http(parser.parse_args()))
