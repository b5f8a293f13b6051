"""Benchmark: how fast the fraud engine screens, in process, on one core.

    .venv/bin/python ops/bench/fraud_speed.py                    # both parts, 5 s each
    .venv/bin/python ops/bench/fraud_speed.py --seconds 10 --n 20000 --only engine

Parts (each a function taking the parsed arguments and returning a result dict; add more to ``PARTS``):
* ``engine``: ``fraud.engine.screen()`` alone over a varied set of pre-normalised orders (clean buyers, velocity
  rings, foreign devices, bots, list hits, hotel/forwarding addresses, first orders). Target: well above
  100,000 screenings/s, p99 ≤ 1 ms.
* ``normalise``: ``fraud.normalize.build_identity(snapshot)`` + ``screen()`` on raw orders written in varied
  formats, with history, list hits and external categories answered from in-memory dicts keyed by the order's
  matching keys (what the repository answers from PostgreSQL in production). Target: ≥ 20,000/s.

Throughput is measured on an untimed loop; p50/p99 come from a second pass timing each call (perf_counter_ns).
Results are printed; ``--json`` also prints them as one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fraud.engine import screen
from fraud.policy import default_policy
from fraud.signals import warm_up
from fraud.types import (
    ExternalHits,
    History,
    Identity,
    IdKind,
    LineType,
    ListHits,
    NormalizedAddress,
    NormalizedEmail,
    NormalizedName,
    NormalizedPhone,
    OrderSnapshot,
    Window,
)

USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SO-51D) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15",
    "python-requests/2.32.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
]
LANGUAGES = ["ja-JP,ja;q=0.9,en-US;q=0.8", "ja", "ja-JP", "en-US,en;q=0.9", "zh-CN,zh;q=0.9", "vi-VN,vi;q=0.9"]
TIMEZONES = ["Asia/Tokyo", "540", "Asia/Tokyo", "Asia/Shanghai", "America/Los_Angeles", None]
FAMILY = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村"]
FAMILY_KANA = ["ヤマダ", "サトウ", "スズキ", "タカハシ", "タナカ", "イトウ", "ワタナベ", "ナカムラ"]
GIVEN = ["太郎", "花子", "健", "美咲", "翔太", "陽菜"]
GIVEN_KANA = ["タロウ", "ハナコ", "ケン", "ミサキ", "ショウタ", "ヒナ"]
TOWNS = [
    ("1070052", "東京都", "港区赤坂"),
    ("5300001", "大阪府", "大阪市北区梅田"),
    ("0600001", "北海道", "札幌市中央区北一条西"),
    ("8100001", "福岡県", "福岡市中央区天神"),
    ("4600008", "愛知県", "名古屋市中区栄"),
]
IPS = ["126.7.1.2", "133.32.4.9", "153.120.3.4", "180.12.9.1", "8.8.8.8", "1.2.4.8", "203.0.113.9"]


def _weighted(rng: random.Random, items: list[Any], clean_share: float = 0.7) -> Any:
    """The first item most of the time (a clean buyer), the others otherwise."""
    return items[0] if rng.random() < clean_share else rng.choice(items)


# -- part (a): the engine alone -----------------------------------------------------------------------------------


def normalised_case(rng: random.Random, i: int) -> tuple[OrderSnapshot, Identity, History, ListHits, ExternalHits]:
    postal, pref, town = rng.choice(TOWNS)
    block = f"{rng.randint(1, 9)}-{rng.randint(1, 20)}-{rng.randint(1, 30)}"
    home = NormalizedAddress(f"{pref}{town}{block}", "", postal, pref, parsed=rng.random() > 0.02)
    elsewhere = None
    if rng.random() < 0.15:
        p2, pref2, town2 = rng.choice(TOWNS)
        elsewhere = NormalizedAddress(f"{pref2}{town2}1-1-1", "", p2, pref2, parsed=True)
    line = rng.choices(list(LineType), weights=[70, 15, 8, 1, 1, 5])[0]
    phone = None if rng.random() < 0.03 else NormalizedPhone(f"+8190{i:08d}", line, "JP")
    disposable = rng.random() < 0.03
    email = NormalizedEmail(f"user{i}@example.jp", "example.jp", disposable, valid=rng.random() > 0.02)
    country = rng.choices(["JP", "US", "CN", None], weights=[85, 5, 5, 5])[0]
    identity = Identity(
        NormalizedName(FAMILY_KANA[i % 8] + GIVEN_KANA[i % 6], parsed=True),
        home,
        elsewhere,
        phone,
        email,
        country,
        f"dev-{i % 997}",
        f"126.7.{i % 250}.{i % 200}",
    )
    snapshot = OrderSnapshot(
        amount=rng.choice([1_980, 4_500, 12_800, 32_000, 54_000]),
        currency="JPY",
        buyer_name=FAMILY[i % 8] + " " + GIVEN[i % 6],
        buyer_name_kana=FAMILY_KANA[i % 8] + " " + GIVEN_KANA[i % 6],
        shipping_name=None if rng.random() < 0.9 else "受取 人",
        user_agent=None if rng.random() < 0.02 else _weighted(rng, USER_AGENTS, 0.6),
        accept_language=_weighted(rng, LANGUAGES, 0.8),
        timezone=_weighted(rng, TIMEZONES, 0.8),
    )
    ring = rng.random() < 0.1
    counts = {(kind, window): rng.randint(0, 8 if ring else 2) for kind in IdKind for window in Window}
    history = History(
        counts=counts,
        names_at_address=rng.randint(0, 6 if ring else 1),
        addresses_for_phone=rng.randint(0, 5 if ring else 1),
        identities_for_device=rng.randint(0, 5 if ring else 1),
        identities_for_ip=rng.randint(0, 8 if ring else 2),
        prior_orders=rng.choice([0, 0, 1, 3, 12]),
        address_known_for_buyer=rng.random() < 0.5,
    )
    kinds = list(IdKind)
    lists = ListHits(
        allow=frozenset(rng.sample(kinds, 1)) if rng.random() < 0.03 else frozenset(),
        block=frozenset(rng.sample(kinds, 1)) if rng.random() < 0.01 else frozenset(),
        negative=frozenset(rng.sample(kinds, 1)) if rng.random() < 0.02 else frozenset(),
    )
    categories = ["hotel", "weekly_mansion", "vacant", "po_box", "forwarding"]
    external = ExternalHits(frozenset(rng.sample(categories, 1)) if rng.random() < 0.05 else frozenset())
    return snapshot, identity, history, lists, external


def _measure(call: Callable[[int], object], n: int, seconds: float) -> dict[str, float]:
    """Throughput over ``seconds`` (untimed loop), then per-call latency over one more pass."""
    for i in range(min(n, 2_000)):  # warm caches (the bot verdict per user agent, the language per header)
        call(i)
    gc.collect()
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for i in range(n):
            call(i)
        done += n
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    samples = []
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        call(i)
        samples.append(clock() - t0)
    samples.sort()
    return {
        "per_second": round(done / elapsed),
        "calls": done,
        "p50_us": round(samples[len(samples) // 2] / 1000, 2),
        "p99_us": round(samples[int(len(samples) * 0.99)] / 1000, 2),
        "max_us": round(samples[-1] / 1000, 2),
        "mean_us": round(statistics.fmean(samples) / 1000, 2),
    }


def bench_engine(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)  # noqa: S311 - reproducible test data, not security
    policy = default_policy()
    cases = [normalised_case(rng, i) for i in range(args.n)]
    verdicts: dict[str, int] = {}
    for case in cases:
        v = screen(*case, policy).verdict.value
        verdicts[v] = verdicts.get(v, 0) + 1

    def call(i: int) -> object:
        s, ident, h, li, ex = cases[i]
        return screen(s, ident, h, li, ex, policy)

    return {
        "part": "engine: screen() on pre-normalised inputs",
        **_measure(call, args.n, args.seconds),
        "verdict_mix": verdicts,
    }


# -- part (b): normalise + screen -------------------------------------------------------------------------------


def raw_case(rng: random.Random, i: int) -> OrderSnapshot:
    postal, pref, town = rng.choice(TOWNS)
    a, b, c = rng.randint(1, 9), rng.randint(1, 20), rng.randint(1, 30)
    block = rng.choice(
        [f"{a}-{b}-{c}", f"{a}丁目{b}番{c}号", f"{a}丁目{b}番地{c}号", f"{a}－{b}－{c}", f"{chr(0xFF10 + a)}-{b}-{c}"]
    )
    building = rng.choice(["", "", " 赤坂ハイツ101", "　グランドメゾン 302号室"])
    name = FAMILY[i % 8] + rng.choice([" ", "　", ""]) + GIVEN[i % 6]
    kana = FAMILY_KANA[i % 8] + rng.choice([" ", "　", ""]) + GIVEN_KANA[i % 6]
    phone = rng.choice(
        [
            f"090-{i % 10000:04d}-{(i * 7) % 10000:04d}",
            f"０８０{i % 100000000:08d}",
            f"+81 50 {i % 10000:04d} {(i * 3) % 10000:04d}",
            f"03-{i % 10000:04d}-1234",
            "123",
        ]
    )
    email = rng.choice(
        [
            f"Taro.Yamada+{i}@gmail.com",
            f"user{i}@docomo.ne.jp",
            f"u{i}@mailinator.com",
            "bad@",
            f"hanako{i % 50}@example.co.jp",
        ]
    )
    ship = rng.random() < 0.15
    return OrderSnapshot(
        amount=rng.choice([1_980, 4_500, 12_800, 32_000, 54_000]),
        currency="JPY",
        buyer_name=name,
        buyer_name_kana=kana,
        email=email,
        phone=phone,
        billing_postal_code=f"{postal[:3]}-{postal[3:]}",
        billing_address=f"{pref}{town}{block}{building}",
        shipping_name="受取 人" if ship and rng.random() < 0.5 else None,
        shipping_postal_code="530-0001" if ship else None,
        shipping_address="大阪府大阪市北区梅田1-1-1" if ship else None,
        ip=rng.choice(IPS),
        user_agent=_weighted(rng, USER_AGENTS, 0.6),
        accept_language=_weighted(rng, LANGUAGES, 0.8),
        timezone=_weighted(rng, TIMEZONES, 0.8),
        device_id=f"dev-{i % 997}",
    )


def bench_normalise(args: argparse.Namespace) -> dict[str, Any]:
    try:
        from fraud.normalize import build_identity
    except ImportError as exc:
        return {"part": "normalise + screen", "skipped": f"fraud.normalize.build_identity is not available ({exc})"}
    rng = random.Random(args.seed + 1)  # noqa: S311 - reproducible test data, not security
    policy = default_policy()
    snapshots = [raw_case(rng, i) for i in range(args.n)]
    # What the repository would answer, held in memory and keyed like the real lookups (by matching key).
    empty_history, no_lists, no_external = History(), ListHits(), ExternalHits()
    histories: dict[str, History] = {}
    list_hits: dict[tuple[IdKind, str], ListHits] = {}
    externals: dict[str, ExternalHits] = {}
    for snapshot in snapshots:
        identity = build_identity(snapshot)
        keys = identity.keys()
        if IdKind.PHONE in keys and rng.random() < 0.3:
            histories[keys[IdKind.PHONE]] = History(
                counts={
                    (IdKind.PHONE, Window.DAY): rng.randint(0, 5),
                    (IdKind.ADDRESS, Window.HOUR): rng.randint(0, 3),
                },
                names_at_address=rng.randint(0, 4),
                prior_orders=rng.randint(0, 5),
            )
        if IdKind.EMAIL in keys and rng.random() < 0.03:
            list_hits[(IdKind.EMAIL, keys[IdKind.EMAIL])] = ListHits(negative=frozenset({IdKind.EMAIL}))
        if IdKind.ADDRESS in keys and rng.random() < 0.05:
            externals[keys[IdKind.ADDRESS]] = ExternalHits(frozenset({"weekly_mansion"}))

    def call(i: int) -> object:
        identity = build_identity(snapshots[i])
        keys = identity.keys()
        history = histories.get(keys.get(IdKind.PHONE, ""), empty_history)
        lists = no_lists
        for kind, key in keys.items():
            hit = list_hits.get((kind, key))
            if hit is not None:
                lists = hit
                break
        external = externals.get(keys.get(IdKind.ADDRESS, ""), no_external)
        return screen(snapshots[i], identity, history, lists, external, policy)

    return {"part": "normalise + screen (build_identity, in-memory lookups)", **_measure(call, args.n, args.seconds)}


def _clear_normaliser_caches() -> int:
    """Empty every lru_cache in fraud.normalize, so the next calls pay full normalisation."""
    import importlib
    import pkgutil

    import fraud.normalize as package

    cleared = 0
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"fraud.normalize.{info.name}")
        for value in vars(module).values():
            if hasattr(value, "cache_clear"):
                value.cache_clear()
                cleared += 1
    return cleared


def bench_normalise_cold(args: argparse.Namespace) -> dict[str, Any]:
    """normalise + screen with empty caches and every input seen once: the worst case (no repeat customers)."""
    from fraud.normalize import build_identity

    rng = random.Random(args.seed + 2)  # noqa: S311 - reproducible test data, not security
    policy = default_policy()
    n = max(args.n, 20_000)
    snapshots = [raw_case(rng, 1_000_000 + i) for i in range(n)]
    history, lists, external = History(), ListHits(), ExternalHits()
    _clear_normaliser_caches()
    gc.collect()
    latencies: list[float] = []
    started = time.perf_counter()
    for snapshot in snapshots:
        t = time.perf_counter()
        screen(snapshot, build_identity(snapshot), history, lists, external, policy)
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "part": "normalise + screen, cold caches, every input new (worst case)",
        "per_second": round(n / elapsed),
        "calls": n,
        "p50_us": round(latencies[n // 2] * 1e6, 1),
        "p99_us": round(latencies[int(n * 0.99)] * 1e6, 1),
        "max_us": round(latencies[-1] * 1e6, 1),
        "mean_us": round(elapsed / n * 1e6, 1),
    }


def bench_http(args: argparse.Namespace) -> dict[str, Any]:
    """POST /v1/screenings on PostgreSQL (ops/bench/screening_http.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from screening_http import bench_http as run_http

    return run_http(args)


PARTS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "engine": bench_engine,
    "normalise": bench_normalise,
    "normalise_cold": bench_normalise_cold,
    "http": bench_http,
}


def report(result: dict[str, Any]) -> None:
    if result["part"].startswith("http"):
        from screening_http import report_http

        report_http(result)
        return
    print(f"\n{result['part']}")
    if "skipped" in result:
        print(f"  skipped: {result['skipped']}")
        return
    print(f"  {result['per_second']:>10,} screenings/s  ({result['calls']:,} calls)")
    print(
        f"  p50 {result['p50_us']} µs   p99 {result['p99_us']} µs   max {result['max_us']} µs   "
        f"mean {result['mean_us']} µs"
    )
    if "verdict_mix" in result:
        print(f"  verdict mix over the input set: {result['verdict_mix']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fraud engine speed: screen() alone and normalise + screen.")
    parser.add_argument("--seconds", type=float, default=5.0, help="Seconds of throughput measurement per part.")
    parser.add_argument("--n", type=int, default=10_000, help="Distinct inputs per part (cycled).")
    parser.add_argument("--seed", type=int, default=42, help="Seed of the generated inputs.")
    parser.add_argument("--only", choices=sorted(PARTS), action="append", help="Run only these parts (repeatable).")
    parser.add_argument("--json", action="store_true", help="Also print the results as JSON.")
    args = parser.parse_args(argv)

    warm_up()
    print(
        f"fraud engine speed — Python {platform.python_version()}, {platform.machine()}, one core, "
        f"n={args.n}, {args.seconds:g} s per part"
    )
    results = [PARTS[name](args) for name in (args.only or list(PARTS))]
    for result in results:
        report(result)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
