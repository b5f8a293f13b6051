"""Abuse protections at the edge: per-key rate limits, body limits, slow clients, and no personal data in logs.

Rows T4 (bad keys), T5 (rate limit), T6 (PII canaries in logs) and B3 (hostile bodies) of
``../shared/reference/reliability_perf.md``. The slow-client tests speak raw HTTP/1.1 to a real uvicorn, run with
the options ``bnpl serve`` gives it.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from app import middleware
from app.cli import processes
from app.logging import configure_logging
from app.middleware import MAX_JSON_DEPTH, RateLimiter
from app.settings import get_settings
from app.worker.relay import Relay
from domain.checkout import service as checkout_service
from domain.kit.tenancy import Role
from tests.checkout.helpers import order_body, yamato
from tests.fixtures.app import build_app, serving
from tests.fixtures.factories import Tenant, bearer, create_key, create_tenant
from tests.http.test_problems import assert_problem, merchant_count

# -- rate limits ----------------------------------------------------------------------------------------------


class TestRateLimit:
    async def test_the_request_beyond_the_limit_is_a_429_problem_with_retry_after(self, db, tenant_a):
        async with AsyncTestClient(app=build_app(db, rate_limit_per_minute=3)) as c:
            answers = [await c.get("/v1/merchant", headers=bearer(tenant_a.merchant_key)) for _ in range(4)]
        assert [r.status_code for r in answers[:3]] == [200, 200, 200]
        assert [r.headers["ratelimit-remaining"] for r in answers[:3]] == ["2", "1", "0"]
        assert answers[0].headers["ratelimit-limit"] == "3"
        refused = answers[3]
        problem = assert_problem(refused, 429, "rate_limited")
        # 3 a minute refill one every 20 s: the next request is allowed 20 s after the first, and the header says so.
        assert 15 <= int(refused.headers["retry-after"]) <= 20
        assert "3 requests a minute" in problem["detail"]

    async def test_a_flooding_key_does_not_limit_another_key(self, db, tenant_a, tenant_b):
        async with AsyncTestClient(app=build_app(db, rate_limit_per_minute=3)) as c:
            flood = [await c.get("/v1/merchant", headers=bearer(tenant_a.merchant_key)) for _ in range(10)]
            assert [r.status_code for r in flood].count(429) == 7
            # Another key of the same tenant, and a key of another tenant, from the same address: untouched.
            same_tenant = await c.get("/admin/v1/operator", headers=bearer(tenant_a.admin_key))
            other_tenant = await c.get("/v1/merchant", headers=bearer(tenant_b.merchant_key))
        assert same_tenant.status_code == 200, same_tenant.text
        assert other_tenant.status_code == 200, other_tenant.text
        assert other_tenant.headers["ratelimit-remaining"] == "2"

    async def test_guessed_keys_from_one_address_get_429_and_known_keys_go_on(self, db, tenant_a):
        async with AsyncTestClient(app=build_app(db, auth_failures_per_minute=5)) as c:
            # A known key first (it authenticated before the guessing started).
            assert (await c.get("/v1/merchant", headers=bearer(tenant_a.merchant_key))).status_code == 200
            guesses = [await c.get("/v1/merchant", headers=bearer(f"sk_mch_guess{i:04d}")) for i in range(8)]
            assert [r.status_code for r in guesses] == [401] * 5 + [429] * 3
            problem = assert_problem(guesses[-1], 429, "rate_limited")
            assert "unknown API key" in problem["detail"]
            assert 1 <= int(guesses[-1].headers["retry-after"]) <= 12  # 5 a minute: one more in 12 s
            no_key = await c.get("/v1/merchant")
            assert no_key.status_code == 429
            known = await c.get("/v1/merchant", headers=bearer(tenant_a.merchant_key))
        assert known.status_code == 200, known.text

    async def test_guessed_keys_are_limited_with_the_per_key_limit_off(self, db, tenant_a):
        async with AsyncTestClient(app=build_app(db, rate_limit_per_minute=0, auth_failures_per_minute=2)) as c:
            assert (await c.get("/v1/merchant", headers=bearer(tenant_a.merchant_key))).status_code == 200
            guesses = [await c.get("/v1/merchant", headers=bearer(f"sk_mch_guess{i}")) for i in range(3)]
            known = await c.get("/v1/merchant", headers=bearer(tenant_a.merchant_key))
        assert [r.status_code for r in guesses] == [401, 401, 429]
        assert known.status_code == 200 and "ratelimit-limit" not in known.headers

    async def test_public_paths_are_not_limited(self, db):
        async with AsyncTestClient(app=build_app(db, rate_limit_per_minute=1, auth_failures_per_minute=1)) as c:
            assert [(await c.get("/health")).status_code for _ in range(3)] == [200, 200, 200]


class TestRateLimiter:
    """The bucket itself, on a clock the test moves."""

    def test_refills_evenly_and_tells_when_the_next_request_is_allowed(self):
        now = [1000.0]
        limiter = RateLimiter(3, 60, clock=lambda: now[0])
        assert [limiter.hit("k").allowed for _ in range(3)] == [True, True, True]
        refused = limiter.hit("k")
        assert not refused.allowed and refused.retry_after == pytest.approx(20)
        now[0] += 19.9
        assert not limiter.hit("k").allowed
        now[0] += 0.1
        assert limiter.hit("k").allowed
        assert not limiter.hit("k").allowed
        now[0] += 60  # a quiet minute fills the bucket again: a burst of 3, not more
        assert [limiter.hit("k").allowed for _ in range(4)] == [True, True, True, False]

    def test_identities_idle_for_a_period_are_forgotten(self):
        now = [0.0]
        limiter = RateLimiter(10, 60, clock=lambda: now[0])
        for i in range(5000):
            limiter.hit(f"key-{i}")
        now[0] += 6 + 60  # a period after the old keys' buckets were full again
        for i in range(5000):
            limiter.hit(f"other-{i}")
        assert len(limiter) <= 5000  # swept when the table doubled: only the keys of the last period are kept
        assert limiter.hit("key-0").remaining == 9  # forgotten: a full bucket


# -- hostile bodies -------------------------------------------------------------------------------------------

JSON = {"content-type": "application/json"}


class TestHostileBodies:
    @pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
    async def test_deep_nesting_is_a_400_problem(self, client, tenant_a, db, depth):
        before = await merchant_count(db)
        body = b'{"name": ' + b"[" * depth + b"]" * depth + b"}"
        r = await client.post("/admin/v1/merchants", headers=bearer(tenant_a.admin_key) | JSON, content=body)
        problem = assert_problem(r, 400, "malformed_json")
        assert "nested" in problem["detail"]
        assert await merchant_count(db) == before

    async def test_nesting_within_the_limit_is_an_ordinary_422(self, client, tenant_a):
        body = b'{"name": ' + b"[" * 10 + b"]" * 10 + b"}"
        r = await client.post("/admin/v1/merchants", headers=bearer(tenant_a.admin_key) | JSON, content=body)
        assert_problem(r, 422, "validation_error")

    @pytest.mark.parametrize(
        "body", [b'{"name": "\xff\xfe shop"}', b'{"na\xc3me": "shop"}', b'{"name": "\xed\xa0\x80"}']
    )
    async def test_invalid_utf8_is_a_400_problem(self, client, tenant_a, db, body):
        before = await merchant_count(db)
        r = await client.post("/admin/v1/merchants", headers=bearer(tenant_a.admin_key) | JSON, content=body)
        problem = assert_problem(r, 400, "malformed_json")
        assert "UTF-8" in problem["detail"]
        assert await merchant_count(db) == before

    async def test_a_deep_body_on_a_route_without_one_is_no_500(self, client, tenant_a):
        """The idempotency fingerprint parses any body sent with an Idempotency-Key, even on routes taking none."""
        keys = await client.get("/admin/v1/api-keys", headers=bearer(tenant_a.admin_key))
        key_id = next(k["id"] for k in keys.json()["data"] if k["role"] == "merchant")
        deep = b"[" * 100_000 + b"]" * 100_000
        headers = bearer(tenant_a.admin_key) | JSON | {"Idempotency-Key": "deep-1"}
        r = await client.post(f"/admin/v1/api-keys/{key_id}/revoke", headers=headers, content=deep)
        assert r.status_code == 200, r.text


# -- slow clients, against a real server ----------------------------------------------------------------------

BODY_TIMEOUT = 0.5
MAX_BODY = 4096


@dataclass
class Served:
    port: int
    tenant: Tenant

    def head(self, *, length: int | None = None, chunked: bool = False) -> bytes:
        lines = [
            "POST /admin/v1/merchants HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            f"Authorization: Bearer {self.tenant.admin_key}",
            "Content-Type: application/json",
        ]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    """One response (waiting up to 5 s for it)."""
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RawResponse(int(status_line.split()[1]), headers, body)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        async with asyncio.timeout(1):
            return await reader.read(1) == b""
    except TimeoutError:
        return False


async def _has_data(reader: asyncio.StreamReader) -> bool:
    try:
        async with asyncio.timeout(0.05):
            await reader.read(1)
    except TimeoutError:
        return False
    return True


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _served(db, body_timeout: float) -> AsyncIterator[Served]:
    tenant = await create_tenant(db)
    app = build_app(db, request_body_timeout_seconds=body_timeout, max_body_bytes=MAX_BODY)
    async with serving(app, **processes.uvicorn_limits(get_settings())) as port:
        yield Served(port, tenant)


@pytest.fixture
async def served(committed_db) -> AsyncIterator[Served]:
    async for s in _served(committed_db, BODY_TIMEOUT):
        yield s


@pytest.fixture
async def patient(committed_db) -> AsyncIterator[Served]:
    """A long body timeout, for what must happen well before it (on a busy machine too)."""
    async for s in _served(committed_db, 30):
        yield s


class TestSlowClients:
    async def test_a_body_that_stops_coming_gets_408_and_the_connection_is_closed(self, served):
        reader, writer = await connect(served.port)
        writer.write(served.head(length=100) + b'{"name": ')  # and then nothing
        started = time.monotonic()
        r = await read_response(reader)
        waited = time.monotonic() - started
        closed = await closed_by_server(reader)
        writer.close()
        assert r.status == 408 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "request_timeout" and r.json()["status"] == 408
        assert BODY_TIMEOUT <= waited < BODY_TIMEOUT + 5  # (slack for a busy machine)
        assert closed  # the rest of the body may still be on its way: the connection cannot be reused

    async def test_a_dribbled_body_gets_408_at_the_deadline_not_at_its_end(self, served):
        """One byte every 50 ms keeps every read short; the deadline is for the whole body."""
        reader, writer = await connect(served.port)
        body = json.dumps({"name": "x" * 200}).encode()
        writer.write(served.head(length=len(body)))

        async def dribble() -> None:
            for byte in body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)

        sender = asyncio.create_task(dribble())
        started = time.monotonic()
        r = await read_response(reader)
        waited = time.monotonic() - started
        sender.cancel()
        writer.close()
        assert r.status == 408, r.body
        assert waited < BODY_TIMEOUT + 5 < len(body) * 0.05  # at the deadline, far from the body's end

    async def test_other_clients_are_served_while_one_stalls(self, patient):
        stalled_reader, stalled = await connect(patient.port)
        stalled.write(patient.head(length=100) + b"{")
        await asyncio.sleep(0.1)
        reader, writer = await connect(patient.port)
        body = json.dumps({"name": "Quick shop"}).encode()
        started = time.monotonic()
        writer.write(patient.head(length=len(body)) + body)
        quick = await read_response(reader)
        waited = time.monotonic() - started
        still_waiting = not stalled_reader.at_eof() and not await _has_data(stalled_reader)
        writer.close()
        stalled.close()
        assert quick.status == 201, quick.body
        assert still_waiting and waited < 10  # answered long before the stalled request's 30 s deadline

    async def test_a_body_that_arrives_in_time_is_served(self, served):
        reader, writer = await connect(served.port)
        body = json.dumps({"name": "Patient shop"}).encode()
        writer.write(served.head(length=len(body)) + body[:5])
        await asyncio.sleep(BODY_TIMEOUT / 3)
        writer.write(body[5:])
        r = await read_response(reader)
        writer.close()
        assert r.status == 201, r.body

    async def test_a_long_body_arriving_steadily_is_not_cut_off(self, served, monkeypatch):
        """The deadline moves on with each chunk (here at 1 KiB/s): 4 KiB in 1.2 s, over twice the timeout."""
        monkeypatch.setattr(middleware, "MIN_BODY_BYTES_PER_SECOND", 1024)
        body = json.dumps({"name": "Steady shop", "pad": " " * 4000}).encode()[:MAX_BODY]
        reader, writer = await connect(served.port)
        writer.write(served.head(length=len(body)))
        for start in range(0, len(body), 1024):
            writer.write(body[start : start + 1024])
            await asyncio.sleep(0.3)
        r = await read_response(reader)
        writer.close()
        assert r.status == 422, r.body  # read to the end and validated ("pad" is no field): no 408
        assert r.json()["code"] == "validation_error"

    async def test_a_chunked_body_over_the_limit_is_413(self, served, committed_db):
        before = await merchant_count(committed_db)
        reader, writer = await connect(served.port)
        writer.write(served.head(chunked=True))
        chunk = b" " * 1024
        for _ in range(MAX_BODY // len(chunk) + 2):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        writer.write(b"0\r\n\r\n")
        r = await read_response(reader)
        writer.close()
        assert r.status == 413 and r.json()["code"] == "payload_too_large"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert await merchant_count(committed_db) == before

    async def test_a_declared_length_over_the_limit_is_413_before_the_body(self, served):
        reader, writer = await connect(served.port)
        writer.write(served.head(length=MAX_BODY + 1))  # no body sent at all: refused on the header alone
        r = await read_response(reader)
        writer.close()
        assert r.status == 413 and r.json()["code"] == "payload_too_large"


def test_serve_gives_uvicorn_the_limits(monkeypatch):
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **kw: calls.append(kw))
    result = CliRunner().invoke(processes.serve, [])
    configure_logging(json=False, level="WARNING")
    assert result.exit_code == 0, result.output
    [options] = calls
    settings = get_settings()
    assert options["timeout_keep_alive"] == settings.keep_alive_timeout_seconds == 5
    assert options["limit_concurrency"] == settings.max_concurrency == 512
    assert options["timeout_graceful_shutdown"] == settings.graceful_shutdown_seconds == 30
    assert settings.request_body_timeout_seconds == 10


# -- personal data in logs ------------------------------------------------------------------------------------

BUYER = {
    "name": "河野 澄香",
    "name_kana": "コウノ スミカ",
    "email": "sumika.kono@example.jp",
    "phone": "080-4321-8765",
    "postal_code": "530-0001",
    "address": "大阪府大阪市北区梅田3丁目9番地1号 梅田タワー2205",
}
SHIPPING = {"name": "河野 陽介", "postal_code": "060-0005", "address": "北海道札幌市中央区北5条西2丁目7番地"}
DEVICE = {"ip": "198.51.100.77", "user_agent": "Mozilla/5.0 (Sumika-Phone)", "device_id": "dev-c4n4ry-77"}
NEW_ADDRESS = "福岡県福岡市博多区博多駅前2丁目1番地1号"


def canaries() -> set[str]:
    values = {*BUYER.values(), *SHIPPING.values(), *DEVICE.values(), NEW_ADDRESS}
    derived = set()
    for value in values:
        derived.add(json.dumps(value)[1:-1])  # as JSON renders it (\\uXXXX escapes)
        derived.add(value.replace(" ", ""))
        if re.fullmatch(r"[\d-]+", value):
            derived.add(value.replace("-", ""))  # the normalised phone number or postal code
    derived.add(BUYER["email"].split("@")[0])
    return values | derived


def order(n: int) -> dict[str, Any]:
    body = order_body(n, buyer=dict(BUYER))
    return body | {"shipping": SHIPPING, "device": DEVICE | {"timezone": "Asia/Tokyo"}}


@pytest.mark.parametrize(
    "log_json,level",
    [(True, "INFO"), (True, "DEBUG"), (False, "DEBUG")],
    ids=["production", "production-debug", "console-debug"],
)
async def test_buyer_data_never_reaches_the_logs(db, tenant_a, monkeypatch, log_json, level):
    """A checkout (screening, order, change, capture), a 422 and a 400 on bodies full of buyer data, and a 500
    whose database error quotes the order row; everything logged (structlog and stdlib: JSON at INFO as in
    production, and at DEBUG as during an incident, and the development console) is searched for each piece of
    buyer data sent."""
    merchant = bearer(tenant_a.merchant_key)
    captured = io.StringIO()
    app = build_app(db, log_json=log_json, log_level=level)
    async with AsyncTestClient(app=app) as c:
        logging.getLogger().handlers[0].setStream(captured)  # configured by the app's startup, as in production
        try:
            screening = await c.post(
                "/v1/screenings",
                headers=merchant,
                json={"order_id": "PII-1", "amount": 6800, "currency": "JPY", "buyer": BUYER, "device": DEVICE},
            )
            assert screening.status_code == 201, screening.text
            created = await c.post("/v1/orders", headers=merchant | {"Idempotency-Key": "pii-1"}, json=order(1))
            assert created.status_code == 201 and created.json()["status"] == "authorized", created.text
            order_id = created.json()["id"]
            assert (await c.get(f"/v1/orders/{order_id}", headers=merchant)).status_code == 200
            changed = await c.patch(
                f"/v1/orders/{order_id}", headers=merchant, json={"buyer": BUYER | {"address": NEW_ADDRESS}}
            )
            assert changed.status_code == 200, changed.text
            captured_r = await c.post(
                f"/v1/orders/{order_id}/captures",
                headers=merchant,
                json={"carrier": "yamato", "tracking_number": yamato(3)},
            )
            assert captured_r.status_code == 201, captured_r.text

            invalid = await c.post("/v1/orders", headers=merchant, json=order(2) | {"amount": "6800"})
            assert invalid.status_code == 422
            truncated = json.dumps(order(3), ensure_ascii=False).encode()[:-40]
            malformed = await c.post("/v1/orders", headers=merchant | JSON, content=truncated)
            assert malformed.status_code == 400

            real_new_id = checkout_service.new_id
            monkeypatch.setattr(checkout_service, "new_id", lambda p: None if p == "ord" else real_new_id(p))
            broken = await c.post("/v1/orders", headers=merchant, json=order(4))
            monkeypatch.setattr(checkout_service, "new_id", real_new_id)
            assert broken.status_code == 500, broken.text

            await Relay(db, enqueue=None).drain()  # the work the checkout left for the worker, logged alike
        finally:
            logged = captured.getvalue()
            configure_logging(json=False, level="WARNING")

    # The capture holds what it should: an access line per request and the 500's traceback.
    assert logged.count("bnpl.access") >= 8, logged
    assert "unhandled_error" in logged and "Traceback" in logged
    assert re.search(r"NotNullViolation|IntegrityError", logged), logged
    if log_json:
        assert all(json.loads(line) for line in logged.splitlines() if line.startswith("{"))
    leaked = sorted(v for v in canaries() if v in logged)
    assert not leaked, f"personal data in the logs: {leaked}\n{logged}"


async def test_api_keys_never_reach_the_logs(db, tenant_a):
    """Secrets too: neither a valid key nor a guessed one is logged."""
    secret = await create_key(db, Role.MERCHANT, tenant_a.id, tenant_a.merchant.id)
    captured = io.StringIO()
    async with AsyncTestClient(app=build_app(db, log_json=True, log_level="INFO")) as c:
        logging.getLogger().handlers[0].setStream(captured)
        try:
            assert (await c.get("/v1/merchant", headers=bearer(secret))).status_code == 200
            assert (await c.get("/v1/merchant", headers=bearer("sk_mch_guessed-secret-123"))).status_code == 401
        finally:
            logged = captured.getvalue()
            configure_logging(json=False, level="WARNING")
    assert logged.count("bnpl.access") == 2
    assert secret not in logged and secret[8:] not in logged and "guessed-secret-123" not in logged
