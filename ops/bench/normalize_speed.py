"""Benchmark: 名寄せ normalisation throughput, per kind and for ``build_identity`` (one core, in process).

    .venv/bin/python ops/bench/normalize_speed.py              # defaults: 20,000 unique values, best of 3
    .venv/bin/python ops/bench/normalize_speed.py --n 50000 --repeat 5

Two regimes:
* cold: every value is new (all ``lru_cache``s cleared, values unique): the cost of actually normalising;
* warm: a pool of 1,000 values called over and over: the cost when buyers, addresses and phones repeat (a cache hit).
A screening normalises two addresses, a name, a phone, an e-mail and an IP: the ``build_identity`` rows are
screenings/s. Inputs are generated (seeded) in the spelling styles seen in real orders: 丁目番地号, hyphens, kanji
numerals, full width, buildings and rooms, postal codes; kana in hiragana / katakana / half width; phones with
hyphens, parentheses, +81, full width; e-mails with case, plus tags, gmail dots.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import jaconv

from fraud.normalize import (
    address,
    build_identity,
    email,
    identity,
    name,
    normalize_address,
    normalize_email,
    normalize_name,
    normalize_phone,
    phone,
)
from fraud.normalize.data.prefectures import PREFECTURES
from fraud.types import OrderSnapshot

CACHES = [
    address.normalize_address,
    address._kanji_to_int,
    name.normalize_name,
    phone.normalize_phone,
    phone._parse,
    email.normalize_email,
    identity._ip,
]

CITIES = ["港区", "中央区", "新宿区", "横浜市中区", "大阪市北区", "札幌市中央区", "福岡市博多区", "八王子市", "一宮市"]
TOWNS = ["赤坂", "六本木", "三田", "四谷", "九段南", "霞が関", "自由ヶ丘", "梅田", "本町", "大字上野字下田", "丸の内"]
BUILDINGS = ["赤坂ビル", "パークハウス", "センタータワー", "メゾン桜", "コーポ山田", "グランドハイツ"]
SURNAMES = [("山田", "やまだ"), ("髙橋", "たかはし"), ("渡邊", "わたなべ"), ("佐藤", "さとう"), ("山﨑", "やまさき")]
SURNAMES += [("齋藤", "さいとう"), ("鈴木", "すずき"), ("田中", "たなか"), ("伊藤", "いとう"), ("中村", "なかむら")]
GIVEN = [("太郎", "たろう"), ("花子", "はなこ"), ("恵", "めぐみ"), ("翔太", "しょうた"), ("京子", "きょうこ")]
GIVEN += [("一郎", "いちろう"), ("美咲", "みさき"), ("大輔", "だいすけ"), ("由美", "ゆみ"), ("健", "けん")]
DOMAINS = ["gmail.com", "yahoo.co.jp", "docomo.ne.jp", "icloud.com", "example.co.jp", "mailinator.com", "outlook.jp"]
KANJI_DIGITS = "〇一二三四五六七八九"


def kanji_number(n: int) -> str:
    if n < 10:
        return KANJI_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else KANJI_DIGITS[tens]) + "十" + (KANJI_DIGITS[ones] if ones else "")


def gen_address(rng: random.Random, i: int) -> str:
    chome, ban, go = i % 9 + 1, (i // 9) % 50 + 1, i // 450 + 1  # unique per i whatever the place and style
    place = rng.choice(CITIES) + rng.choice(TOWNS)
    if rng.random() < 0.8:
        place = rng.choice(PREFECTURES) + place
    style = rng.randrange(5)
    if style == 0:
        text = f"{place}{chome}-{ban}-{go}"
    elif style == 1:
        text = f"{place}{chome}丁目{ban}番地{go}号"
    elif style == 2:
        text = f"{place}{kanji_number(chome)}丁目{ban}番{go}号"
    elif style == 3:
        text = jaconv.h2z(f"{place}{chome}-{ban}-{go}", digit=True, ascii=True)
    else:
        text = f"{place}{chome}丁目{ban}-{go}"
    if rng.random() < 0.5:
        text += f" {rng.choice(BUILDINGS)}{rng.randint(1, 20)}F {rng.randint(101, 1505)}号室"
    if rng.random() < 0.3:
        text = f"〒{rng.randint(100, 999)}-{rng.randint(0, 9999):04d} " + text
    return text


def gen_name(rng: random.Random, i: int) -> tuple[str, str | None]:
    (sk, sr), (gk, gr) = rng.choice(SURNAMES), rng.choice(GIVEN)
    style = rng.randrange(4)
    kanji = f"{sk} {gk}{i}" if style != 3 else f"{sk}{gk}{i}"
    if style == 0:
        return kanji, None
    reading = f"{sr} {gr}{i}"
    if style == 1:
        return kanji, jaconv.hira2kata(reading)
    if style == 2:
        return kanji, jaconv.z2h(jaconv.hira2kata(reading), kana=True, digit=True)
    return kanji, reading


def gen_phone(rng: random.Random, i: int) -> str:
    prefix = rng.choice(["090", "080", "070", "050", "03", "06"])
    body = f"{(12_345_678 + i * 7919) % 90_000_000 + 10_000_000}"  # a bijection on 8-digit bodies: unique per i
    national = prefix + body
    style = rng.randrange(4)
    if style == 0:
        return national
    if style == 1:
        return f"{national[:3]}-{national[3:7]}-{national[7:]}"
    if style == 2:
        return "+81 " + national[1:]
    return jaconv.h2z(f"{national[:3]}-{national[3:7]}-{national[7:]}", digit=True, ascii=True)


def gen_email(rng: random.Random, i: int) -> str:
    local = f"{rng.choice(['taro', 'hanako', 'k.suzuki', 'info'])}{i}"
    if rng.random() < 0.3:
        local += "+shop"
    if rng.random() < 0.3:
        local = local.upper()
    return f"{local}@{rng.choice(DOMAINS)}"


def gen_ip(rng: random.Random, i: int) -> str:
    if rng.random() < 0.1:
        return f"2001:db8:{i % 65536:x}::{rng.randint(1, 65535):x}"
    return f"{rng.choice([133, 8, 52, 126, 210, 192])}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def gen_snapshot(rng: random.Random, i: int) -> OrderSnapshot:
    buyer, kana = gen_name(rng, i)
    return OrderSnapshot(
        amount=rng.randint(500, 50_000),
        currency="JPY",
        buyer_name=buyer,
        buyer_name_kana=kana,
        email=gen_email(rng, i),
        phone=gen_phone(rng, i),
        billing_address=gen_address(rng, i),
        shipping_address=gen_address(rng, i + 1_000_000),
        ip=gen_ip(rng, i),
        device_id=f"dev-{i}",
    )


def clear_caches() -> None:
    for f in CACHES:
        f.cache_clear()


def rate(fn: Callable[[Any], Any], values: Sequence[Any], *, star: bool, cold: bool, repeat: int) -> float:
    """Best-of-``repeat`` calls per second of ``fn`` over ``values``."""
    best = float("inf")
    for _ in range(repeat):
        if cold:
            clear_caches()
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        if star:
            for v in values:
                fn(*v)
        else:
            for v in values:
                fn(v)
        best = min(best, time.perf_counter() - t0)
        gc.enable()
    return len(values) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="unique values per kind (cold)")
    parser.add_argument("--pool", type=int, default=1_000, help="distinct values in the warm pool")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    args = parser.parse_args()

    rng = random.Random(20261125)  # noqa: S311 - seeded test inputs, not secrets
    n = args.n
    cases: list[tuple[str, Callable[..., Any], list[Any], bool]] = [
        ("address", normalize_address, [gen_address(rng, i) for i in range(n)], False),
        ("name", normalize_name, [gen_name(rng, i) for i in range(n)], True),
        ("phone", normalize_phone, [gen_phone(rng, i) for i in range(n)], False),
        ("email", normalize_email, [gen_email(rng, i) for i in range(n)], False),
        ("ip_country", identity.ip_country, [gen_ip(rng, i) for i in range(n)], False),
        ("build_identity", build_identity, [gen_snapshot(rng, i) for i in range(n)], False),
    ]
    for label, _, values, _star in cases:
        assert len(set(values)) == len(values), f"{label}: inputs are not unique"

    print(f"one core, n={n:,} unique values per kind (cold), pool={args.pool:,} (warm), best of {args.repeat}")
    print(f"{'kind':<16}{'cold /s':>12}{'µs':>8}{'warm /s':>14}{'µs':>8}")
    for label, fn, values, star in cases:
        cold = rate(fn, values, star=star, cold=True, repeat=args.repeat)
        pool = values[: args.pool]
        warm_values = pool * max(1, (n * 5) // len(pool))
        rate(fn, pool, star=star, cold=True, repeat=1)  # fill the caches
        warm = rate(fn, warm_values, star=star, cold=False, repeat=args.repeat)
        unit = "screenings" if label == "build_identity" else "values"
        print(f"{label:<16}{cold:>12,.0f}{1e6 / cold:>8.1f}{warm:>14,.0f}{1e6 / warm:>8.2f}   {unit}")


if __name__ == "__main__":
    main()
