"""Benchmark: how well the fraud engine tells fraud from good orders.

    .venv/bin/python ops/bench/fraud_quality.py                    # synthetic stream: seed 42, 20,000 orders, 30 days
    .venv/bin/python ops/bench/fraud_quality.py --seed 7 --orders 50000 --policy candidate.json
    .venv/bin/python ops/bench/fraud_quality.py --write-sample sample.jsonl     # also write the stream as JSONL
    .venv/bin/python ops/bench/fraud_quality.py --input history.jsonl --policy candidate.json --json

Screens a labelled order stream in time order, as the screening service does, and prints precision, recall, review
rate and NG rate of the default policy (and of each ``--policy``) next to a naive baseline that flags every order of
¥30,000 or more; flagged = REVIEW or NG. It also prints recall per fraud pattern and the flag rate per kind of good
order. The ``--input`` format and the content of the synthetic stream: docs/fraud.md, "Measuring quality".

How one order is screened (``fraud.service.screen`` with the database replaced by memory):
1. its ``order`` (the screening API's request body) is validated and mapped to an ``OrderSnapshot`` by the API's own
   schema (``ScreeningCreate``), and normalised (``build_identity``) into its matching keys;
2. ``MemoryHistory.history(keys, time)`` answers what ``FraudRepository.history`` answers, over the orders screened
   before it, with the clock at the order's time;
3. list hits: the tenant's allow/block lists (``--lists``) and the negative database (``--negative``, plus the
   feedback below); external categories: the shipped data (``fraud.external.shipped_categories``);
4. ``evaluate_signals`` + ``decide`` under each policy;
5. its keys are recorded at its time. Every screening is recorded, whatever its verdict, as in the service.

Feedback (``--feedback-days``, default 7, 0 = off): the address, phone, email and device
(``fraud.service.NEGATIVE_KINDS``) of every order labelled fraud join the negative database that many days after the
order, as when a chargeback or the merchant's report confirms it. An analyst's rejection would be sooner and a
non-payment later; 7 days is in between. The registration does not depend on any verdict, so all policies are
measured against the same negative database.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import random
import re
import string
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

import jaconv
import kanjize
from pydantic import ValidationError

from app.http.schemas.fraud import ScreeningCreate
from fraud.backtest import Scores
from fraud.engine import decide
from fraud.errors import InvalidIdentifier
from fraud.external import shipped_categories
from fraud.normalize import build_identity
from fraud.policy import Policy, default_policy
from fraud.service import NEGATIVE_KINDS, canonical_key
from fraud.signals import evaluate_signals, warm_up
from fraud.types import (
    COUNT_CAP,
    WINDOWS,
    ExternalHits,
    History,
    IdKind,
    ListHits,
    OrderSnapshot,
    Window,
)

FLAGGED = frozenset({"REVIEW", "NG"})
BASELINE_AMOUNT = 30_000
JST = dt.timezone(dt.timedelta(hours=9))
DEFAULT_START = dt.datetime(2026, 10, 1, tzinfo=JST)
LABELS = {"fraud": True, "good": False, None: None}


class InputError(ValueError):
    """A labelled stream that cannot be read (the message names the line)."""


# -- the labelled stream -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelledOrder:
    time: dt.datetime  # timezone-aware
    label: bool | None  # True: fraud, False: good, None: unknown (screened and recorded, not scored)
    pattern: str | None  # free text, for the per-pattern breakdown
    snapshot: OrderSnapshot


def parse_record(obj: Any, where: str = "record") -> LabelledOrder:
    """One line of the JSONL format: ``{"time", "label", "pattern"?, "order"}`` → a ``LabelledOrder``.

    ``order`` is the screening API's request body, validated and mapped by the API's own schema, so a line the API
    would reject is rejected here too.
    """
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object")
    unknown = sorted(set(obj) - {"time", "label", "pattern", "order"})
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for required in ("time", "label", "order"):
        if required not in obj:
            raise InputError(f"{where}: missing {required!r}")
    text = obj["time"]
    try:
        if not isinstance(text, str):
            raise ValueError
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{where}: time must be an ISO 8601 timestamp, got {text!r}") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(f"{where}: time {text!r} has no UTC offset (write e.g. 2026-11-01T10:00:00+09:00)")
    label = obj["label"]
    if not (label is None or isinstance(label, str)) or label not in LABELS:
        raise InputError(f'{where}: label must be "fraud", "good" or null, got {label!r}')
    pattern = obj.get("pattern")
    if pattern is not None and not isinstance(pattern, str):
        raise InputError(f"{where}: pattern must be a string")
    try:
        request = ScreeningCreate.model_validate(obj["order"])
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "/".join(str(p) for p in first["loc"])
        raise InputError(f"{where}: order/{loc}: {first['msg']} ({exc.error_count()} error(s))") from None
    return LabelledOrder(at, LABELS[label], pattern, replace(request.snapshot(), ordered_at=at))


def in_time_order(orders: Iterable[LabelledOrder]) -> list[LabelledOrder]:
    """Sorted by time; orders at the same instant keep their order (the sort is stable)."""
    return sorted(orders, key=lambda o: o.time)


def read_jsonl(path: str | Path) -> list[LabelledOrder]:
    orders = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from None
            orders.append(parse_record(obj, f"{path}:{number}"))
    return in_time_order(orders)


def write_jsonl(path: str | Path, records: Iterable[Mapping[str, Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    return n


# -- history, lists and negative database in memory --------------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)
_VELOCITY_KINDS = (IdKind.ADDRESS, IdKind.PHONE, IdKind.EMAIL, IdKind.DEVICE, IdKind.IP)
_HOUR, _DAY, _WEEK = (WINDOWS[w] // _MICRO for w in (Window.HOUR, Window.DAY, Window.WEEK))


def _micros(at: dt.datetime) -> int:
    return (at - _EPOCH) // _MICRO


class MemoryHistory:
    """Earlier screenings by matching key, answering exactly what ``FraudRepository.history`` answers.

    The repository's semantics, per lookup: "the latest ``COUNT_CAP`` screenings sharing one identifier (since a
    time)", newest first; velocity counts are of those within 7 d, split by 1 h / 24 h (a kind with no screening in
    7 d is absent from ``counts``); the link counts are distinct other identifiers (not the order's own) among those
    latest screenings (names at the address and addresses for the phone in 7 d, names on the device in 7 d, names
    from the IP in 24 h); ``prior_orders`` counts screenings sharing the phone or the e-mail, any time, capped;
    ``address_known_for_buyer``: one of the latest ``COUNT_CAP`` screenings at the address (any time) shares the
    phone or the e-mail. Screenings must be recorded in time order, as the service records them.
    """

    def __init__(self) -> None:
        self._at: list[int] = []  # screening → time, µs since the epoch
        self._keys: list[dict[IdKind, str]] = []
        self._by_key: dict[tuple[IdKind, str], list[int]] = {}

    def __len__(self) -> int:
        return len(self._at)

    def record(self, keys: Mapping[IdKind, str], at: dt.datetime) -> None:
        t = _micros(at)
        if self._at and t < self._at[-1]:
            raise ValueError("screenings must be recorded in time order")
        i = len(self._at)
        self._at.append(t)
        self._keys.append(dict(keys))
        for kind, key in keys.items():
            self._by_key.setdefault((kind, key), []).append(i)

    def _latest(self, kind: IdKind, key: str, since: int | None) -> list[int]:
        ids = self._by_key.get((kind, key))
        if not ids:
            return []
        at = self._at
        out: list[int] = []
        for i in reversed(ids):
            if since is not None and at[i] < since:
                break
            out.append(i)
            if len(out) == COUNT_CAP:
                break
        return out

    def _distinct_others(self, keys: Mapping[IdKind, str], kind: IdKind, other: IdKind, since: int) -> int:
        key = keys.get(kind)
        if key is None:
            return 0
        own = keys.get(other)
        seen = {self._keys[i].get(other) for i in self._latest(kind, key, since)}
        seen.discard(None)
        seen.discard(own)
        return len(seen)

    def history(self, keys: Mapping[IdKind, str], now: dt.datetime) -> History:
        t = _micros(now)
        hour, day, week = t - _HOUR, t - _DAY, t - _WEEK
        at = self._at
        counts: dict[tuple[IdKind, Window], int] = {}
        for kind in _VELOCITY_KINDS:
            key = keys.get(kind)
            if key is None:
                continue
            rows = self._latest(kind, key, week)
            if rows:
                counts[(kind, Window.HOUR)] = sum(1 for i in rows if at[i] >= hour)
                counts[(kind, Window.DAY)] = sum(1 for i in rows if at[i] >= day)
                counts[(kind, Window.WEEK)] = len(rows)
        buyer = [(k, keys[k]) for k in (IdKind.PHONE, IdKind.EMAIL) if k in keys]
        prior: set[int] = set()
        for kind, key in buyer:
            prior.update(self._latest(kind, key, None))
        known = False
        if buyer and IdKind.ADDRESS in keys:
            known = any(
                self._keys[i].get(kind) == key
                for i in self._latest(IdKind.ADDRESS, keys[IdKind.ADDRESS], None)
                for kind, key in buyer
            )
        return History(
            counts=counts,
            names_at_address=self._distinct_others(keys, IdKind.ADDRESS, IdKind.NAME, week),
            addresses_for_phone=self._distinct_others(keys, IdKind.PHONE, IdKind.ADDRESS, week),
            identities_for_device=self._distinct_others(keys, IdKind.DEVICE, IdKind.NAME, week),
            identities_for_ip=self._distinct_others(keys, IdKind.IP, IdKind.NAME, day),
            prior_orders=min(len(prior), COUNT_CAP),
            address_known_for_buyer=known,
        )


@dataclass
class MemoryLists:
    """The tenant's allow/block lists and the negative database, keyed by matching key (the service keys them by
    a keyed hash of the same key). A negative entry counts from its registration time on."""

    allow: set[tuple[IdKind, str]] = field(default_factory=set)
    block: set[tuple[IdKind, str]] = field(default_factory=set)
    negative: dict[tuple[IdKind, str], int] = field(default_factory=dict)  # → registered at, µs

    def register_negative(self, kind: IdKind, key: str, at: dt.datetime | None = None) -> None:
        t = _micros(at) if at is not None else -(2**62)
        if t < self.negative.get((kind, key), 2**62):
            self.negative[(kind, key)] = t

    def hits(self, keys: Mapping[IdKind, str], now: dt.datetime) -> ListHits:
        allow = frozenset(k for k, v in keys.items() if (k, v) in self.allow) if self.allow else frozenset()
        block = frozenset(k for k, v in keys.items() if (k, v) in self.block) if self.block else frozenset()
        negative: frozenset[IdKind] = frozenset()
        if self.negative:
            t = _micros(now)
            negative = frozenset(k for k, v in keys.items() if self.negative.get((k, v), 2**62) <= t)
        if not (allow or block or negative):
            return _NO_HITS
        return ListHits(allow=allow, block=block, negative=negative)


_NO_HITS = ListHits()
_NO_EXTERNAL = ExternalHits()


def _rows(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    text = Path(path).read_text(encoding="utf-8")
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not c.strip() for c in row) or row[0].strip().startswith("#"):
            continue
        yield number, [c.strip() for c in row]


def _key(path: str | Path, number: int, kind_text: str, value: str) -> tuple[IdKind, str]:
    try:
        kind = IdKind(kind_text)
        return kind, canonical_key(kind, value)
    except (ValueError, InvalidIdentifier) as exc:
        raise InputError(f"{path}:{number}: {exc}") from None


def load_lists(path: str | Path, lists: MemoryLists) -> None:
    """``list,kind,value[,note]`` lines, as the list import takes them (``list`` = allow | block)."""
    for number, row in _rows(path):
        if number == 1 and [c.lower() for c in row[:3]] == ["list", "kind", "value"]:
            continue
        if len(row) not in (3, 4) or row[0] not in ("allow", "block"):
            raise InputError(f"{path}:{number}: expected allow|block,kind,value[,note]")
        entry = _key(path, number, row[1], row[2])
        (lists.allow if row[0] == "allow" else lists.block).add(entry)


def load_negative(path: str | Path, lists: MemoryLists) -> None:
    """``kind,value`` lines: identifiers already in the negative database before the stream starts."""
    for number, row in _rows(path):
        if number == 1 and [c.lower() for c in row[:2]] == ["kind", "value"]:
            continue
        if len(row) != 2:
            raise InputError(f"{path}:{number}: expected kind,value")
        lists.register_negative(*_key(path, number, row[0], row[1]))


# -- screening and scoring ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Verdicts of one policy over the stream. Headline figures are ``fraud.backtest.Scores`` (the backtest's own
    definitions); per pattern: orders, flagged, NG."""

    scores: Scores = field(default_factory=Scores)
    patterns: dict[tuple[bool, str], Counter[str]] = field(default_factory=dict)
    ng_fraud: int = 0
    false_positive_reasons: Counter[str] = field(default_factory=Counter)

    def add(self, order: LabelledOrder, verdict: str, reasons: Sequence[str] = ()) -> None:
        self.scores.add(verdict, order.label)
        if order.label is None:
            return
        if verdict == "NG" and order.label:
            self.ng_fraud += 1
        if verdict in FLAGGED and not order.label:
            self.false_positive_reasons.update(reasons)
        c = self.patterns.setdefault((order.label, order.pattern or "-"), Counter())
        c["orders"] += 1
        c["flagged"] += verdict in FLAGGED
        c["ng"] += verdict == "NG"

    def summary(self) -> dict[str, Any]:
        s = self.scores
        total = sum(s.verdicts.values()) or 1
        out = s.summary()
        out["flagged_rate"] = round((s.verdicts["REVIEW"] + s.verdicts["NG"]) / total, 4)
        out["good_flagged_rate"] = round(s.fp / (s.fp + s.tn), 4) if s.fp + s.tn else None
        out["ng_precision"] = round(self.ng_fraud / s.verdicts["NG"], 4) if s.verdicts["NG"] else None
        out["confusion"] = {"tp": s.tp, "fp": s.fp, "fn": s.fn, "tn": s.tn}
        for label, name in ((True, "fraud_patterns"), (False, "good_patterns")):
            out[name] = {
                pattern: {
                    "orders": c["orders"],
                    "flagged": c["flagged"],
                    "ng": c["ng"],
                    "flagged_rate": round(c["flagged"] / c["orders"], 4),
                }
                for (is_fraud, pattern), c in sorted(self.patterns.items())
                if is_fraud is label
            }
        out["false_positive_reasons"] = dict(self.false_positive_reasons.most_common(10))
        return out


def screen_stream(
    orders: Sequence[LabelledOrder],
    policies: Mapping[str, Policy],
    *,
    lists: MemoryLists | None = None,
    feedback: dt.timedelta | None = dt.timedelta(days=7),
    baseline_amount: int = BASELINE_AMOUNT,
) -> dict[str, Tally]:
    """Screen ``orders`` (in time order) under each policy and the amount baseline; ``{"baseline", *policies}`` →
    its tally. History and lists do not depend on the policy, so one pass serves every policy."""
    history = MemoryHistory()
    lists = lists if lists is not None else MemoryLists()
    baseline = Tally()
    tallies = {name: Tally() for name in policies}
    for order in orders:
        snapshot, now = order.snapshot, order.time
        identity = build_identity(snapshot)
        keys = identity.keys()
        past = history.history(keys, now)
        hits = lists.hits(keys, now)
        address_key = identity.delivery_address.key
        categories = shipped_categories(address_key) if address_key else frozenset()
        external = ExternalHits(categories) if categories else _NO_EXTERNAL
        baseline.add(order, "REVIEW" if snapshot.amount >= baseline_amount else "OK")
        for name, policy in policies.items():
            decision = decide(evaluate_signals(snapshot, identity, past, hits, external, policy), policy)
            tallies[name].add(order, decision.verdict.value, decision.reasons)
        history.record(keys, now)
        if order.label and feedback is not None:
            for kind in NEGATIVE_KINDS:
                if kind in keys:
                    lists.register_negative(kind, keys[kind], now + feedback)
    return {"baseline": baseline, **tallies}


def load_policy(path: str | Path) -> Policy:
    """A policy JSON in the shape of ``fraud/data/default_policy.json`` (``version`` optional)."""
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        if isinstance(body, dict):
            body.setdefault("version", 0)
        return Policy.model_validate(body)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InputError(f"{path}: not a valid policy: {exc}") from None


# -- the synthetic stream ----------------------------------------------------------------------------------------
#
# Everything below is fictional and generated from the seed alone (one random.Random, no set iteration), so a seed
# gives the same stream on every machine. Towns are real place names with made-up street numbers; the shipped
# external addresses are the fictional 見本 towns of fraud/data/external_addresses.csv.

# Share of the stream per fraud pattern (≈ 7 % fraud in all) and per special kind of good order.
FRAUD_SHARES = {
    "ring": 0.0175,  # one drop address written many ways, many names, a few devices, for days
    "forwarding": 0.0075,  # package-forwarding warehouses (the shipped fictional ones), often from abroad
    "velocity_burst": 0.011,  # one device and one IP, a new identity per order, within an hour
    "foreign": 0.010,  # Japanese name and address, overseas IP / foreign language / foreign timezone
    "stolen_identity": 0.010,  # a real customer's name and billing address, new phone and e-mail, ships elsewhere
    "disposable_email": 0.006,  # a disposable-mail domain, often with an 050 phone
    "bot": 0.008,  # scripted sessions: bot user agents or bare clients from hosting IPs
}
GOOD_SHARES = {"office": 0.020, "hotel": 0.004, "expat": 0.002}

FAMILY = [
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"), ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
    ("吉田", "ヨシダ"), ("山田", "ヤマダ"), ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"),
    ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"),
    ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"), ("石井", "イシイ"), ("小川", "オガワ"),
    ("前田", "マエダ"), ("岡田", "オカダ"), ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"), ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"),
    ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"), ("藤井", "フジイ"), ("金子", "カネコ"),
    ("岡本", "オカモト"), ("藤原", "フジワラ"), ("中野", "ナカノ"), ("三浦", "ミウラ"), ("原田", "ハラダ"),
    ("松田", "マツダ"), ("竹内", "タケウチ"), ("上田", "ウエダ"), ("髙橋", "タカハシ"), ("渡邊", "ワタナベ"),
]  # fmt: skip
GIVEN = [
    ("太郎", "タロウ"), ("翔太", "ショウタ"), ("大輔", "ダイスケ"), ("健太", "ケンタ"), ("拓也", "タクヤ"),
    ("直樹", "ナオキ"), ("誠", "マコト"), ("浩二", "コウジ"), ("大樹", "ダイキ"), ("蓮", "レン"), ("悠真", "ユウマ"),
    ("陽翔", "ハルト"), ("湊", "ミナト"), ("和也", "カズヤ"), ("隆", "タカシ"), ("修", "オサム"), ("博之", "ヒロユキ"),
    ("健一", "ケンイチ"), ("亮", "リョウ"), ("智也", "トモヤ"), ("正樹", "マサキ"), ("達也", "タツヤ"),
    ("一郎", "イチロウ"), ("花子", "ハナコ"), ("美咲", "ミサキ"), ("陽菜", "ヒナ"), ("結衣", "ユイ"),
    ("さくら", "サクラ"), ("葵", "アオイ"), ("愛", "アイ"), ("恵子", "ケイコ"), ("裕子", "ユウコ"), ("由美", "ユミ"),
    ("真由美", "マユミ"), ("明美", "アケミ"), ("直美", "ナオミ"), ("彩", "アヤ"), ("舞", "マイ"), ("千尋", "チヒロ"),
    ("美穂", "ミホ"), ("智子", "トモコ"), ("久美子", "クミコ"), ("結菜", "ユイナ"), ("凛", "リン"), ("芽依", "メイ"),
]  # fmt: skip
FOREIGN_NAMES = [  # (name as a foreign resident writes it, its katakana)
    ("Nguyen Van Nam", "グエン ヴァン ナム"), ("グエン・ティ・ラン", "グエン ティ ラン"), ("Wang Wei", "ワン ウェイ"),
    ("李 娜", "リ ナ"), ("Kim Minjun", "キム ミンジュン"), ("パク・ジウ", "パク ジウ"), ("John Smith", "ジョン スミス"),
    ("Maria Santos", "マリア サントス"), ("Arjun Singh", "アルジュン シン"), ("陳 浩", "チェン ハオ"),
    ("Tran Thi Mai", "チャン ティ マイ"), ("Emily Brown", "エミリー ブラウン"),
]  # fmt: skip
# (postal code, prefecture, city, town, area code, rural): real places, made-up numbers. Rural: 番地 numbering.
TOWNS = [
    ("154-0024", "東京都", "世田谷区", "三軒茶屋", "03", False),
    ("160-0023", "東京都", "新宿区", "西新宿", "03", False),
    ("113-0033", "東京都", "文京区", "本郷", "03", False),
    ("135-0061", "東京都", "江東区", "豊洲", "03", False),
    ("180-0004", "東京都", "武蔵野市", "吉祥寺本町", "0422", False),
    ("192-0083", "東京都", "八王子市", "旭町", "042", False),
    ("170-0013", "東京都", "豊島区", "東池袋", "03", False),
    ("143-0023", "東京都", "大田区", "山王", "03", False),
    ("220-0012", "神奈川県", "横浜市西区", "みなとみらい", "045", False),
    ("222-0033", "神奈川県", "横浜市港北区", "新横浜", "045", False),
    ("210-0007", "神奈川県", "川崎市川崎区", "駅前本町", "044", False),
    ("251-0025", "神奈川県", "藤沢市", "鵠沼石上", "0466", False),
    ("330-0063", "埼玉県", "さいたま市浦和区", "高砂", "048", False),
    ("343-0813", "埼玉県", "越谷市", "越ヶ谷", "048", False),
    ("260-0013", "千葉県", "千葉市中央区", "中央", "043", False),
    ("273-0005", "千葉県", "船橋市", "本町", "047", False),
    ("530-0001", "大阪府", "大阪市北区", "梅田", "06", False),
    ("542-0086", "大阪府", "大阪市中央区", "西心斎橋", "06", False),
    ("590-0077", "大阪府", "堺市堺区", "中瓦町", "072", False),
    ("650-0021", "兵庫県", "神戸市中央区", "三宮町", "078", False),
    ("662-0911", "兵庫県", "西宮市", "池田町", "0798", False),
    ("460-0008", "愛知県", "名古屋市中区", "栄", "052", False),
    ("450-0002", "愛知県", "名古屋市中村区", "名駅", "052", False),
    ("040-0011", "北海道", "函館市", "本町", "0138", False),
    ("080-0010", "北海道", "帯広市", "大通南", "0155", False),
    ("980-0021", "宮城県", "仙台市青葉区", "中央", "022", False),
    ("950-0087", "新潟県", "新潟市中央区", "東大通", "025", False),
    ("920-0853", "石川県", "金沢市", "本町", "076", False),
    ("420-0857", "静岡県", "静岡市葵区", "御幸町", "054", False),
    ("730-0011", "広島県", "広島市中区", "基町", "082", False),
    ("700-0024", "岡山県", "岡山市北区", "駅元町", "086", False),
    ("790-0001", "愛媛県", "松山市", "一番町", "089", False),
    ("810-0001", "福岡県", "福岡市中央区", "天神", "092", False),
    ("812-0011", "福岡県", "福岡市博多区", "博多駅前", "092", False),
    ("860-0806", "熊本県", "熊本市中央区", "花畑町", "096", False),
    ("890-0053", "鹿児島県", "鹿児島市", "中央町", "099", False),
    ("900-0015", "沖縄県", "那覇市", "久茂地", "098", False),
    ("310-0015", "茨城県", "水戸市", "宮町", "029", False),
    ("320-0811", "栃木県", "宇都宮市", "大通り", "028", False),
    ("370-0841", "群馬県", "高崎市", "栄町", "027", False),
    ("630-8115", "奈良県", "奈良市", "大宮町", "0742", False),
    ("760-0023", "香川県", "高松市", "寿町", "087", False),
    ("380-0836", "長野県", "長野市", "南県町", "026", False),
    ("386-0041", "長野県", "上田市", "秋和", "0268", True),
    ("399-8301", "長野県", "安曇野市", "穂高有明", "0263", True),
    ("969-3102", "福島県", "耶麻郡猪苗代町", "大字千代田", "0242", True),
    ("679-4161", "兵庫県", "たつの市", "龍野町富永", "0791", True),
    ("689-3211", "鳥取県", "西伯郡大山町", "御来屋", "0859", True),
    ("891-0402", "鹿児島県", "指宿市", "十町", "0993", True),
    ("949-6680", "新潟県", "南魚沼市", "六日町", "025", True),
]
OFFICE_TOWNS = [
    ("100-0005", "東京都", "千代田区", "丸の内"), ("100-0004", "東京都", "千代田区", "大手町"),
    ("163-0001", "東京都", "新宿区", "西新宿"), ("530-0001", "大阪府", "大阪市北区", "梅田"),
    ("450-0002", "愛知県", "名古屋市中村区", "名駅"), ("812-0011", "福岡県", "福岡市博多区", "博多駅前"),
]  # fmt: skip
BUILDING_HEAD = [
    "メゾン",
    "コーポ",
    "パークハウス",
    "グランドメゾン",
    "レジデンス",
    "ハイツ",
    "サンライズ",
    "ライオンズ",
]
BUILDING_STEM = ["桜", "青葉", "緑ヶ丘", "エスポワール", "ソレイユ", "朝日", "白樺", "若葉", "ひかり", "清風"]
OFFICE_BUILDING = ["ビルディング", "タワー", "センタービル", "スクエア", "第一ビル"]
COMPANY = ["株式会社見本商事", "見本工業株式会社", "見本システム株式会社", "合同会社見本企画"]
MAIL_DOMAINS = [
    ("gmail.com", 34), ("yahoo.co.jp", 20), ("icloud.com", 14), ("docomo.ne.jp", 7), ("ezweb.ne.jp", 5),
    ("softbank.ne.jp", 4), ("outlook.jp", 4), ("hotmail.co.jp", 3), ("au.com", 3), ("nifty.com", 2), ("ybb.ne.jp", 2),
    ("i.softbank.jp", 2),
]  # fmt: skip
FREE_MAIL = ["gmail.com", "yahoo.co.jp", "outlook.com", "outlook.jp", "icloud.com", "hotmail.com"]
DISPOSABLE = [
    "mailinator.com", "guerrillamail.com", "yopmail.com", "sharklasers.com", "10minutemail.com", "maildrop.cc",
    "temp-mail.org", "dispostable.com", "trashmail.com", "getnada.com",
]  # fmt: skip
# Public IPv4 /16s by country (checked against iptocc). JP_NAT: mobile carriers' CGNAT ranges.
JP_HOME = [
    "126.7", "126.40", "153.120", "153.156", "180.12", "180.46", "60.70", "60.118", "219.100", "114.160", "114.180",
    "1.72", "61.200", "202.216", "223.218", "118.8", "118.86", "122.16", "124.18", "221.240", "220.100", "210.138",
]  # fmt: skip
JP_NAT = ["49.96", "49.98", "49.104", "49.106", "106.128", "106.130", "106.133", "27.83", "126.193", "126.234"]
ABROAD = {  # country: (/16s, timezones, Accept-Language)
    "CN": (["36.110", "183.60", "123.125", "116.228"], ["Asia/Shanghai"], "zh-CN,zh;q=0.9"),
    "VN": (["14.161", "113.160", "27.72", "171.224"], ["Asia/Ho_Chi_Minh", "Asia/Bangkok"], "vi-VN,vi;q=0.9,en;q=0.8"),
    "US": (["45.76", "104.28", "34.102", "52.68"], ["America/Los_Angeles", "America/New_York"], "en-US,en;q=0.9"),
    "KR": (["211.234", "121.134"], ["Asia/Seoul"], "ko-KR,ko;q=0.9"),
    "TW": (["1.160", "111.248"], ["Asia/Taipei"], "zh-TW,zh;q=0.9"),
    "GB": (["51.140"], ["Europe/London"], "en-GB,en;q=0.9"),
}
MOBILE_UA = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "Line/14.16.0",
    "Mozilla/5.0 (Linux; Android 14; SO-51D) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SHG07) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
]
DESKTOP_UA = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 "
    "Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36",
]
BOT_UA = [
    "python-requests/2.32.3",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
    "axios/1.7.2",
]
JA_LANGUAGES = [("ja-JP,ja;q=0.9", 40), ("ja,en-US;q=0.9,en;q=0.8", 30), ("ja", 20), ("ja-JP", 8),
                ("en-US,en;q=0.9,ja;q=0.8", 2)]  # fmt: skip
RESIDENT_LANGUAGES = ["en-US,en;q=0.9", "zh-CN,zh;q=0.9,ja;q=0.8", "vi-VN,vi;q=0.9", "ko-KR,ko;q=0.9", "pt-BR,pt;q=0.9"]
# Orders per hour of the day (JST): quiet at night, a lunch peak, the evening peak.
HOUR_WEIGHTS = [3, 1.5, 1, 0.5, 0.5, 0.7, 1.5, 3, 4, 5, 6, 7, 8, 7, 6, 6, 6, 7, 8, 9, 10, 10, 8, 5]

_FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")
_MARK_BETWEEN = re.compile(r"(?<=\d)(?:丁目|番地|番)(?=\d)")
_MARK_END = re.compile(r"(?<=\d)(?:号|番地)$")
_NUMBER_BEFORE_MARK = re.compile(r"\d+(?=丁目|番地|番|号|条)")
_EXTERNAL = re.compile(r"^(.+?[都道府県])(.+?)(\d.*)$")


@dataclass(frozen=True, slots=True)
class Place:
    """A delivery point: its canonical spelling, split so that it can be written in other ways."""

    prefecture: str
    locality: str  # city + town
    block: str  # 4丁目3番2号, 123番地4, 2丁目13番地
    postal: str | None  # 123-4567
    building: tuple[str, str] | None = None  # (name, room) or (name, "") or None


def _hyphens(block: str) -> str:
    return _MARK_END.sub("", _MARK_BETWEEN.sub("-", block))


def _chome_then_hyphens(block: str) -> str:
    head, sep, tail = block.partition("丁目")
    return head + sep + _hyphens(tail) if sep else _hyphens(block)


def _kanji(block: str) -> str:
    return _NUMBER_BEFORE_MARK.sub(lambda m: kanjize.number2kanji(int(m.group())), block)


# Ways of writing a street number (丁目-番-号 / 番地), with how often a buyer and a ring write each.
BLOCK_STYLES: dict[str, tuple[Any, int, int]] = {
    "as_written": (lambda b: b, 34, 2),
    "hyphens": (_hyphens, 30, 2),
    "chome_then_hyphens": (_chome_then_hyphens, 12, 1),
    "banchi": (lambda b: re.sub(r"(?<=\d)番(?=\d)", "番地", b), 8, 1),
    "full_width": (lambda b: b.translate(_FULL_WIDTH), 5, 2),
    "full_width_hyphens": (lambda b: _hyphens(b).translate(_FULL_WIDTH), 6, 2),
    "no": (lambda b: _hyphens(b).replace("-", "の"), 3, 1),
    "kanji": (_kanji, 2, 2),
}  # fmt: skip


@dataclass
class Person:
    family: tuple[str, str]  # (kanji, kana) — or the foreign name and its kana
    given: tuple[str, str]
    home: Place
    phone: str | None
    email: str
    devices: list[tuple[str, str, bool]]  # (device id, user agent, mobile)
    home_ip: str
    language: str
    timezone: str | None
    household: int
    foreign: bool = False
    apartment: bool = False  # lives in a large apartment building (many households under one address key)
    recipients: list[tuple[Place, str]] = field(default_factory=list)  # gift recipients: (place, name)

    @property
    def name(self) -> str:
        return self.family[0] if self.foreign else self.family[0] + " " + self.given[0]

    @property
    def kana(self) -> str:
        return self.family[1] if self.foreign else self.family[1] + " " + self.given[1]


@dataclass(frozen=True, slots=True)
class _Actor:
    """A fraudster's identity for one order or a few."""

    name: str
    kana: str | None
    email: str
    phone: str | None
    home: Place


class SyntheticStream:
    """A labelled order stream for one seed: ``records()`` gives the JSONL objects, in time order."""

    def __init__(self, seed: int = 42, orders: int = 20_000, days: int = 30, start: dt.datetime = DEFAULT_START):
        if orders < 100:
            raise ValueError("at least 100 orders")
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
        self.seed, self.n, self.days, self.start = seed, orders, days, start
        self._hour_cum = list(_cumulative(HOUR_WEIGHTS))
        # The carriers' NAT addresses mobile buyers share: ~2 orders per address and day at 20,000 orders a month.
        self._nat = [self._ip(JP_NAT) for _ in range(96)]
        self._external = _external_places()
        self.people: list[Person] = []
        self._events: list[tuple[dt.datetime, int, dict[str, Any]]] = []
        # Identifiers handed out so far: two people never share an e-mail, a phone or a house by accident (only
        # where the stream means them to: households, apartment buildings, offices, rings' drops).
        self._taken: set[str] = set()
        self._records: list[dict[str, Any]] | None = None

    # -- helpers -------------------------------------------------------------------------------------------------
    def _ip(self, prefixes: Sequence[str]) -> str:
        return f"{self.rng.choice(prefixes)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"

    def _device_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def _unique(self, make: Callable[[], str], scope: str = "") -> str:
        """A value from ``make`` not handed out before (within ``scope``, e.g. a town for street numbers)."""
        value = scope + "\0" + make()
        while value in self._taken:
            value = scope + "\0" + make()
        self._taken.add(value)
        return value.partition("\0")[2]

    def _time(self, day: int | None = None) -> dt.datetime:
        rng = self.rng
        day = rng.randrange(self.days) if day is None else day
        hour = rng.choices(range(24), cum_weights=self._hour_cum)[0]
        return self.start + dt.timedelta(days=day, hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60))

    def _amount(self, median: float = 4_500, sigma: float = 0.95, low: int = 300, high: int = 55_000) -> int:
        value = math.exp(self.rng.gauss(math.log(median), sigma))
        return int(min(high, max(low, round(value, -1))))

    def _start(self, spare_days: int = 3) -> dt.datetime:
        """The start of a sequence of orders that may run on for ``spare_days`` (so it ends within the stream)."""
        return self._time(self.rng.randrange(max(1, self.days - spare_days)))

    def _fraud_amount(self, low: int, high: int) -> int:
        """A shop price (…,800 yen) between ``low`` and ``high`` + 5,000, at most the ¥55,000 order limit."""
        return min(54_800, int(round(self.rng.uniform(low, high + 5_000), -3)) - 200)

    def _place(self, *, building: float = 0.55, town: tuple[Any, ...] | None = None) -> Place:
        rng = self.rng
        postal, pref, city, name, _area, rural = town or rng.choice(TOWNS)
        if rural:
            block = self._unique(lambda: f"{rng.randint(1, 2999)}番地{rng.randint(1, 30)}", city + name)
            bld = (
                rng.choice(BUILDING_HEAD) + rng.choice(BUILDING_STEM),
                str(rng.randint(1, 2) * 100 + rng.randint(1, 6)),
            )
            return Place(pref, city + name, block, postal, bld if rng.random() < 0.1 else None)
        block = self._unique(
            lambda: f"{rng.randint(1, 9)}丁目{rng.randint(1, 30)}番{rng.randint(1, 25)}号", city + name
        )
        bld = None
        if rng.random() < building:
            room = f"{rng.randint(1, 12)}{rng.randint(1, 12):02d}"
            bld = (rng.choice(BUILDING_HEAD) + rng.choice(BUILDING_STEM), room)
        return Place(pref, city + name, block, postal, bld)

    def _phone(self, *, kind: str = "mobile", area: str = "03") -> str:
        rng = self.rng
        if kind == "mobile":
            return self._unique(lambda: f"0{rng.choice('789')}0-{rng.randint(1000, 9999)}-{rng.randint(0, 9999):04d}")
        if kind == "ip":
            return self._unique(lambda: f"050-{rng.randint(1000, 9999)}-{rng.randint(0, 9999):04d}")
        head = 10 - len(area) - 4  # digits between the area code and the last four (10 digits in all)
        return self._unique(
            lambda: f"{area}-{rng.randint(2 * 10 ** (head - 1), 10**head - 1)}-{rng.randint(0, 9999):04d}"
        )

    def _romaji(self, kana: str) -> str:
        return jaconv.kata2alphabet(kana.replace(" ", "")).replace("ー", "")

    def _email(self, family_kana: str, given_kana: str, domain: str | None = None) -> str:
        rng = self.rng
        family, given = self._romaji(family_kana), self._romaji(given_kana)
        if domain is None:
            domain = rng.choices([d for d, _ in MAIL_DOMAINS], weights=[w for _, w in MAIL_DOMAINS])[0]

        def make() -> str:
            local = rng.choice(
                [f"{given}.{family}{rng.randint(1, 99)}", f"{family}.{given}{rng.randint(1, 999)}",
                 f"{given}{rng.randint(1960, 2006)}{rng.choice(string.ascii_lowercase)}",
                 f"{given[0]}{family}{rng.randint(1, 9999)}", f"{family}_{given}{rng.randint(1, 999)}"]
            )  # fmt: skip
            return f"{local}@{domain}"

        return self._unique(make)

    def _junk_email(self, domains: Sequence[str] = FREE_MAIL) -> str:
        rng = self.rng
        alphabet = string.ascii_lowercase + string.digits
        return self._unique(lambda: "".join(rng.choices(alphabet, k=rng.randint(7, 12))) + "@" + rng.choice(domains))

    def _japanese_name(self) -> tuple[tuple[str, str], tuple[str, str]]:
        return self.rng.choice(FAMILY), self.rng.choice(GIVEN)

    def _actor(self, *, phone_ip: float = 0.3, email: str | None = None, place: Place | None = None) -> _Actor:
        rng = self.rng
        family, given = self._japanese_name()
        if email is None:
            email = (
                self._email(family[1], given[1], rng.choice(FREE_MAIL)) if rng.random() < 0.5 else self._junk_email()
            )
        phone = self._phone(kind="ip" if rng.random() < phone_ip else "mobile")
        return _Actor(family[0] + " " + given[0], family[1] + " " + given[1], email, phone, place or self._place())

    # -- writing an order as a buyer would -----------------------------------------------------------------------
    def _write_name(self, name: str, kana: str | None, *, variety: float = 1.0) -> tuple[str, str | None]:
        rng = self.rng
        sep = rng.choices([" ", "\u3000", ""], weights=[5, 4, 1])[0]
        name = name.replace(" ", sep) if not name.isascii() else name
        if kana is None or rng.random() < 0.02 * variety:
            return name, None
        kana = kana.replace(" ", sep)
        r = rng.random()
        if r < 0.10 * variety:
            kana = jaconv.kata2hira(kana)
        elif r < 0.13 * variety:
            kana = jaconv.z2h(kana, kana=True, ascii=False, digit=False)
        return name, kana

    def _write_phone(self, phone: str | None) -> str | None:
        if phone is None:
            return None
        rng = self.rng
        r = rng.random()
        if r < 0.55:
            return phone
        if r < 0.80:
            return phone.replace("-", "")
        if r < 0.88:
            return phone.translate(_FULL_WIDTH)
        if r < 0.93:
            return "+81 " + phone[1:]
        return phone.replace("-", " ")

    def _write_email(self, email: str) -> str:
        return email[0].upper() + email[1:] if self.rng.random() < 0.04 else email

    def _write_address(
        self, place: Place, *, ring: bool = False, no_prefecture: float = 0.03
    ) -> tuple[str | None, str]:
        """(postal code field, address text) in one of the ways people write the same place."""
        rng = self.rng
        styles = list(BLOCK_STYLES.values())
        write = rng.choices([s[0] for s in styles], weights=[s[2] if ring else s[1] for s in styles])[0]
        block = write(place.block)
        locality = place.locality
        if "ヶ" in locality and rng.random() < 0.3:
            locality = locality.replace("ヶ", rng.choice("ケが"))
        if "大字" in locality and rng.random() < 0.5:
            locality = locality.replace("大字", "")
        prefecture = "" if rng.random() < no_prefecture else place.prefecture
        text = prefecture + locality + block
        if place.building is not None and rng.random() < 0.95:
            name, room = place.building
            if room:
                room = rng.choice([room, room + "号室", room.translate(_FULL_WIDTH), room + "号室", "#" + room])
            sep = rng.choices([" ", "\u3000", ""], weights=[6, 3, 1])[0]
            text += sep + name + rng.choice(["", " "]) + room
        postal_field: str | None = place.postal
        r = rng.random()
        if place.postal is None or r < 0.08:
            postal_field = None
        elif r < 0.16:
            postal_field, text = None, f"〒{place.postal} {text}"
        elif r < 0.36:
            postal_field = place.postal.replace("-", "")
        return postal_field, text

    def _emit(
        self,
        at: dt.datetime,
        label: str,
        pattern: str,
        amount: int,
        *,
        name: str,
        kana: str | None,
        email: str | None,
        phone: str | None,
        home: Place,
        ship: Place | None = None,
        ship_name: str | None = None,
        ip: str | None,
        user_agent: str | None,
        language: str | None,
        timezone: str | None,
        device_id: str | None,
        ring: bool = False,
        no_prefecture: float = 0.03,
    ) -> None:
        name, kana = self._write_name(name, kana)
        postal, address = self._write_address(home, ring=ring, no_prefecture=no_prefecture)
        shipping = None
        if ship is not None:
            ship_postal, ship_address = self._write_address(ship, ring=ring, no_prefecture=no_prefecture)
            shipping = {"name": ship_name, "postal_code": ship_postal, "address": ship_address}
        order = {
            "order_id": "",
            "amount": amount,
            "currency": "JPY",
            "buyer": {
                "name": name,
                "name_kana": kana,
                "email": self._write_email(email) if email else None,
                "phone": self._write_phone(phone),
                "postal_code": postal,
                "address": address,
            },
            "shipping": shipping,
            "device": {
                "ip": ip,
                "user_agent": user_agent,
                "accept_language": language,
                "timezone": timezone,
                "device_id": device_id,
            },
        }
        self._events.append((at, len(self._events), {"time": "", "label": label, "pattern": pattern, "order": order}))

    # -- good orders -----------------------------------------------------------------------------------------------
    def _new_person(self, home: Place, family: tuple[str, str], home_ip: str, household: int, area: str) -> Person:
        rng = self.rng
        given = rng.choice(GIVEN)
        phone_kind = rng.choices(["mobile", "fixed", "ip", "none"], weights=[80, 15, 4, 1])[0]
        phone = None if phone_kind == "none" else self._phone(kind=phone_kind, area=area)
        email = self._email(family[1], given[1])
        if rng.random() < 0.002:
            email = self._email(family[1], given[1], rng.choice(DISPOSABLE))  # a careful, legitimate buyer
        devices = [(self._device_id(), rng.choice(MOBILE_UA), True)]
        if rng.random() < 0.5:
            devices.append((self._device_id(), rng.choice(DESKTOP_UA), False))
        language = rng.choices([lang for lang, _ in JA_LANGUAGES], weights=[w for _, w in JA_LANGUAGES])[0]
        timezone = rng.choices(["Asia/Tokyo", "540", None], weights=[92, 5, 3])[0]
        return Person(family, given, home, phone, email, devices, home_ip, language, timezone, household)

    def _population(self, n_people: int) -> None:
        """Households of customers; a few percent live in large apartment buildings (one address key, many rooms)
        or are foreign residents."""
        rng = self.rng
        towers = [
            self._place(building=1.0, town=rng.choice([t for t in TOWNS if not t[5]]))
            for _ in range(max(2, n_people // 1500))
        ]
        while len(self.people) < n_people:
            town = rng.choice(TOWNS)
            home = self._place(town=town)
            in_tower = rng.random() < 0.02
            if in_tower:
                tower = rng.choice(towers)
                assert tower.building is not None
                room = self._unique(
                    lambda: f"{rng.randint(2, 40)}{rng.randint(1, 20):02d}", tower.locality + tower.block
                )
                home = replace(tower, building=(tower.building[0], room))
            home_ip = self._ip(JP_HOME)
            if rng.random() < 0.03:  # foreign residents: their own language, Japan's timezone
                for _ in range(rng.choice([1, 1, 2])):
                    name, kana = rng.choice(FOREIGN_NAMES)
                    p = self._new_person(home, (name, kana), home_ip, 1, town[4])
                    p.foreign, p.language = True, rng.choice(RESIDENT_LANGUAGES)
                    self.people.append(p)
                continue
            size = rng.choices([1, 2, 3, 4, 5], weights=[48, 26, 13, 9, 4])[0]
            size = 1 + sum(rng.random() < 0.5 for _ in range(size - 1))  # members who buy from this merchant
            family = rng.choice(FAMILY)
            shared_pc = (self._device_id(), rng.choice(DESKTOP_UA), False) if size > 1 and rng.random() < 0.3 else None
            fixed = self._phone(kind="fixed", area=town[4]) if size > 1 and rng.random() < 0.2 else None
            for _ in range(size):
                p = self._new_person(home, family, home_ip, size, town[4])
                p.apartment = in_tower
                if shared_pc is not None:
                    p.devices.append(shared_pc)
                if fixed is not None and rng.random() < 0.5:
                    p.phone = fixed  # the household's landline
                self.people.append(p)
        # How often each customer orders: heavy-tailed, capped (a handful of customers order every few days).
        self._activity = list(_cumulative(min(8.0, math.exp(rng.gauss(0, 0.8))) for _ in self.people))

    def _person(self) -> Person:
        return self.rng.choices(self.people, cum_weights=self._activity)[0]

    def _browse(self, p: Person) -> tuple[str, str | None, str, bool]:
        """(device id, user agent, IP, via the carrier's NAT) of one visit."""
        rng = self.rng
        device_id, ua, mobile = p.devices[0] if rng.random() < 0.65 else rng.choice(p.devices)
        if rng.random() < 0.03:
            device_id = self._device_id()  # cookies cleared
        nat = mobile and rng.random() < 0.45
        return device_id, (None if rng.random() < 0.003 else ua), rng.choice(self._nat) if nat else p.home_ip, nat

    def _everyday(self, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            p = self._person()
            at = self._time()
            device_id, ua, ip, nat = self._browse(p)
            amount = self._amount()
            ship, ship_name = None, None
            if rng.random() < 0.07:
                if not p.recipients or rng.random() < 0.35:
                    if rng.random() < 0.5:
                        recipient = p.family[0] + " " + rng.choice(GIVEN)[0]
                    else:
                        family, given = self._japanese_name()
                        recipient = family[0] + " " + given[0]
                    p.recipients.append((self._place(), recipient))
                ship, ship_name = rng.choice(p.recipients)
            if p.foreign:
                pattern = "foreign_resident"
            elif ship is not None:
                pattern = "gift"
            elif p.apartment:
                pattern = "apartment_building"
            elif p.household >= 3:
                pattern = "household"
            elif amount >= BASELINE_AMOUNT:
                pattern = "high_amount"
            elif nat:
                pattern = "carrier_nat"
            else:
                pattern = "regular"
            phone = p.phone
            if phone is not None and rng.random() < 0.003:
                phone = phone[:-1]  # a typo: one digit short
            self._emit(
                at, "good", pattern, amount, name=p.name, kana=p.kana, email=p.email, phone=phone, home=p.home,
                ship=ship, ship_name=ship_name, ip=ip, user_agent=ua, language=p.language, timezone=p.timezone,
                device_id=device_id,
            )  # fmt: skip

    def _offices(self, count: int) -> None:
        """Employees having parcels delivered to work: many names at one address, one corporate IP."""
        rng = self.rng
        offices = []
        for _ in range(max(1, round(count / 45))):
            postal, pref, city, town = rng.choice(OFFICE_TOWNS)
            block = self._unique(
                lambda: f"{rng.randint(1, 3)}丁目{rng.randint(1, 12)}番{rng.randint(1, 9)}号", city + town
            )
            building = (town.replace("の", "") + rng.choice(OFFICE_BUILDING), f"{rng.randint(2, 30)}階")
            staff = [self._person() for _ in range(rng.randint(8, 25))]
            offices.append((Place(pref, city + town, block, postal, building), self._ip(JP_HOME), staff))
        workdays = [d for d in range(self.days) if (self.start + dt.timedelta(days=d)).weekday() < 5]
        workdays = workdays or list(range(self.days))
        for _ in range(count):
            place, office_ip, staff = rng.choice(offices)
            p = rng.choice(staff)
            day = rng.choice(workdays)
            minutes = rng.randint(11 * 60 + 30, 13 * 60 + 30) if rng.random() < 0.6 else rng.randint(9 * 60, 18 * 60)
            at = self.start + dt.timedelta(days=day, minutes=minutes, seconds=rng.randrange(60))
            device_id, ua, ip, _ = self._browse(p)
            if rng.random() < 0.6:
                ip = office_ip
            ship_name = p.name if rng.random() < 0.7 else f"{rng.choice(COMPANY)} {p.name}"
            self._emit(
                at, "good", "office", self._amount(), name=p.name, kana=p.kana, email=p.email, phone=p.phone,
                home=p.home, ship=place, ship_name=ship_name, ip=ip, user_agent=ua, language=p.language,
                timezone=p.timezone, device_id=device_id,
            )  # fmt: skip

    def _hotels(self, count: int) -> None:
        """Business travellers having parcels sent to their hotel (the shipped hotel address)."""
        rng = self.rng
        hotel_ip = self._ip(JP_HOME)
        for _ in range(count):
            p = self._person()
            hotel = replace(
                rng.choice(self._external["hotel"]), building=("ホテル見本新宿", rng.choice(["", "フロント気付"]))
            )
            device_id, ua, ip, _ = self._browse(p)
            self._emit(
                self._time(), "good", "hotel", self._amount(), name=p.name, kana=p.kana, email=p.email,
                phone=p.phone, home=p.home, ship=hotel, ship_name=p.name, ip=hotel_ip if rng.random() < 0.5 else ip,
                user_agent=ua, language=p.language, timezone=p.timezone, device_id=device_id,
            )  # fmt: skip

    def _expats(self, count: int) -> None:
        """Japanese living abroad, registered at their family's home, ordering from abroad (often as gifts)."""
        rng = self.rng
        made = 0
        while made < count:
            country = rng.choice(["US", "US", "GB", "KR", "TW", "CN"])
            prefixes, zones, foreign_language = ABROAD[country]
            family, given = self._japanese_name()
            home = self._place()
            email, phone = self._email(family[1], given[1], "gmail.com"), self._phone()
            device_id, ua = self._device_id(), rng.choice(DESKTOP_UA + MOBILE_UA)
            ip, tz = self._ip(prefixes), rng.choice(zones)
            language = rng.choice(["ja-JP,ja;q=0.9", "ja-JP,ja;q=0.9", "ja-JP,ja;q=0.9", foreign_language])
            for _ in range(min(count - made, rng.randint(1, 3))):
                ship, ship_name = None, None
                if rng.random() < 0.6:
                    ship, ship_name = self._place(), family[0] + " " + rng.choice(GIVEN)[0]
                self._emit(
                    self._time(), "good", "expat", self._amount(), name=family[0] + " " + given[0],
                    kana=family[1] + " " + given[1], email=email, phone=phone, home=home, ship=ship,
                    ship_name=ship_name, ip=ip, user_agent=ua, language=language, timezone=tz, device_id=device_id,
                )  # fmt: skip
                made += 1

    # -- fraud -----------------------------------------------------------------------------------------------------
    def _rings(self, count: int) -> None:
        """A ring has parcels sent to one drop address (sometimes two), writing it many ways, under many names,
        from a few devices and IPs, in sessions over days."""
        rng = self.rng
        made = 0
        while made < count:
            drops = [self._place(building=1.0)]
            if rng.random() < 0.3:
                drops.append(self._place(building=1.0))
            devices = [(self._device_id(), rng.choice(DESKTOP_UA + MOBILE_UA)) for _ in range(rng.randint(2, 3))]
            ips = [self._ip(JP_HOME) for _ in range(2)]
            phones = [self._phone(kind="ip" if rng.random() < 0.4 else "mobile") for _ in range(3)]
            names: list[tuple[str, str]] = []
            first = rng.randrange(max(1, self.days - 3))
            span = rng.randint(2, 12)
            size = min(count - made, rng.randint(12, 40))
            done = 0
            while done < size:
                at = self._time(min(self.days - 1, first + rng.randrange(span)))
                for _ in range(min(size - done, rng.choice([1, 1, 2, 3, 4, 5]))):
                    at += dt.timedelta(minutes=rng.randint(2, 20), seconds=rng.randrange(60))
                    if names and rng.random() < 0.25:
                        name, kana = rng.choice(names)
                    else:
                        family, given = self._japanese_name()
                        name, kana = family[0] + " " + given[0], family[1] + " " + given[1]
                        names.append((name, kana))
                    phone = (
                        rng.choice(phones)
                        if rng.random() < 0.4
                        else self._phone(kind="ip" if rng.random() < 0.35 else "mobile")
                    )
                    drop = rng.choice(drops)
                    home, ship, ship_name = drop, None, None
                    if rng.random() < 0.5:
                        home, ship, ship_name = (
                            self._place(),
                            drop,
                            name if rng.random() < 0.7 else rng.choice(names)[0],
                        )
                    device_id, ua = rng.choice(devices)
                    family_kana, given_kana = kana.split()
                    email = (
                        self._junk_email()
                        if rng.random() < 0.5
                        else self._email(family_kana, given_kana, rng.choice(FREE_MAIL))
                    )
                    self._emit(
                        at, "fraud", "ring", self._fraud_amount(15_000, 50_000), name=name, kana=kana, email=email,
                        phone=phone, home=home, ship=ship, ship_name=ship_name,
                        ip=rng.choice(self._nat) if rng.random() < 0.2 else rng.choice(ips), user_agent=ua,
                        language="ja-JP,ja;q=0.9", timezone="Asia/Tokyo", device_id=device_id, ring=True,
                        no_prefecture=0.1,
                    )  # fmt: skip
                    done += 1
            made += size

    def _forwarding(self, count: int) -> None:
        """Parcels to package-forwarding warehouses, for resale abroad: half from abroad, half through a Japanese
        VPN with a Japanese browser."""
        rng = self.rng
        made = 0
        while made < count:
            warehouse = rng.choice(self._external["forwarding"])
            member = f"{rng.choice(['MX', 'KX', 'JP'])}-{rng.randint(10000, 99999)}"
            ship = replace(warehouse, building=(rng.choice(["ミホン倉庫", "見本ロジセンター"]), member))
            country = rng.choice(["CN", "CN", "VN", "US"])
            prefixes, zones, foreign_language = ABROAD[country]
            abroad = rng.random() < 0.5
            actor = self._actor(phone_ip=0.5)
            device_id, ua = self._device_id(), rng.choice(DESKTOP_UA)
            ip = self._ip(prefixes) if abroad else self._ip(JP_HOME)
            day = rng.randrange(self.days)
            for _ in range(min(count - made, rng.randint(1, 4))):
                self._emit(
                    self._time(min(self.days - 1, day + rng.randrange(3))), "fraud", "forwarding",
                    self._fraud_amount(20_000, 50_000), name=actor.name, kana=actor.kana, email=actor.email,
                    phone=actor.phone, home=actor.home, ship=ship, ship_name=actor.name, ip=ip, user_agent=ua,
                    language=foreign_language if abroad else "ja-JP,ja;q=0.9",
                    timezone=rng.choice(zones) if abroad else "Asia/Tokyo", device_id=device_id, ring=True,
                )  # fmt: skip
                made += 1

    def _bursts(self, count: int) -> None:
        """One device and one IP, a new identity per order, many orders within an hour or so."""
        rng = self.rng
        made = 0
        while made < count:
            device_id, ua = self._device_id(), rng.choice(DESKTOP_UA + MOBILE_UA)
            ip = self._ip(JP_HOME)
            at = self._start()
            for _ in range(min(count - made, rng.randint(6, 18))):
                at += dt.timedelta(minutes=rng.randint(1, 8), seconds=rng.randrange(60))
                actor = self._actor()
                self._emit(
                    at, "fraud", "velocity_burst", self._fraud_amount(5_000, 30_000), name=actor.name,
                    kana=actor.kana, email=actor.email, phone=actor.phone, home=actor.home, ip=ip, user_agent=ua,
                    language="ja-JP,ja;q=0.9", timezone="Asia/Tokyo", device_id=device_id, ring=True,
                )  # fmt: skip
                made += 1

    def _foreign(self, count: int) -> None:
        """Orders placed from abroad under a Japanese name and address, with more or less care to hide it."""
        rng = self.rng
        drops = [self._place(building=0.9) for _ in range(max(2, count // 6))]
        made = 0
        while made < count:
            country = rng.choice(["CN", "CN", "VN", "VN", "US", "KR", "TW"])
            prefixes, zones, foreign_language = ABROAD[country]
            care = rng.choices(["none", "vpn", "timezone", "both"], weights=[55, 20, 15, 10])[0]
            ip = self._ip(JP_HOME) if care == "vpn" else self._ip(prefixes)
            language = "ja-JP,ja;q=0.9" if care == "both" else foreign_language
            timezone = "Asia/Tokyo" if care in ("timezone", "both") else rng.choice(zones)
            email = self._junk_email(["qq.com", "163.com"]) if country == "CN" and rng.random() < 0.3 else None
            actor = self._actor(email=email, place=rng.choice(drops) if rng.random() < 0.5 else None)
            device_id, ua = self._device_id(), rng.choice(DESKTOP_UA + MOBILE_UA)
            day = rng.randrange(self.days)
            for _ in range(min(count - made, rng.randint(1, 3))):
                self._emit(
                    self._time(min(self.days - 1, day + rng.randrange(2))), "fraud", "foreign",
                    self._fraud_amount(10_000, 50_000), name=actor.name, kana=actor.kana, email=actor.email,
                    phone=actor.phone, home=actor.home, ip=ip, user_agent=ua, language=language, timezone=timezone,
                    device_id=device_id, ring=True,
                )  # fmt: skip
                made += 1

    def _stolen(self, count: int) -> None:
        """A real customer's name and billing address with a new phone and e-mail, shipped to a drop (a few drops
        are the shipped weekly-mansion, vacant and post-office addresses)."""
        rng = self.rng
        drops = [self._place(building=0.9) for _ in range(max(2, count // 6))]
        drops += [self._external[c][0] for c in ("weekly_mansion", "vacant", "po_box") if self._external.get(c)]
        made = 0
        while made < count:
            victim = self._person()
            drop = rng.choice(drops)
            email = (
                self._junk_email()
                if rng.random() < 0.5
                else self._email(victim.family[1], victim.given[1], rng.choice(FREE_MAIL))
            )
            phone = self._phone(kind="ip" if rng.random() < 0.4 else "mobile")
            device_id, ua = self._device_id(), rng.choice(DESKTOP_UA + MOBILE_UA)
            ip = self._ip(JP_HOME) if rng.random() < 0.6 else rng.choice(self._nat)
            at = self._start()
            for _ in range(min(count - made, rng.choice([1, 1, 2]))):
                at += dt.timedelta(minutes=rng.randint(5, 300))
                if victim.foreign or rng.random() < 0.6:
                    ship_name = victim.name
                else:
                    family, given = self._japanese_name()
                    ship_name = family[0] + " " + given[0]
                self._emit(
                    at, "fraud", "stolen_identity", self._fraud_amount(20_000, 50_000), name=victim.name,
                    kana=victim.kana, email=email, phone=phone, home=victim.home, ship=drop, ship_name=ship_name,
                    ip=ip, user_agent=ua, language="ja-JP,ja;q=0.9", timezone="Asia/Tokyo", device_id=device_id,
                )  # fmt: skip
                made += 1

    def _disposable(self, count: int) -> None:
        """A made-up Japanese identity with an address at a disposable-mail domain, often an 050 phone."""
        rng = self.rng
        made = 0
        while made < count:
            actor = self._actor(phone_ip=0.4, email=self._junk_email(DISPOSABLE))
            device_id, ua = self._device_id(), rng.choice(DESKTOP_UA + MOBILE_UA)
            ip = self._ip(JP_HOME) if rng.random() < 0.7 else rng.choice(self._nat)
            at = self._start()
            for _ in range(min(count - made, rng.choice([1, 1, 2]))):
                at += dt.timedelta(hours=rng.randint(1, 30))
                self._emit(
                    at, "fraud", "disposable_email", self._fraud_amount(5_000, 40_000), name=actor.name,
                    kana=actor.kana, email=actor.email, phone=actor.phone, home=actor.home, ip=ip, user_agent=ua,
                    language="ja-JP,ja;q=0.9", timezone="Asia/Tokyo", device_id=device_id,
                )  # fmt: skip
                made += 1

    def _bots(self, count: int) -> None:
        """Scripted sessions from hosting IPs: a bot user agent, or a browser's with bare headers."""
        rng = self.rng
        made = 0
        while made < count:
            ip = self._ip(ABROAD["US"][0]) if rng.random() < 0.5 else self._ip(JP_HOME)
            ua = rng.choice(BOT_UA) if rng.random() < 0.7 else rng.choice(DESKTOP_UA)
            language = rng.choices([None, "en-US,en;q=0.9", "ja-JP,ja;q=0.9"], weights=[50, 25, 25])[0]
            timezone = rng.choices([None, "UTC", "Asia/Tokyo"], weights=[60, 20, 20])[0]
            cookie = self._device_id() if rng.random() < 0.3 else None
            at = self._start()
            for _ in range(min(count - made, rng.randint(5, 15))):
                at += dt.timedelta(seconds=rng.randint(20, 240))
                email = self._junk_email(DISPOSABLE) if rng.random() < 0.3 else None
                actor = self._actor(email=email)
                self._emit(
                    at, "fraud", "bot", self._fraud_amount(3_000, 30_000), name=actor.name, kana=actor.kana,
                    email=actor.email, phone=actor.phone, home=actor.home, ip=ip, user_agent=ua, language=language,
                    timezone=timezone, device_id=cookie if cookie or rng.random() < 0.5 else self._device_id(),
                )  # fmt: skip
                made += 1

    # -- the stream ----------------------------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """The stream as JSONL objects, in time order, order ids ``Q<seed>-<n>`` in that order (generated once)."""
        if self._records is not None:
            return self._records
        n = self.n
        fraud = {p: max(1, round(n * share)) for p, share in FRAUD_SHARES.items()}
        special = {p: max(1, round(n * share)) for p, share in GOOD_SHARES.items()}
        everyday = n - sum(fraud.values()) - sum(special.values())
        self._events = []
        self.people = []
        self._population(max(50, everyday // 2))
        self._everyday(everyday)
        self._offices(special["office"])
        self._hotels(special["hotel"])
        self._expats(special["expat"])
        self._rings(fraud["ring"])
        self._forwarding(fraud["forwarding"])
        self._bursts(fraud["velocity_burst"])
        self._foreign(fraud["foreign"])
        self._stolen(fraud["stolen_identity"])
        self._disposable(fraud["disposable_email"])
        self._bots(fraud["bot"])
        out = []
        for i, (at, _, record) in enumerate(sorted(self._events, key=lambda e: (e[0], e[1]))):
            record["time"] = at.isoformat(timespec="seconds")
            record["order"]["order_id"] = f"Q{self.seed}-{i:06d}"
            out.append(record)
        self._records = out
        return out


def _cumulative(weights: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for w in weights:
        total += w
        yield total


def _external_places() -> dict[str, list[Place]]:
    """The shipped external addresses (fictional 見本 towns) by category, as places."""
    out: dict[str, list[Place]] = {}
    text = files("fraud").joinpath("data/external_addresses.csv").read_text(encoding="utf-8")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        category, _, address = line.partition(",")
        m = _EXTERNAL.match(address)
        if m is not None:
            out.setdefault(category, []).append(Place(m.group(1), m.group(2), m.group(3), None))
    return out


def synthetic_orders(seed: int = 42, orders: int = 20_000, days: int = 30) -> list[LabelledOrder]:
    return [
        parse_record(r, f"synthetic order {i}") for i, r in enumerate(SyntheticStream(seed, orders, days).records())
    ]


# -- report --------------------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def report(results: Mapping[str, Mapping[str, Any]], baseline_amount: int) -> str:
    names = list(results)
    headers = [f"baseline (≥ ¥{baseline_amount:,})" if n == "baseline" else n for n in names]
    width = max(14, *(len(h) for h in headers))
    lines: list[str] = []

    def row(label: str, cells: Iterable[str]) -> None:
        lines.append(f"  {label:<34}" + "".join(f"{c:>{width + 2}}" for c in cells))

    row("", headers)
    for label, key in (
        ("precision (fraud among flagged)", "precision"),
        ("recall (fraud flagged)", "recall"),
        ("flagged (REVIEW + NG)", "flagged_rate"),
        ("review rate", "review_rate"),
        ("NG rate", "ng_rate"),
        ("good orders flagged", "good_flagged_rate"),
        ("NG precision (fraud among NG)", "ng_precision"),
    ):
        row(label, (_pct(results[n][key]) for n in names))
    for title, key in (
        ("recall per fraud pattern", "fraud_patterns"),
        ("flagged per kind of good order", "good_patterns"),
    ):
        patterns = sorted({p for n in names for p in results[n][key]})
        if not patterns:
            continue
        lines.append(f"\n  {title}")
        for pattern in patterns:
            cells = []
            for n in names:
                c = results[n][key].get(pattern)
                cells.append(_pct(c["flagged_rate"]) if c else "-")
            orders = next(results[n][key][pattern]["orders"] for n in names if pattern in results[n][key])
            row(f"  {pattern} ({orders:,})", cells)
    for n in names:
        reasons = results[n]["false_positive_reasons"]
        if reasons:
            lines.append(
                f"\n  {n}: reasons in flagged good orders: " + ", ".join(f"{c} {k}" for c, k in reasons.items())
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fraud screening quality: policies against an amount baseline.")
    parser.add_argument("--seed", type=int, default=42, help="Seed of the synthetic stream.")
    parser.add_argument("--orders", type=int, default=20_000, help="Orders in the synthetic stream.")
    parser.add_argument("--days", type=int, default=30, help="Days the synthetic stream spans.")
    parser.add_argument("--input", metavar="FILE", help="Screen this labelled JSONL stream instead (docs/fraud.md).")
    parser.add_argument(
        "--policy", metavar="FILE", action="append", default=[], help="A candidate policy (repeatable)."
    )
    parser.add_argument("--write-sample", metavar="FILE", help="Write the synthetic stream to FILE as JSONL.")
    parser.add_argument("--lists", metavar="FILE", help="Tenant allow/block lists: list,kind,value[,note] lines.")
    parser.add_argument("--negative", metavar="FILE", help="Negative database before the stream: kind,value lines.")
    parser.add_argument("--feedback-days", type=float, default=7.0, help="Fraud joins the negative DB after (0: off).")
    parser.add_argument("--baseline-amount", type=int, default=BASELINE_AMOUNT, help="The baseline flags from this.")
    parser.add_argument("--json", action="store_true", help="Print the results as one JSON object instead.")
    args = parser.parse_args(argv)
    if args.input and args.write_sample:
        parser.error("--write-sample writes the synthetic stream; it does not go with --input")

    try:
        policies = {"default": default_policy()}
        for path in args.policy:
            name = Path(path).stem
            while name in policies or name == "baseline":
                name += "'"
            policies[name] = load_policy(path)
        lists = MemoryLists()
        if args.lists:
            load_lists(args.lists, lists)
        if args.negative:
            load_negative(args.negative, lists)
        started = time.perf_counter()
        if args.input:
            orders = read_jsonl(args.input)
            source = f"{args.input}"
        else:
            records = SyntheticStream(args.seed, args.orders, args.days).records()
            if args.write_sample:
                write_jsonl(args.write_sample, records)
            orders = [parse_record(r, f"synthetic order {i}") for i, r in enumerate(records)]
            source = f"synthetic stream, seed {args.seed}"
    except (InputError, OSError, ValueError) as exc:
        print(f"fraud_quality: {exc}", file=sys.stderr)
        return 2
    warm_up()
    loaded = time.perf_counter()
    feedback = dt.timedelta(days=args.feedback_days) if args.feedback_days > 0 else None
    tallies = screen_stream(orders, policies, lists=lists, feedback=feedback, baseline_amount=args.baseline_amount)
    screened = time.perf_counter()
    results = {name: tally.summary() for name, tally in tallies.items()}
    labels = Counter(o.label for o in orders)
    stream = {
        "source": source,
        "orders": len(orders),
        "good": labels[False],
        "fraud": labels[True],
        "unlabelled": labels[None],
        "first": orders[0].time.isoformat() if orders else None,
        "last": orders[-1].time.isoformat() if orders else None,
        "feedback_days": args.feedback_days if feedback else 0,
        "load_seconds": round(loaded - started, 2),
        "screen_seconds": round(screened - loaded, 2),
    }
    if args.json:
        print(json.dumps({"stream": stream, "results": results}, ensure_ascii=False))
        return 0
    span = ""
    if orders:
        span = f" over {(orders[-1].time - orders[0].time).total_seconds() / 86400:.0f} days"
    print(
        f"fraud quality — {source}: {len(orders):,} orders{span} ({labels[False]:,} good, {labels[True]:,} fraud"
        + (f", {labels[None]:,} unlabelled" if labels[None] else "")
        + f"); negative-DB feedback {'after ' + format(args.feedback_days, 'g') + ' d' if feedback else 'off'}"
    )
    print(f"  generated/read in {stream['load_seconds']} s, screened in {stream['screen_seconds']} s\n")
    print(report(results, args.baseline_amount))
    if args.write_sample:
        print(f"\n  stream written to {args.write_sample}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
