"""A day of traffic for one operator, for locust (``ops/load/run.py`` drives it; README.md explains the mix).

Two kinds of client, each sticking to one of the API processes (a load balancer with sticky connections: the
clients are dealt round-robin to ``BNPL_LOAD_HOSTS``) and each sending ``BNPL_LOAD_USER_RATE`` requests a second
(``constant_throughput``), so that the number of users sets the rate:

* ``MerchantClient`` (a merchant's checkout server, with that merchant's key): authorizations, shipments
  (captures, some in two parcels), cancellations, refunds, standalone screenings and reads;
* ``OperatorClient`` (the operator's back office and its payment agent, with the admin and finance keys): payment
  notifications for invoices consumers pay (``POST /admin/v1/payments``), a convenience-store payment file about
  once a minute, and the lists and reports people look at.

Every task is one request, so the mix is the tasks' weights. Orders move through shared pools as they would in a
day: an authorized order is later captured (oldest first) or cancelled (newest first), a captured one refunded or
its invoice looked up, and that invoice paid by its consumer. A task whose pool is empty (at the start) authorizes
instead. Buyers are plausible and distinct (the generator of ``ops/bench/checkout_post.lua``), so orders are
authorized rather than declined as duplicates by the fraud rules; one authorization in five is a returning buyer's
(at most three orders each), as a shop's repeat customers are: that is the path through an existing consumer, its
credit line and its screening history.

Every POST carries an ``Idempotency-Key``. On a connection error, a 503, a 429 or a 409
``idempotency_key_in_flight`` the client retries with the same key after ``Retry-After`` (or a short backoff), at
most ``MAX_ATTEMPTS`` times within ``RETRY_WINDOW`` seconds, as a real integration does; each retried attempt is
reported to locust as a failure named ``retried: …`` and counted. Any other unexpected answer is an error.
Requests are named by route template (``POST /v1/orders/{id}/captures``).

At exit a tally (per route: answers, retries, errors with samples; outcomes of orders, screenings and payments;
the next buyer sequence number; locust's per-route statistics once every client has stopped) is written to
``BNPL_LOAD_TALLY`` as JSON.

Environment: ``BNPL_LOAD_HOSTS`` (comma-separated base URLs), ``BNPL_LOAD_MERCHANT_KEYS`` (comma-separated; the
first is the biggest merchant), ``BNPL_LOAD_ADMIN_KEY``, ``BNPL_LOAD_FINANCE_KEY``, ``BNPL_LOAD_USER_RATE``
(default 0.5), ``BNPL_LOAD_RUN`` (a label making ids unique per run), ``BNPL_LOAD_SEQ_BASE`` (first buyer
sequence number), ``BNPL_LOAD_TALLY``, ``BNPL_LOAD_FILE_EVERY`` (seconds between payment files, default 60),
``BNPL_LOAD_TIMEOUT`` (seconds a client waits for an answer before it retries, default 30).
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import json
import os
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from locust import FastHttpUser, constant_throughput, events, task

JST = ZoneInfo("Asia/Tokyo")
HOSTS = [h for h in os.environ.get("BNPL_LOAD_HOSTS", "http://127.0.0.1:8311,http://127.0.0.1:8312").split(",") if h]
MERCHANT_KEYS = [k for k in os.environ.get("BNPL_LOAD_MERCHANT_KEYS", "").split(",") if k]
ADMIN_KEY = os.environ.get("BNPL_LOAD_ADMIN_KEY", "")
FINANCE_KEY = os.environ.get("BNPL_LOAD_FINANCE_KEY", "") or ADMIN_KEY
USER_RATE = float(os.environ.get("BNPL_LOAD_USER_RATE", "0.5"))
RUN = os.environ.get("BNPL_LOAD_RUN", time.strftime("%H%M%S"))
SEQ_BASE = int(os.environ.get("BNPL_LOAD_SEQ_BASE", "0"))
TALLY_PATH = os.environ.get("BNPL_LOAD_TALLY", "")
FILE_EVERY = float(os.environ.get("BNPL_LOAD_FILE_EVERY", "60"))
TIMEOUT = float(os.environ.get("BNPL_LOAD_TIMEOUT", "30"))  # seconds a client waits for an answer
RNG = random.Random(RUN)  # noqa: S311 - which order, report or query comes next; not security

MAX_ATTEMPTS = 6  # the first try and five retries with the same key
RETRY_WINDOW = 60.0  # seconds; a request is given up (an error) after this
POOL_SIZE = 5_000  # each pool keeps its newest entries; older ones simply stay in their state

RETURNING_SHARE = 0.2  # of the authorizations, once there are buyers to come back
# The biggest merchant (the demo's) gets a third of the merchant clients, the others share the rest.
MERCHANT_SHARE = [3, 2, 2, 1, 1, 1]

# -- buyers: every one new, plausible and distinct (checkout_post.lua, in Python) ---------------------------------

FAMILY = [
    ("佐藤", "サトウ", "sato"), ("鈴木", "スズキ", "suzuki"), ("高橋", "タカハシ", "takahashi"),
    ("田中", "タナカ", "tanaka"), ("伊藤", "イトウ", "ito"), ("渡辺", "ワタナベ", "watanabe"),
    ("山本", "ヤマモト", "yamamoto"), ("中村", "ナカムラ", "nakamura"), ("小林", "コバヤシ", "kobayashi"),
    ("加藤", "カトウ", "kato"), ("吉田", "ヨシダ", "yoshida"), ("山田", "ヤマダ", "yamada"),
    ("佐々木", "ササキ", "sasaki"), ("山口", "ヤマグチ", "yamaguchi"), ("松本", "マツモト", "matsumoto"),
    ("井上", "イノウエ", "inoue"), ("木村", "キムラ", "kimura"), ("林", "ハヤシ", "hayashi"),
    ("清水", "シミズ", "shimizu"), ("斎藤", "サイトウ", "saito"),
]  # fmt: skip
GIVEN = [
    ("太郎", "タロウ", "taro"), ("花子", "ハナコ", "hanako"), ("翔太", "ショウタ", "shota"), ("陽菜", "ヒナ", "hina"),
    ("大輔", "ダイスケ", "daisuke"), ("美咲", "ミサキ", "misaki"), ("健太", "ケンタ", "kenta"), ("結衣", "ユイ", "yui"),
    ("拓也", "タクヤ", "takuya"), ("愛", "アイ", "ai"), ("直樹", "ナオキ", "naoki"), ("由美", "ユミ", "yumi"),
    ("蓮", "レン", "ren"), ("葵", "アオイ", "aoi"), ("隆", "タカシ", "takashi"), ("恵子", "ケイコ", "keiko"),
]  # fmt: skip
TOWNS = [
    ("東京都港区赤坂", "107-0052"), ("東京都新宿区西新宿", "160-0023"), ("東京都世田谷区三軒茶屋", "154-0024"),
    ("東京都渋谷区恵比寿", "150-0013"), ("東京都練馬区豊玉北", "176-0012"),
    ("神奈川県横浜市西区みなとみらい", "220-0012"), ("神奈川県川崎市中原区小杉町", "211-0063"),
    ("埼玉県さいたま市浦和区高砂", "330-0063"), ("千葉県千葉市中央区富士見", "260-0015"),
    ("大阪府大阪市北区梅田", "530-0001"), ("大阪府大阪市中央区難波", "542-0076"),
    ("大阪府豊中市新千里東町", "560-0082"), ("兵庫県神戸市中央区三宮町", "650-0021"),
    ("愛知県名古屋市中区栄", "460-0008"), ("愛知県名古屋市千種区今池", "464-0850"),
    ("福岡県福岡市中央区天神", "810-0001"), ("福岡県福岡市博多区博多駅前", "812-0011"),
    ("北海道旭川市宮下通", "070-0030"), ("宮城県仙台市青葉区一番町", "980-0811"),
    ("広島県広島市中区紙屋町", "730-0031"), ("静岡県静岡市葵区呉服町", "420-0031"),
    ("新潟県新潟市中央区万代", "950-0088"), ("熊本県熊本市中央区下通", "860-0807"),
    ("沖縄県那覇市久茂地", "900-0015"), ("石川県金沢市本町", "920-0853"), ("岡山県岡山市北区駅前町", "700-0023"),
]  # fmt: skip
BUILDINGS = ["", " コーポ青葉", " グランハイツ", " メゾン桜", " パークマンション", " サンライズ"]
DOMAINS = ["gmail.com", "yahoo.co.jp", "docomo.ne.jp", "icloud.com", "ezweb.ne.jp", "softbank.ne.jp", "outlook.jp"]
MOBILE = ["090", "080", "070"]
AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SO-51D) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 "
    "Safari/605.1.15",
]
ITEMS = [
    ("緑茶ギフトセット", 8), ("ハンドタオル", 10), ("コーヒー豆 500g", 8), ("ワイヤレスイヤホン", 10),
    ("スニーカー", 10), ("米 5kg", 8), ("ノートブック", 10), ("和菓子詰め合わせ", 8),
]  # fmt: skip
STORES = ["ローソン 渋谷店", "セブン-イレブン 新宿三丁目店", "ファミリーマート 梅田店", "ミニストップ 栄店"]
PHONE_SPACE = 90_000_000  # 8-digit numbers 10000000..99999999
ADDR_SPACE = 4 * 60 * 30  # chome x ban x go, per town

_SEQ = itertools.count(SEQ_BASE)
_SEQ_LOCK = threading.Lock()
_LAST_SEQ = [SEQ_BASE - 1]


def next_seq() -> int:
    with _SEQ_LOCK:
        n = next(_SEQ)
        _LAST_SEQ[0] = n
        return n


def base36(v: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    s = ""
    while True:
        v, d = divmod(v, 36)
        s = digits[d] + s
        if v == 0:
            return s


def buyer(n: int) -> dict[str, Any]:
    """Everything that identifies the consumer is a bijection of ``n``: no two share a phone, e-mail, name and
    address, device or IP, so the velocity and shared-identity signals stay silent and each is a new consumer."""
    family = FAMILY[n % len(FAMILY)]
    given = GIVEN[(n // len(FAMILY)) % len(GIVEN)]
    p = ((n // 3) * 7919 + 12345678) % PHONE_SPACE + 10_000_000  # 7919 is coprime to 90,000,000
    phone = f"{MOBILE[n % 3]}-{p // 10000:04d}-{p % 10000:04d}"
    a = (n * 7 + 101) % (len(TOWNS) * ADDR_SPACE)  # 7 is coprime to 187,200
    town = TOWNS[a % len(TOWNS)]
    rest = a // len(TOWNS)
    chome, ban, go = rest % 4 + 1, (rest // 4) % 60 + 1, rest // 240 + 1
    building = BUILDINGS[n % len(BUILDINGS)]
    if building:
        building += f" {n % 9 + 1}{n % 12 + 1:02d}"
    ip = n * 40503 % 16_777_216
    return {
        "buyer": {
            "name": f"{family[0]} {given[0]}",
            "name_kana": f"{family[1]} {given[1]}",
            "email": f"{given[2]}.{family[2]}.{base36(n)}@{DOMAINS[n % len(DOMAINS)]}",
            "phone": phone,
            "postal_code": town[1],
            "address": f"{town[0]}{chome}丁目{ban}番{go}号{building}",
        },
        "device": {
            "ip": f"126.{ip // 65536}.{(ip // 256) % 256}.{ip % 256}",
            "user_agent": AGENTS[n % len(AGENTS)],
            "accept_language": "ja-JP,ja;q=0.9",
            "timezone": "Asia/Tokyo",
            "device_id": f"dev-{base36(n * 2654435761 % 4294967296)}",
        },
    }


def order_body(n: int) -> dict[str, Any]:
    """An order of one product line (1 or 2 pieces) and shipping: ¥1,550-28,680, under the first-order maximum."""
    name, tax = ITEMS[n % len(ITEMS)]
    price = 1000 + ((n * 37) % 130) * 100
    qty = n % 2 + 1
    ship = 880 if n % 3 == 0 else 550
    return {
        "merchant_order_id": f"LD-{RUN}-{n}",
        "amount": price * qty + ship,
        "currency": "JPY",
        "items": [
            {"ref": f"SKU-{n % 997}", "name": name, "unit_price": price, "quantity": qty, "tax_rate": tax},
            {"ref": "SHIP", "name": "送料", "unit_price": ship, "quantity": 1, "tax_rate": 10},
        ],
        **buyer(n),
        "invoice_delivery": "separate",
    }


def tracking_number(n: int) -> tuple[str, str]:
    """A valid number for one of the carriers (7DR check digit for Yamato and Sagawa, length for Seino)."""
    carrier = ("yamato", "yamato", "sagawa", "seino")[n % 4]
    body = 10_000_000_000 + (n * 7_368_787) % 89_999_999_999  # 11 digits
    number = f"{body}{body % 7}"
    return carrier, f"{number[:4]}-{number[4:8]}-{number[8:]}"


def today_jst() -> str:
    return dt.datetime.now(JST).date().isoformat()


# -- shared state: the day's orders, by merchant key --------------------------------------------------------------


class Pools:
    def __init__(self) -> None:
        self.authorized: collections.deque[dict[str, Any]] = collections.deque(maxlen=POOL_SIZE)
        self.partial: collections.deque[dict[str, Any]] = collections.deque(maxlen=POOL_SIZE)  # one parcel sent
        self.reviews: collections.deque[dict[str, Any]] = collections.deque(maxlen=POOL_SIZE)  # in_review
        self.captured: collections.deque[dict[str, Any]] = collections.deque(maxlen=POOL_SIZE)
        self.known: collections.deque[dict[str, Any]] = collections.deque(maxlen=2_000)  # any order, to read
        self.screenings: collections.deque[str] = collections.deque(maxlen=2_000)


POOLS: dict[str, Pools] = collections.defaultdict(Pools)
PAYABLE: collections.deque[dict[str, Any]] = collections.deque(maxlen=POOL_SIZE)  # open invoices, operator-wide
ALL_ORDERS: collections.deque[str] = collections.deque(maxlen=2_000)  # for the operator's reads
# Buyers who may come back: (their sequence number, orders so far); operator-wide (名寄せ spans the shops).
RETURNING: collections.deque[tuple[int, int]] = collections.deque(maxlen=POOL_SIZE)
_NEXT_FILE = [time.monotonic() + FILE_EVERY / 2]


class Tally:
    """What the clients saw, beyond locust's own statistics: per route answers, retries and errors."""

    def __init__(self) -> None:
        self.routes: dict[str, dict[str, Any]] = collections.defaultdict(
            lambda: {"ok": 0, "retries": collections.Counter(), "errors": collections.Counter(), "samples": []}
        )
        self.outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.fallbacks: collections.Counter[str] = collections.Counter()
        self.status_5xx = 0

    def as_json(self) -> dict[str, Any]:
        routes = {
            name: {
                "ok": r["ok"],
                "retries": dict(r["retries"]),
                "errors": dict(r["errors"]),
                "error_samples": r["samples"],
            }
            for name, r in sorted(self.routes.items())
        }
        return {
            "run": RUN,
            "routes": routes,
            "retries": sum(sum(r["retries"].values()) for r in self.routes.values()),
            "errors": sum(sum(r["errors"].values()) for r in self.routes.values()),
            "responses_5xx": self.status_5xx,
            "outcomes": {k: dict(v) for k, v in self.outcomes.items()},
            "fallbacks": dict(self.fallbacks),
            "next_seq": _LAST_SEQ[0] + 1,
            "payable_left": len(PAYABLE),
        }


TALLY = Tally()


def _stats(entry: Any) -> dict[str, Any]:
    count = entry.num_requests
    return {
        "requests": count,
        "failures": entry.num_failures,  # locust's view: retried attempts included
        "rps": entry.total_rps,
        "avg_ms": entry.avg_response_time,
        "p50_ms": entry.get_response_time_percentile(0.5) if count else None,
        "p95_ms": entry.get_response_time_percentile(0.95) if count else None,
        "p99_ms": entry.get_response_time_percentile(0.99) if count else None,
        "max_ms": entry.max_response_time or 0,
    }


@events.quitting.add_listener
def _write_tally(environment: Any, **_kw: Any) -> None:
    """At exit, after the clients stopped: locust's ``--csv`` files are written when the run time is up, before
    the requests in flight (``--stop-timeout``) have finished, so the statistics go here too, with the tally."""
    if not TALLY_PATH:
        return
    out = TALLY.as_json()
    out["stats"] = {name: _stats(entry) for (name, _method), entry in sorted(environment.stats.entries.items())}
    out["stats"]["Aggregated"] = _stats(environment.stats.total)
    Path(TALLY_PATH).write_text(json.dumps(out, indent=2, ensure_ascii=False))


# -- the clients ----------------------------------------------------------------------------------------------------

_DEAL = itertools.count()


def _label(status: int, payload: Any) -> str:
    code = payload.get("code") if isinstance(payload, dict) else None
    return f"{status} {code}" if code else (str(status) if status else "connection error")


class Client(FastHttpUser):
    abstract = True
    wait_time = constant_throughput(USER_RATE)
    network_timeout = TIMEOUT
    connection_timeout = 5.0
    key = ""

    def __init__(self, environment: Any) -> None:
        self.deal = next(_DEAL)
        self.host = HOSTS[self.deal % len(HOSTS)]  # sticky: a load balancer keeping the connection
        super().__init__(environment)

    def call(
        self,
        method: str,
        path: str,
        name: str,
        *,
        expect: int = 200,
        body: Any = None,
        data: bytes | None = None,
        content_type: str = "application/json",
        key: str | None = None,
    ) -> Any:
        """One logical request, retried with the same Idempotency-Key while the answer says "try again"."""
        headers = {"Authorization": f"Bearer {key or self.key}"}
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
        if data is not None:
            headers["Content-Type"] = content_type
        if method == "POST":
            headers["Idempotency-Key"] = f"{RUN}-{uuid.uuid4().hex}"
        route = TALLY.routes[name]
        deadline = time.monotonic() + RETRY_WINDOW
        for attempt in range(1, MAX_ATTEMPTS + 1):
            with self.client.request(method, path, name=name, data=data, headers=headers, catch_response=True) as r:
                status = r.status_code or 0
                try:
                    payload = r.json() if r.content else None
                except ValueError:
                    payload = None
                if status >= 500:
                    TALLY.status_5xx += 1
                if status == expect:
                    r.success()
                    route["ok"] += 1
                    return payload
                label = _label(status, payload)
                in_flight = status == 409 and label.endswith("idempotency_key_in_flight")
                retryable = status in (0, 429, 503) or in_flight
                if retryable and attempt < MAX_ATTEMPTS and time.monotonic() < deadline:
                    r.failure(f"retried: {label}")
                    route["retries"][label] += 1
                    time.sleep(self._backoff(r, attempt))
                    continue
                r.failure(f"error: {label}")
                route["errors"][label] += 1
                if len(route["samples"]) < 5:
                    text = r.text if r.content else str(getattr(r, "error", ""))
                    route["samples"].append({"status": status, "path": path, "body": (text or "")[:500]})
                return None
        return None

    @staticmethod
    def _backoff(response: Any, attempt: int) -> float:
        try:
            after = float((response.headers or {}).get("Retry-After", ""))
        except ValueError:
            after = 0.0
        return min(max(after, 0.25 * 2**attempt), 8.0) + RNG.uniform(0, 0.25)


class MerchantClient(Client):
    """A merchant's checkout server (weights: requests per hundred of the whole mix, with OperatorClient's)."""

    weight = 88

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        weights = (MERCHANT_SHARE + [1] * len(MERCHANT_KEYS))[: len(MERCHANT_KEYS)]  # any further shop: 1
        shares = [i for i, share in enumerate(weights) for _ in range(share)]
        self.key = MERCHANT_KEYS[shares[self.deal % len(shares)]] if MERCHANT_KEYS else ""
        self.pools = POOLS[self.key]

    def _take(self, pool: collections.deque[dict[str, Any]], newest: bool = False) -> dict[str, Any] | None:
        try:
            return pool.pop() if newest else pool.popleft()
        except IndexError:
            return None

    def _or_authorize(self, what: str) -> None:
        TALLY.fallbacks[what] += 1
        self.authorize()

    # writes

    @task(30)
    def authorize(self) -> None:
        """A new buyer, or (one order in five) a returning one: someone who bought from one of the operator's shops
        earlier in the run, on the same device, at most three orders each (credit may decline: 201 all the same)."""
        n = next_seq()
        body = order_body(n)
        returning = RETURNING.popleft() if RETURNING and RNG.random() < RETURNING_SHARE else None
        if returning is not None:
            body |= buyer(returning[0])
        order = self.call("POST", "/v1/orders", "POST /v1/orders", expect=201, body=body)
        if order is None:
            return
        TALLY.outcomes["order" if returning is None else "order (returning buyer)"][order["status"]] += 1
        if order["status"] != "declined":
            buyer_n, orders = returning if returning is not None else (n, 0)
            if orders < 2:
                RETURNING.append((buyer_n, orders + 1))
        entry = {
            "id": order["id"],
            "moid": order["merchant_order_id"],
            "n": n,
            "items": order["items"],
            "kana": body["buyer"]["name_kana"],
        }
        self.pools.known.append(entry)
        ALL_ORDERS.append(order["id"])
        if order["status"] == "authorized":
            self.pools.authorized.append(entry)
        elif order["status"] == "in_review":
            self.pools.reviews.append(entry)

    @task(12)
    def capture(self) -> None:
        """Oldest first; a quarter of the orders ship in two parcels (the goods, then the rest)."""
        partial = self.pools.partial and RNG.random() < 0.5
        order = self._take(self.pools.partial) if partial else self._take(self.pools.authorized)
        if order is None:
            return self._or_authorize("capture")
        carrier, number = tracking_number(order["n"] + (7 if partial else 0))
        body: dict[str, Any] = {"carrier": carrier, "tracking_number": number}
        first_parcel = not partial and order["n"] % 4 == 0
        if first_parcel:
            goods = order["items"][0]
            body["items"] = [{"ref": goods["ref"], "quantity": goods["quantity"]}]
        out = self.call(
            "POST", f"/v1/orders/{order['id']}/captures", "POST /v1/orders/{id}/captures", expect=201, body=body
        )
        if out is None:
            return None
        TALLY.outcomes["capture"][out["order"]["status"]] += 1
        (self.pools.partial if out["order"]["status"] == "partially_captured" else self.pools.captured).append(order)
        return None

    @task(3)
    def cancel(self) -> None:
        """The newest authorized order (the buyer changed their mind), or one in review."""
        order = self._take(self.pools.reviews) or self._take(self.pools.authorized, newest=True)
        if order is None:
            return self._or_authorize("cancel")
        out = self.call(
            "POST",
            f"/v1/orders/{order['id']}/cancel",
            "POST /v1/orders/{id}/cancel",
            body={"reason": "customer request"},
        )
        if out is not None:
            TALLY.outcomes["cancel"][out["status"]] += 1
        return None

    @task(2)
    def refund(self) -> None:
        """A return before the consumer paid: one piece of the goods, or the whole order."""
        order = self._take(self.pools.captured, newest=True)
        if order is None:
            return self._or_authorize("refund")
        body: dict[str, Any] = {"reason": "returned"}
        if order["n"] % 2 == 0:
            body["items"] = [{"ref": order["items"][0]["ref"], "quantity": 1}]
        out = self.call(
            "POST", f"/v1/orders/{order['id']}/refunds", "POST /v1/orders/{id}/refunds", expect=201, body=body
        )
        if out is not None:
            TALLY.outcomes["refund"]["full" if "items" not in body else "one piece"] += 1
        return None

    @task(8)
    def screen(self) -> None:
        """A standalone screening (a merchant using the fraud engine for another payment method)."""
        n = next_seq()
        order = order_body(n)
        body = {
            "order_id": f"SC-{RUN}-{n}",
            "amount": order["amount"],
            "currency": "JPY",
            "buyer": order["buyer"],
            "device": order["device"],
        }
        out = self.call("POST", "/v1/screenings", "POST /v1/screenings", expect=201, body=body)
        if out is not None:
            TALLY.outcomes["screening"][out.get("verdict", "?")] += 1
            self.pools.screenings.append(out["id"])

    # reads

    @task(9)
    def invoices(self) -> None:
        """The merchant shows the consumer where to pay: the invoices of a shipped order (then paid, see below)."""
        order = self._take(self.pools.captured)
        if order is None:
            return self.read_order()
        out = self.call("GET", f"/v1/orders/{order['id']}/invoices", "GET /v1/orders/{id}/invoices")
        for invoice in out or []:
            if invoice["status"] == "issued" and invoice["balance"] > 0:
                PAYABLE.append({**invoice, "kana": order["kana"]})
        return None

    @task(14)
    def read_order(self) -> None:
        if not self.pools.known:
            return self._or_authorize("read")
        order = RNG.choice(self.pools.known)
        self.call("GET", f"/v1/orders/{order['id']}", "GET /v1/orders/{id}")
        return None

    @task(5)
    def list_orders(self) -> None:
        query = RNG.choice(["?limit=20", "?limit=50", "?status=authorized&limit=20", "?status=captured&limit=20"])
        self.call("GET", f"/v1/orders{query}", "GET /v1/orders")

    @task(3)
    def by_merchant_order_id(self) -> None:
        if not self.pools.known:
            return self._or_authorize("read")
        order = RNG.choice(self.pools.known)
        self.call(
            "GET",
            f"/v1/orders/by-merchant-order-id/{order['moid']}",
            "GET /v1/orders/by-merchant-order-id/{merchant_order_id}",
        )
        return None

    @task(2)
    def read_screening(self) -> None:
        if not self.pools.screenings:
            return self.screen()
        self.call("GET", f"/v1/screenings/{RNG.choice(self.pools.screenings)}", "GET /v1/screenings/{id}")
        return None


class OperatorClient(Client):
    """The operator: its payment agent's notifications, a payment file now and then, and its people's screens."""

    weight = 14

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.key = ADMIN_KEY

    @task(6)
    def payment(self) -> None:
        """A consumer pays an invoice: by bank transfer to its virtual account (one in twenty short by ¥100, one
        in fifty to the operator's parent account with nothing to match it: suspense), or at a convenience store."""
        if time.monotonic() >= _NEXT_FILE[0] and len(PAYABLE) >= 3:
            _NEXT_FILE[0] = time.monotonic() + FILE_EVERY
            return self.payment_file()
        try:
            invoice = PAYABLE.popleft()
        except IndexError:
            TALLY.fallbacks["payment"] += 1
            return self.admin_orders()
        body: dict[str, Any] = {"amount": invoice["balance"], "value_date": today_jst()}
        if invoice["number"] % 4 == 0:
            body |= {
                "external_id": f"cvs:{RUN}:{invoice['id']}",
                "channel": "convenience_store",
                "payment_number": invoice["payment_number"],
            }
        else:
            body |= {
                "external_id": f"bank:{RUN}:{invoice['id']}",
                "channel": "bank_transfer",
                "account": invoice["virtual_account"],
                "payer_name": invoice["kana"].replace(" ", ""),
            }
            if invoice["number"] % 50 == 7:  # the wrong account and a name that fits no open invoice
                body |= {"account": "0001-001-9999999", "payer_name": "フメイ"}
            elif invoice["number"] % 20 == 1 and invoice["balance"] > 100:
                body["amount"] = invoice["balance"] - 100
        out = self.call("POST", "/admin/v1/payments", "POST /admin/v1/payments", expect=201, body=body)
        if out is not None:
            TALLY.outcomes["payment"][f"{out['status']}/{out['outcome']}"] += 1
        return None

    def payment_file(self) -> None:
        """The convenience-store agent's CSV of settled slips (確報), a few invoices at a time."""
        rows = ["record_type,record_id,payment_number,amount,paid_at,store,original_record_id"]
        paid_at = dt.datetime.now(JST).replace(microsecond=0).isoformat()
        for i in range(min(len(PAYABLE), RNG.randint(3, 8))):
            try:
                invoice = PAYABLE.popleft()
            except IndexError:
                break
            rows.append(
                f"確報,KH-{RUN}-{invoice['id']},{invoice['payment_number']},{invoice['balance']},{paid_at},"
                f"{STORES[i % len(STORES)]},"
            )
        data = ("\r\n".join(rows) + "\r\n").encode()
        out = self.call(
            "POST",
            f"/admin/v1/payment-files?filename=cvs-{RUN}-{uuid.uuid4().hex[:8]}.csv",
            "POST /admin/v1/payment-files",
            expect=202,
            data=data,
            content_type="text/csv",
        )
        if out is not None:
            TALLY.outcomes["payment_file"]["payments"] += out["payment_count"]
            TALLY.outcomes["payment_file"]["files"] += 1

    @task(3)
    def admin_orders(self) -> None:
        query = RNG.choice(["?limit=20", "?limit=50", "?status=in_review&limit=20", "?status=captured&limit=20"])
        self.call("GET", f"/admin/v1/orders{query}", "GET /admin/v1/orders")

    @task(2)
    def admin_order(self) -> None:
        if not ALL_ORDERS:
            return self.admin_orders()
        self.call("GET", f"/admin/v1/orders/{RNG.choice(ALL_ORDERS)}", "GET /admin/v1/orders/{id}")
        return None

    @task(1)
    def review_queue(self) -> None:
        query = RNG.choice(["?status=in_review&limit=20", "?limit=20"])
        self.call("GET", f"/admin/v1/screenings{query}", "GET /admin/v1/screenings")

    @task(1)
    def manual_queue(self) -> None:
        self.call("GET", "/admin/v1/payments?held=true&limit=20", "GET /admin/v1/payments")

    @task(1)
    def report(self) -> None:
        """Finance opens a collections report (the finance key)."""
        name = RNG.choice(["ar-aging", "suspense-aging", "unpaid-rate", "collection-outcomes"])
        self.call("GET", f"/admin/v1/reports/{name}", f"GET /admin/v1/reports/{name}", key=FINANCE_KEY)
