"""Every error is RFC 9457 problem details naming the field, and nothing is half-written."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.http.schemas.common import WriteModel
from app.validation import StrictPydanticPlugin
from domain.tenancy import service
from domain.tenancy.models import Merchant
from tests.fixtures.app import build_app
from tests.fixtures.factories import bearer

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "instance", "request_id", "errors"}


def assert_problem(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert PROBLEM_KEYS <= body.keys()
    assert body["status"] == status
    assert body["request_id"] == r.headers["x-request-id"]
    if code:
        assert body["code"] == code
    return body


async def merchant_count(db) -> int:
    async with db.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(Merchant))).scalar_one()


class TestBadInput:
    async def test_malformed_json_is_400(self, client, tenant_a, db):
        before = await merchant_count(db)
        r = await client.post(
            "/admin/v1/merchants",
            headers={**bearer(tenant_a.admin_key), "content-type": "application/json"},
            content=b'{"name": ',
        )
        assert_problem(r, 400, "malformed_json")
        assert await merchant_count(db) == before

    @pytest.mark.parametrize(
        "body,pointer",
        [
            ({"name": False}, "#/name"),
            ({"name": 12}, "#/name"),
            ({}, "#/name"),
            ({"name": ""}, "#/name"),
            ({"name": "ok", "surprise": 1}, "#/surprise"),
        ],
    )
    async def test_schema_violations_are_422_with_pointers(self, client, tenant_a, db, body, pointer):
        before = await merchant_count(db)
        r = await client.post("/admin/v1/merchants", headers=bearer(tenant_a.admin_key), json=body)
        problem = assert_problem(r, 422, "validation_error")
        assert pointer in [e["pointer"] for e in problem["errors"]]
        assert await merchant_count(db) == before

    async def test_top_level_array_is_422(self, client, tenant_a):
        r = await client.post("/admin/v1/merchants", headers=bearer(tenant_a.admin_key), json=["name"])
        assert_problem(r, 422)

    async def test_query_parameter_out_of_range_names_it(self, client, tenant_a):
        r = await client.get("/admin/v1/merchants?limit=1000", headers=bearer(tenant_a.admin_key))
        problem = assert_problem(r, 422)
        assert problem["errors"][0]["pointer"] == "query:limit"

    async def test_naive_timestamp_filter_is_422(self, client, tenant_a):
        r = await client.get("/admin/v1/merchants?created_gte=2026-01-01T00:00:00", headers=bearer(tenant_a.admin_key))
        problem = assert_problem(r, 422)
        assert problem["errors"][0]["pointer"] == "query:created_gte"

    async def test_wrong_content_type_is_415(self, client, tenant_a):
        r = await client.post(
            "/admin/v1/merchants",
            headers={**bearer(tenant_a.admin_key), "content-type": "text/plain"},
            content=b"name=x",
        )
        assert_problem(r, 415)

    async def test_oversize_body_is_413(self, client, tenant_a):
        big = {"name": "x" * 2_000_000}
        r = await client.post("/admin/v1/merchants", headers=bearer(tenant_a.admin_key), json=big)
        assert_problem(r, 413)


class TestRoutingErrors:
    async def test_unknown_route_is_404(self, client):
        assert_problem(await client.get("/v1/nothing-here"), 404)

    async def test_wrong_method_is_405(self, client, tenant_a):
        assert_problem(await client.delete("/admin/v1/merchants", headers=bearer(tenant_a.admin_key)), 405)

    async def test_request_id_is_echoed_when_valid(self, client):
        r = await client.get("/v1/nothing", headers={"X-Request-Id": "abc-123-def-456"})
        assert r.headers["x-request-id"] == "abc-123-def-456"
        assert r.json()["request_id"] == "abc-123-def-456"
        weird = await client.get("/v1/nothing", headers={"X-Request-Id": "<script>"})
        assert weird.headers["x-request-id"].startswith("req_")


class TestRateLimit:
    async def test_429_after_the_limit(self, db, tenant_a):
        from litestar.testing import AsyncTestClient

        async with AsyncTestClient(app=build_app(db, rate_limit_per_minute=3)) as c:
            statuses = [
                (await c.get("/v1/merchant", headers=bearer(tenant_a.merchant_key))).status_code for _ in range(4)
            ]
            assert statuses[:3] == [200, 200, 200]
            r = await c.get("/v1/merchant", headers=bearer(tenant_a.merchant_key))
            assert_problem(r, 429, "rate_limited")
            assert int(r.headers["retry-after"]) > 0  # seconds (more in tests/http/test_abuse.py)


class TestFailures:
    async def test_unexpected_error_is_500_without_internals(self, client, tenant_a, monkeypatch):
        async def boom(*a, **kw):
            raise RuntimeError("secret internal detail SELECT * FROM api_keys")

        monkeypatch.setattr(service, "list_merchants", boom)
        r = await client.get("/admin/v1/merchants", headers=bearer(tenant_a.admin_key))
        body = assert_problem(r, 500, "internal_error")
        assert "secret internal" not in r.text and "SELECT" not in r.text
        assert body["request_id"].startswith("req_")

    async def test_database_lost_mid_request_is_503_and_writes_nothing(self, client, tenant_a, db, monkeypatch):
        real = service.create_merchant

        async def half_then_die(session, principal, **fields):
            await real(session, principal, **fields)  # the row is flushed ...
            raise OperationalError("INSERT", {}, ConnectionResetError("server closed the connection"))

        before = await merchant_count(db)
        monkeypatch.setattr(service, "create_merchant", half_then_die)
        r = await client.post("/admin/v1/merchants", headers=bearer(tenant_a.admin_key), json={"name": "Half"})
        assert_problem(r, 503, "service_unavailable")
        assert r.headers["retry-after"]
        assert "INSERT" not in r.text
        assert await merchant_count(db) == before  # ... and rolled back


class Payment(WriteModel):
    amount: int
    currency: str
    due: dt.date


class TestStrictDecoding:
    """JSON-mode strict validation: no coercion of types, but JSON strings still become dates."""

    decode = staticmethod(StrictPydanticPlugin.decoders()[0][1])

    def test_accepts_proper_json_types(self):
        p = self.decode(Payment, {"amount": 1200, "currency": "JPY", "due": "2026-12-09"})
        assert p == Payment(amount=1200, currency="JPY", due=dt.date(2026, 12, 9))

    @pytest.mark.parametrize("amount", ["12", False, True, 12.0, 12.5, None])
    def test_rejects_coercible_amounts(self, amount):
        from litestar._signature.types import ExtendedMsgSpecValidationError

        with pytest.raises(ExtendedMsgSpecValidationError):
            self.decode(Payment, {"amount": amount, "currency": "JPY", "due": "2026-12-09"})

    def test_rejects_unknown_fields(self):
        from litestar._signature.types import ExtendedMsgSpecValidationError

        with pytest.raises(ExtendedMsgSpecValidationError):
            self.decode(Payment, {"amount": 1, "currency": "JPY", "due": "2026-12-09", "x": 1})

    def test_plain_models_are_decoded_too(self):
        class Loose(BaseModel):
            n: int

        assert self.decode(Loose, {"n": 3}).n == 3


async def test_the_app_decodes_bodies_strictly(client):
    """The strict decoder is the one the app uses (not Litestar's lax default, which would accept "12")."""
    decoders = [decoder for _, decoder in client.app.type_decoders or []]
    assert decoders[0] is StrictPydanticPlugin.decoders()[0][1]
