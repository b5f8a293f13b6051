"""Idempotency-Key: replay, mismatch, in flight, stale takeover, errors, scoping, and real concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from domain.kit.idempotency import IdempotencyRepository, KeyRef
from domain.tenancy.models import Merchant
from tests.fixtures.factories import bearer, create_tenant


def idem(key: str, secret: str) -> dict[str, str]:
    return {**bearer(secret), "Idempotency-Key": key}


async def merchants_named(db, name: str) -> int:
    async with db.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(Merchant).where(Merchant.name == name))).scalar_one()


class TestReplay:
    async def test_replay_returns_first_response_and_changes_nothing(self, client, db, tenant_a):
        first = await client.post("/admin/v1/merchants", headers=idem("k-1", tenant_a.admin_key), json={"name": "A"})
        again = await client.post("/admin/v1/merchants", headers=idem("k-1", tenant_a.admin_key), json={"name": "A"})
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert await merchants_named(db, "A") == 1

    async def test_key_order_and_whitespace_do_not_matter(self, client, tenant_a):
        h = {**idem("k-2", tenant_a.admin_key), "content-type": "application/json"}
        await client.post("/admin/v1/merchants", headers=h, content=b'{"name":"B"}')
        r = await client.post("/admin/v1/merchants", headers=h, content=b'{ "name" : "B" }')
        assert r.headers.get("idempotent-replayed") == "true"

    async def test_same_key_different_body_is_422(self, client, db, tenant_a):
        await client.post("/admin/v1/merchants", headers=idem("k-3", tenant_a.admin_key), json={"name": "C"})
        r = await client.post("/admin/v1/merchants", headers=idem("k-3", tenant_a.admin_key), json={"name": "D"})
        assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
        assert await merchants_named(db, "D") == 0

    async def test_same_key_on_another_endpoint_is_422(self, client, tenant_a):
        await client.post("/admin/v1/merchants", headers=idem("k-4", tenant_a.admin_key), json={"name": "E"})
        r = await client.post(
            "/admin/v1/api-keys",
            headers=idem("k-4", tenant_a.admin_key),
            json={"role": "operator_finance", "name": "E"},
        )
        assert r.status_code == 422

    async def test_domain_errors_are_replayed_too(self, client, tenant_a):
        key = (
            await client.post(
                "/admin/v1/api-keys", headers=bearer(tenant_a.admin_key), json={"role": "operator_finance", "name": "x"}
            )
        ).json()
        await client.post(f"/admin/v1/api-keys/{key['id']}/revoke", headers=bearer(tenant_a.admin_key))
        h = idem("k-5", tenant_a.admin_key)
        r1 = await client.post(f"/admin/v1/api-keys/{key['id']}/revoke", headers=h)
        r2 = await client.post(f"/admin/v1/api-keys/{key['id']}/revoke", headers=h)
        assert r1.status_code == r2.status_code == 409
        assert r2.headers["idempotent-replayed"] == "true"
        assert r1.json()["code"] == r2.json()["code"] == "api_key_already_revoked"

    async def test_invalid_key_format_is_422(self, client, tenant_a):
        r = await client.post("/admin/v1/merchants", headers=idem("has space", tenant_a.admin_key), json={"name": "F"})
        assert r.status_code == 422
        assert r.json()["errors"][0]["pointer"] == "header:Idempotency-Key"


class TestScope:
    async def test_keys_are_scoped_per_tenant(self, client, db, tenant_a, tenant_b):
        a = await client.post("/admin/v1/merchants", headers=idem("shared", tenant_a.admin_key), json={"name": "G"})
        b = await client.post("/admin/v1/merchants", headers=idem("shared", tenant_b.admin_key), json={"name": "G"})
        assert a.status_code == b.status_code == 201
        assert a.json()["id"] != b.json()["id"]
        assert "idempotent-replayed" not in b.headers


class TestInFlight:
    async def _claim(self, db, tenant, key_name):
        from app.idempotency import request_fingerprint
        from domain.kit.pagination import PageRequest
        from domain.kit.tenancy import Role
        from domain.tenancy import service

        async with db.transaction() as s:
            keys = await service.list_keys(s, tenant.admin, PageRequest(limit=100))
            api_key_id = next(k.id for k in keys.items if k.role == Role.OPERATOR_ADMIN.value)
            await IdempotencyRepository.from_session(s).claim(
                KeyRef(tenant.id, api_key_id, key_name),
                method="POST",
                path="/admin/v1/merchants",
                request_hash=request_fingerprint("POST", "/admin/v1/merchants", b'{"name":"H"}'),
                stale_after=dt.timedelta(seconds=60),
            )

    async def test_duplicate_while_in_flight_is_409(self, client, db, tenant_a):
        await self._claim(db, tenant_a, "busy")
        r = await client.post("/admin/v1/merchants", headers=idem("busy", tenant_a.admin_key), json={"name": "H"})
        assert r.status_code == 409 and r.json()["code"] == "idempotency_key_in_flight"
        assert await merchants_named(db, "H") == 0

    async def test_a_stale_claim_of_a_crashed_request_is_taken_over(self, client, db, tenant_a):
        with freeze_time("2026-11-25 01:00:00", real_asyncio=True):
            await self._claim(db, tenant_a, "crashed")
        with freeze_time("2026-11-25 01:05:00", real_asyncio=True):
            r = await client.post(
                "/admin/v1/merchants", headers=idem("crashed", tenant_a.admin_key), json={"name": "H"}
            )
        assert r.status_code == 201
        assert await merchants_named(db, "H") == 1

    async def test_an_unexpected_error_releases_the_key(self, client, db, tenant_a, monkeypatch):
        from domain.tenancy import service

        real = service.create_merchant

        async def fail_once(*a, **kw):
            monkeypatch.setattr(service, "create_merchant", real)
            raise RuntimeError("transient")

        monkeypatch.setattr(service, "create_merchant", fail_once)
        h = idem("retry-me", tenant_a.admin_key)
        assert (await client.post("/admin/v1/merchants", headers=h, json={"name": "I"})).status_code == 500
        assert (await client.post("/admin/v1/merchants", headers=h, json={"name": "I"})).status_code == 201
        assert await merchants_named(db, "I") == 1


@pytest.mark.postgres_only
async def test_concurrent_duplicates_create_exactly_one(http, committed_db):
    """Twelve requests in flight at once against a real server (the ``http`` fixture)."""
    tenant = await create_tenant(committed_db, "Concurrent")
    h = idem("race", tenant.admin_key)
    responses = await asyncio.gather(
        *[http.post("/admin/v1/merchants", headers=h, json={"name": "Race"}) for _ in range(12)]
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1  # every 201 is the same merchant: the first, or its replay
    assert await merchants_named(committed_db, "Race") == 1


class TestTransientFailures:
    """A deadlock or serialization failure rolls the whole transaction back: the request runs again, and the
    client sees one answer (not a 503) unless it keeps failing."""

    @staticmethod
    def deadlocking(monkeypatch, times: int) -> list[int]:
        import psycopg
        from sqlalchemy.exc import OperationalError

        from domain.tenancy import service

        real, calls = service.create_merchant, []

        async def flaky(session, principal, **fields):
            calls.append(1)
            merchant = await real(session, principal, **fields)  # written, then the transaction dies
            if len(calls) <= times:
                raise OperationalError("UPDATE consumers", {}, psycopg.errors.DeadlockDetected("deadlock detected"))
            return merchant

        monkeypatch.setattr(service, "create_merchant", flaky)
        return calls

    @pytest.mark.parametrize("key", ["t-1", None])
    async def test_a_deadlock_is_retried_and_applies_once(self, client, db, tenant_a, monkeypatch, key):
        calls = self.deadlocking(monkeypatch, times=2)
        headers = idem(key, tenant_a.admin_key) if key else bearer(tenant_a.admin_key)
        r = await client.post("/admin/v1/merchants", headers=headers, json={"name": "Retried"})
        assert r.status_code == 201, r.text
        assert len(calls) == 3
        assert await merchants_named(db, "Retried") == 1
        if key:
            again = await client.post("/admin/v1/merchants", headers=headers, json={"name": "Retried"})
            assert again.json() == r.json() and again.headers["idempotent-replayed"] == "true"
            assert await merchants_named(db, "Retried") == 1

    async def test_a_deadlock_that_persists_is_a_retryable_503_and_releases_the_key(
        self, client, db, tenant_a, monkeypatch
    ):
        calls = self.deadlocking(monkeypatch, times=99)
        headers = idem("t-2", tenant_a.admin_key)
        r = await client.post("/admin/v1/merchants", headers=headers, json={"name": "Stuck"})
        assert r.status_code == 503 and r.json()["code"] == "service_unavailable", r.text
        assert len(calls) == 3
        assert await merchants_named(db, "Stuck") == 0
        monkeypatch.undo()
        retry = await client.post("/admin/v1/merchants", headers=headers, json={"name": "Stuck"})
        assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers
        assert await merchants_named(db, "Stuck") == 1
