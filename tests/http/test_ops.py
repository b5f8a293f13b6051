"""Liveness, readiness and metrics."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import create_sessionmaker
from app.uow import Database
from tests.fixtures.app import build_app
from tests.fixtures.factories import bearer


async def test_health_needs_no_key(client):
    r = await client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_ready_reports_database_and_broker(client):
    r = await client.get("/ready")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "broker": "in-process"}


async def test_ready_is_503_when_the_database_is_gone():
    dead = create_async_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    try:
        async with AsyncTestClient(app=build_app(Database(create_sessionmaker(dead), dead))) as c:
            r = await c.get("/ready")
            assert r.status_code == 503
            assert r.json()["checks"]["database"].startswith("unavailable")
            # An authenticated call cannot even look its key up: 503, not 500.
            r = await c.get("/admin/v1/merchants", headers=bearer("sk_admin_whatever"))
            assert r.status_code == 503 and r.json()["code"] == "service_unavailable"
    finally:
        await dead.dispose()


async def test_ready_is_503_when_redis_is_gone(db):
    app = build_app(db, redis_url="redis://127.0.0.1:1/0")
    async with AsyncTestClient(app=app) as c:
        r = await c.get("/ready")
        assert r.status_code == 503
        assert r.json()["checks"]["broker"].startswith("unavailable")


async def test_metrics_expose_request_latency_and_our_counters(client, tenant_a):
    await client.get("/v1/merchant", headers=bearer(tenant_a.merchant_key))
    text = (await client.get("/metrics")).text
    assert "bnpl_request_duration_seconds" in text
    for name in ("bnpl_screenings_total", "bnpl_outbox_lag_seconds", "bnpl_job_failures_total"):
        assert name in text
