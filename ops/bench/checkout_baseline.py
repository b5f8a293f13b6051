"""Baseline of the checkout benchmark: what one ``POST /v1/orders`` authorization sends to PostgreSQL, through bare
psycopg (async, a pool of the server's size, the same concurrency), with no framework, ORM or fraud engine.

Used by ``ops/bench/checkout.py`` in the same run; runnable alone against a prepared database::

    .venv/bin/python ops/bench/checkout_baseline.py --dsn postgresql://postgres@127.0.0.1:5432/bnpl_bench_checkout \
        --seconds 10 --concurrency 16

The statements, their order, their transactions and their connection checkouts reproduce the server's path for an
authorized order with an ``Idempotency-Key`` and a merchant with no webhook endpoint (read from
``app/auth.py``, ``app/idempotency.py``, ``domain/kit/idempotency.py``, ``domain/checkout/service.authorize``,
``fraud/service.screen_order``, ``fraud/repository.py``, ``domain/checkout/credit.py`` and ``repository.py``,
``domain/kit/audit.py``, ``domain/webhooks/service.emit``, ``billing/metering.record_usage``, and checked against
PostgreSQL's ``log_statement = 'all'`` and SQLAlchemy's echo for one request, 2026-11-25; re-check when the path
changes: ``ALTER DATABASE bnpl_bench_checkout SET log_statement = 'all'``, one request, read the server log):

    checkout 1 (autocommit)  auth: api_keys ⟕ operators ⟕ merchants by secret hash
    checkout 2 (autocommit)  idempotency claim: INSERT idempotency_keys … ON CONFLICT DO NOTHING RETURNING
    checkout 3 (BEGIN…COMMIT) merchant terms with the latest credit and fraud policy versions (one SELECT);
                             fraud history (velocity, aggregates); list/negative/external hits;
                             INSERT fraud_screenings; INSERT fraud_identifiers ×6 (executemany, pipelined);
                             INSERT usage_events … ON CONFLICT DO NOTHING RETURNING;
                             consumer keys lookup; INSERT consumers; SAVEPOINT; INSERT consumer_keys ×3 …
                             ON CONFLICT; RELEASE SAVEPOINT;
                             UPDATE consumers (the conditional reservation) RETURNING;
                             INSERT orders … ON CONFLICT DO NOTHING RETURNING; INSERT audit_events;
                             SELECT webhook_endpoints; UPDATE idempotency_keys (the stored response)

21 round trips (1 + 1 + BEGIN, 17 statements, COMMIT; the six identifier rows go in one
pipelined ``executemany``, as the server's do) and the same rows written (1 idempotency key, 1 screening, 6
identifiers, 1 usage event, 1 consumer, 3 consumer keys, 1 order, 1 audit event). Parameters have the server's
shapes: ULIDs from ``domain.kit.ids.new_id`` (index locality matters), 32-hex keyed hashes, the same JSON documents.
What it leaves out on purpose: HTTP, JSON parsing and validation, normalisation, hashing, the decision, the
response rendering: everything that is the application's own work.
"""

# ruff: noqa: S608 - the SQL is assembled from module constants (kinds, windows, column lists), never from input
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from domain.kit.ids import new_id  # noqa: E402 - the server's id generator: ULIDs, time-ordered

COUNT_CAP = 50  # fraud.types.COUNT_CAP

AUTH_SQL = (
    "SELECT api_keys.id, api_keys.role, api_keys.tenant_id, api_keys.merchant_id, operators.status, merchants.status"
    " FROM api_keys LEFT OUTER JOIN operators ON operators.id = api_keys.tenant_id"
    " LEFT OUTER JOIN merchants ON merchants.tenant_id = api_keys.tenant_id AND merchants.id = api_keys.merchant_id"
    " WHERE api_keys.secret_hash = %s AND api_keys.revoked_at IS NULL"
)
IDEMPOTENCY_CLAIM = (
    "INSERT INTO idempotency_keys (tenant_id, api_key_id, key, request_method, request_path, request_hash, state,"
    " created_at, locked_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
    " RETURNING idempotency_keys.key"
)
AUTHORIZE_CONTEXT = (  # domain/checkout/repository.py _AUTHORIZE_CONTEXT
    "SELECT m.consumer_fee, m.test_mode, m.name,"
    " (SELECT max(version) FROM credit_policy_versions WHERE tenant_id = %(t)s) AS credit_version,"
    " (SELECT max(version) FROM fraud_policies WHERE tenant_id = %(t)s) AS fraud_version"
    " FROM merchants m WHERE m.tenant_id = %(t)s AND m.id = %(m)s"
)


# The three history/hit reads, written out exactly as fraud/repository.py assembles them (named parameters).
def _latest(kind: str, key: str, *, window: str | None = "week", column: str = "screening_id") -> str:
    since = f" AND created_at >= %({window})s" if window else ""
    return (
        f"SELECT {column} FROM fraud_identifiers WHERE tenant_id = %(tenant_id)s AND kind = '{kind}' "
        f"AND key_hash = %({key})s{since} ORDER BY created_at DESC LIMIT %(cap)s"
    )


def _distinct_others(kind: str, other: str, own: str, window: str) -> str:
    return (
        f"(SELECT COUNT(DISTINCT o.key_hash) FROM ({_latest(kind, kind, window=window)}) s "
        f"JOIN fraud_identifiers o ON o.tenant_id = %(tenant_id)s AND o.screening_id = s.screening_id "
        f"AND o.kind = '{other}' WHERE o.key_hash <> COALESCE(%({own})s, ''))"
    )


KINDS = ("address", "name", "phone", "email", "device", "ip")
VELOCITY = (
    "SELECT kind, SUM(CASE WHEN created_at >= %(hour)s THEN 1 ELSE 0 END) AS hour, "
    "SUM(CASE WHEN created_at >= %(day)s THEN 1 ELSE 0 END) AS day, COUNT(*) AS week FROM ("
    + " UNION ALL ".join(
        f"SELECT '{k}' AS kind, created_at FROM ({_latest(k, k, column='created_at')}) AS v_{k}"
        for k in ("address", "phone", "email", "device", "ip")
    )
    + ") AS v GROUP BY kind"
)
_BUYER = "((b.kind = 'phone' AND b.key_hash = %(phone)s) OR (b.kind = 'email' AND b.key_hash = %(email)s))"
AGGREGATES = (
    "SELECT "
    f"{_distinct_others('address', 'name', 'name', 'week')} AS names_at_address, "
    f"{_distinct_others('phone', 'address', 'address', 'week')} AS addresses_for_phone, "
    f"{_distinct_others('device', 'name', 'name', 'week')} AS identities_for_device, "
    f"{_distinct_others('ip', 'name', 'name', 'day')} AS identities_for_ip, "
    "(SELECT COUNT(*) FROM ("
    f"SELECT screening_id FROM ({_latest('phone', 'phone', window=None)}) AS p "
    f"UNION SELECT screening_id FROM ({_latest('email', 'email', window=None)}) AS e) AS b) AS prior_orders, "
    f"EXISTS (SELECT 1 FROM ({_latest('address', 'address', window=None)}) s "
    "JOIN fraud_identifiers b ON b.tenant_id = %(tenant_id)s AND b.screening_id = s.screening_id "
    f"WHERE {_BUYER}) AS address_known_for_buyer"
)
_BY_KIND = " OR ".join(f"(kind = '{k}' AND key_hash = %({k})s)" for k in KINDS)
HITS = (
    f"SELECT list AS source, kind FROM fraud_list_entries WHERE tenant_id = %(tenant_id)s AND ({_BY_KIND}) "
    f"UNION ALL SELECT 'negative', kind FROM fraud_negative_entries WHERE {_BY_KIND} "
    "UNION ALL SELECT 'external', category FROM fraud_external_addresses "
    "WHERE tenant_id = %(tenant_id)s AND address_key = %(address_key)s"
)
INSERT_SCREENING = (
    "INSERT INTO fraud_screenings (tenant_id, id, merchant_id, order_ref, amount, currency, verdict, score, reasons,"
    " features, policy_version, status, review_deadline, reviewed_by, review_note, reviewed_at, outcome, outcome_at,"
    " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
INSERT_IDENTIFIER = (
    "INSERT INTO fraud_identifiers (tenant_id, screening_id, kind, key_hash, created_at) VALUES (%s, %s, %s, %s, %s)"
)
INSERT_USAGE = (
    "INSERT INTO usage_events (tenant_id, id, kind, source_id, occurred_at) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT DO NOTHING RETURNING usage_events.id"
)
KEYS_OF = (
    "SELECT kind, key_hash, consumer_id FROM consumer_keys WHERE tenant_id = %(t)s AND ((kind = %(k1)s AND"
    " key_hash = %(h1)s) OR (kind = %(k2)s AND key_hash = %(h2)s) OR (kind = %(k3)s AND key_hash = %(h3)s))"
)
INSERT_CONSUMER = (
    "INSERT INTO consumers (tenant_id, id, currency, outstanding, orders_count, overdue_count, created_at)"
    " VALUES (%s, %s, %s, 0, 0, 0, %s)"
)
CLAIM_KEYS = (
    "INSERT INTO consumer_keys (tenant_id, kind, key_hash, consumer_id) VALUES (%(t)s, %(k0)s, %(h0)s, %(c)s),"
    " (%(t)s, %(k1)s, %(h1)s, %(c)s), (%(t)s, %(k2)s, %(h2)s, %(c)s) ON CONFLICT DO NOTHING RETURNING kind"
)
RESERVE = (
    "UPDATE consumers SET outstanding = outstanding + %(amount)s, orders_count = orders_count + %(inc)s"
    " WHERE tenant_id = %(t)s AND id = %(id)s AND merged_into IS NULL AND outstanding + %(amount)s <= %(limit)s"
    " AND (orders_count > 0 OR %(amount)s <= %(first_max)s) AND (overdue_count = 0 OR NOT %(block_overdue)s)"
    " RETURNING outstanding"
)
ORDER_COLUMNS = (
    "tenant_id, id, merchant_id, merchant_order_id, status, currency, amount, captured_amount, released_amount,"
    " refunded_amount, exposure, items, buyer, shipping, device, invoice_delivery, ordered_at, consumer_id,"
    " screening_id, credit_policy_version, decline_reason, decline_detail, review_deadline, authorized_at,"
    " expires_at, guarantee, guarantee_deadline, arrival_confirmed_at, test_mode, updated_at, created_at"
)
INSERT_ORDER = (
    f"INSERT INTO orders ({ORDER_COLUMNS}) VALUES ({', '.join(['%s'] * 31)}) ON CONFLICT DO NOTHING RETURNING orders.id"
)
INSERT_AUDIT = (
    "INSERT INTO audit_events (tenant_id, id, actor, action, resource_type, resource_id, data, occurred_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
WEBHOOK_ENDPOINTS = (
    "SELECT webhook_endpoints.id, webhook_endpoints.enabled_events FROM webhook_endpoints"
    " WHERE webhook_endpoints.tenant_id = %s AND webhook_endpoints.merchant_id = %s"
    " AND webhook_endpoints.status = %s AND webhook_endpoints.deleted_at IS NULL"
)
IDEMPOTENCY_COMPLETE = (
    "UPDATE idempotency_keys SET state = %s, response_status = %s, response_content_type = %s, response_body = %s"
    " WHERE idempotency_keys.tenant_id = %s AND idempotency_keys.api_key_id = %s AND idempotency_keys.key = %s"
)

HOUR, DAY, WEEK = dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=7)


def _h(*parts: object) -> str:
    """A 32-hex stand-in for a keyed hash (``fraud.hashing.identifier_hash`` has the same length)."""
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).hexdigest()


class Ctx:
    def __init__(self, secret_hash: str, tenant_id: str, merchant_id: str, api_key_id: str, prefix: str) -> None:
        self.secret_hash, self.tenant_id, self.merchant_id = secret_hash, tenant_id, merchant_id
        self.api_key_id, self.prefix = api_key_id, prefix


async def authorize_one(pool: AsyncConnectionPool, ctx: Ctx, n: int) -> None:
    """One authorization's database work, statement for statement."""
    t, m = ctx.tenant_id, ctx.merchant_id
    now = dt.datetime.now(dt.UTC)
    amount = 1000 + (n * 37 % 130) * 100 + 550
    merchant_order_id = f"{ctx.prefix}-{n}"
    idem_key = merchant_order_id.lower()
    # 1: authentication (its own checkout, autocommit: Database.read)
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        await (await conn.execute(AUTH_SQL, (ctx.secret_hash,))).fetchone()
        await conn.set_autocommit(False)
    # 2: the idempotency claim, in autocommit (Database.autocommit)
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        await (
            await conn.execute(
                IDEMPOTENCY_CLAIM,
                (t, ctx.api_key_id, idem_key, "POST", "/v1/orders", _h("req", n) * 2, "in_flight", now, now),
            )
        ).fetchone()
        await conn.set_autocommit(False)
    # 3: the business transaction
    async with pool.connection() as conn:
        await (await conn.execute(AUTHORIZE_CONTEXT, {"t": t, "m": m})).fetchone()
        hashes = {k: _h(ctx.prefix, k, n) for k in KINDS}
        params: dict[str, Any] = {
            **hashes,
            "tenant_id": t,
            "cap": COUNT_CAP,
            "hour": now - HOUR,
            "day": now - DAY,
            "week": now - WEEK,
        }
        await (await conn.execute(VELOCITY, params)).fetchall()
        await (await conn.execute(AGGREGATES, params)).fetchone()
        address_key = f"東京都港区赤坂{n % 4 + 1}-{n % 60 + 1}-{n % 30 + 1}"
        await (await conn.execute(HITS, {**hashes, "tenant_id": t, "address_key": address_key})).fetchall()
        screening_id = new_id("scr")
        features = {
            "signals": {},
            "history": {
                "names_at_address": 0,
                "addresses_for_phone": 0,
                "identities_for_device": 0,
                "identities_for_ip": 0,
                "prior_orders": 0,
                "address_known_for_buyer": False,
            },
            "lists": {"allow": [], "block": [], "negative": []},
            "external": [],
        }
        await conn.execute(
            INSERT_SCREENING,
            (t, screening_id, m, merchant_order_id, amount, "JPY", "OK", 0, Jsonb([]), Jsonb(features), 0,
             "decided", None, None, None, None, None, None, now),
        )  # fmt: skip
        cur = conn.cursor()
        await cur.executemany(INSERT_IDENTIFIER, [(t, screening_id, k, h, now) for k, h in hashes.items()])
        await (await conn.execute(INSERT_USAGE, (t, new_id("use"), "screening", screening_id, now))).fetchone()
        keys = sorted((kind, _h(ctx.prefix, "consumer", kind, n)) for kind in ("phone", "email", "name_address"))
        kp = {"t": t}
        for i, (kind, h) in enumerate(keys, start=1):
            kp[f"k{i}"], kp[f"h{i}"] = kind, h
        await (await conn.execute(KEYS_OF, kp)).fetchall()
        consumer_id = new_id("con")
        await conn.execute(INSERT_CONSUMER, (t, consumer_id, "JPY", now))
        cp = {"t": t, "c": consumer_id}
        for i, (kind, h) in enumerate(keys):
            cp[f"k{i}"], cp[f"h{i}"] = kind, h
        # credit.resolve_consumer claims the keys inside a savepoint (rolled back if a concurrent claim wins)
        await conn.execute("SAVEPOINT sa_savepoint_1")
        await (await conn.execute(CLAIM_KEYS, cp)).fetchall()
        await conn.execute("RELEASE SAVEPOINT sa_savepoint_1")
        reserve = {"t": t, "id": consumer_id, "amount": amount, "limit": 55_000, "first_max": 30_000,
                   "block_overdue": True, "inc": 1}  # fmt: skip
        await (await conn.execute(RESERVE, reserve)).fetchone()
        order_id = new_id("ord")
        items = [
            {"ref": f"SKU-{n % 997}", "name": "緑茶ギフトセット", "quantity": 1, "tax_rate": 8,
             "unit_price": amount - 550, "captured_quantity": 0, "refunded_quantity": 0},
            {"ref": "SHIP", "name": "送料", "quantity": 1, "tax_rate": 10, "unit_price": 550,
             "captured_quantity": 0, "refunded_quantity": 0},
        ]  # fmt: skip
        buyer = {"name": "佐藤 太郎", "email": f"taro.sato.{n}@gmail.com", "phone": "090-1234-5678",
                 "address": f"東京都港区赤坂{n % 4 + 1}丁目{n % 60 + 1}番{n % 30 + 1}号", "name_kana": "サトウ タロウ",
                 "postal_code": "107-0052"}  # fmt: skip
        device = {"ip": "126.1.2.3", "timezone": "Asia/Tokyo", "device_id": f"dev-{n}",
                  "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15",
                  "accept_language": "ja-JP,ja;q=0.9"}  # fmt: skip
        expires = now + dt.timedelta(days=60)
        await (
            await conn.execute(
                INSERT_ORDER,
                (
                    t,
                    order_id,
                    m,
                    merchant_order_id,
                    "authorized",
                    "JPY",
                    amount,
                    0,
                    0,
                    0,
                    amount,
                    Jsonb(items),
                    Jsonb(buyer),
                    Jsonb(None),
                    Jsonb(device),
                    "separate",
                    None,
                    consumer_id,
                    screening_id,
                    0,
                    None,
                    None,
                    None,
                    now,
                    expires,
                    "none",
                    None,
                    None,
                    False,
                    now,
                    now,
                ),
            )  # fmt: skip
        ).fetchone()
        await conn.execute(
            INSERT_AUDIT,
            (t, new_id("aud"), ctx.api_key_id, "order.authorized", "order", order_id,
             Jsonb({"amount": amount, "status": "authorized"}), now),
        )  # fmt: skip
        await (await conn.execute(WEBHOOK_ENDPOINTS, (t, m, "active"))).fetchall()
        body = json.dumps(
            {"object": "order", "id": order_id, "merchant_order_id": merchant_order_id, "status": "authorized",
             "amount": amount, "currency": "JPY", "captured_amount": 0, "released_amount": 0, "refunded_amount": 0,
             "items": items, "buyer": buyer, "shipping": None, "invoice_delivery": "separate",
             "decline_reason": None, "review_deadline": None, "authorized_at": now.isoformat(),
             "expires_at": expires.isoformat(), "guarantee": "none", "arrival_confirmed_at": None,
             "test_mode": False, "created_at": now.isoformat(), "updated_at": now.isoformat()},
            ensure_ascii=False,
        ).encode()  # fmt: skip
        await conn.execute(
            IDEMPOTENCY_COMPLETE,
            ("completed", 201, "application/json", body, t, ctx.api_key_id, idem_key),
        )
        # leaving the pool context commits (psycopg_pool: commit on success, rollback on error)


async def run(
    dsn: str,
    ctx: Ctx,
    seconds: float,
    concurrency: int,
    pool_size: int = 10,
    first_n: int = 0,
    on_done: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Authorize orders for ``seconds`` with ``concurrency`` workers sharing a pool of ``pool_size``.
    ``on_done`` runs when the load ends, before the pool closes its connections (CPU accounting of the backends);
    its answer is in the result as ``on_done``."""
    latencies: list[float] = []
    errors = 0
    seq = iter(range(first_n, first_n + 100_000_000))
    async with AsyncConnectionPool(dsn, min_size=pool_size, max_size=pool_size, open=False) as pool:
        await pool.open(wait=True)
        deadline = time.perf_counter() + seconds

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    await authorize_one(pool, ctx, next(seq))
                except Exception as exc:  # noqa: BLE001 - counted and shown, as the server's non-2xx are
                    errors += 1
                    if errors <= 3:
                        print(f"  baseline error: {type(exc).__name__}: {exc}", file=sys.stderr)
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)

        cpu0, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*[loop() for _ in range(concurrency)])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
        done_info = on_done() if on_done is not None else None
    latencies.sort()
    done = len(latencies)
    return {
        "rps": done / elapsed,
        "p50_ms": latencies[done // 2] if done else float("nan"),
        "p99_ms": latencies[int(done * 0.99)] if done else float("nan"),
        "errors": float(errors),
        "orders": float(done),
        "client_cpu_ms_per_order": cpu * 1000 / done if done else float("nan"),
        "client_cpu_share": cpu / elapsed,
        "on_done": done_info,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args()
    import psycopg

    with psycopg.connect(args.dsn) as conn:
        row = conn.execute(
            "SELECT k.secret_hash, k.tenant_id, k.merchant_id, k.id FROM api_keys k WHERE k.role = 'merchant' LIMIT 1"
        ).fetchone()
    assert row, "no merchant key: prepare the database with ops/bench/checkout.py --keep-db first"
    ctx = Ctx(row[0], row[1], row[2], row[3], prefix=f"BL{int(time.time())}-{args.concurrency}")
    print(asyncio.run(run(args.dsn, ctx, args.seconds, args.concurrency, args.pool_size)))


if __name__ == "__main__":
    main()
