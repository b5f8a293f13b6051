"""emit(): nothing at all without a subscribed endpoint; otherwise one event, a delivery and a job per endpoint."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from domain.kit.tenancy import Principal, Role
from domain.tenancy import service as tenancy
from domain.webhooks import emit, service
from tests.webhooks.helpers import (
    ORDER,
    create_endpoint,
    deliver_jobs,
    deliveries,
    emit_order,
    events,
    merchant_principal,
)


class TestWithoutSubscribers:
    async def test_no_endpoint_writes_nothing(self, db, tenant_a):
        await emit_order(db, tenant_a)
        assert await events(db) == [] and await deliveries(db) == [] and await deliver_jobs(db) == []

    async def test_no_endpoint_is_one_select(self, db, tenant_a):
        statements: list[str] = []
        async with db.transaction() as s:
            conn = await s.connection()
            await conn.execute(text("SELECT 1"))  # the transaction (or savepoint) is open before counting

            def count(_conn, _cursor, statement, *_args) -> None:
                statements.append(statement)

            event.listen(conn.sync_connection, "before_cursor_execute", count)
            try:
                await emit(s, tenant_id=tenant_a.id, merchant_id=tenant_a.merchant.id, type="order.updated", data={})
            finally:
                event.remove(conn.sync_connection, "before_cursor_execute", count)
        assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")

    async def test_endpoints_of_other_types_disabled_or_deleted_get_nothing(self, db, tenant_a):
        await create_endpoint(db, tenant_a, events=["order.captured"])
        disabled = await create_endpoint(db, tenant_a)
        deleted = await create_endpoint(db, tenant_a)
        async with db.transaction() as s:
            me = merchant_principal(tenant_a)
            await service.update_endpoint(s, me, disabled.id, status="disabled")
            await service.delete_endpoint(s, me, deleted.id)
        await emit_order(db, tenant_a, "order.authorized")
        assert await events(db) == [] and await deliveries(db) == [] and await deliver_jobs(db) == []

    async def test_another_merchants_endpoint_gets_nothing(self, db, tenant_a, tenant_b):
        async with db.transaction() as s:
            sibling = await tenancy.create_merchant(s, tenant_a.admin, name="Sibling")
        await create_endpoint(db, tenant_a, merchant_id=sibling.id)
        await create_endpoint(db, tenant_b)
        await emit_order(db, tenant_a)
        assert await events(db) == []


class TestFanOut:
    async def test_one_event_and_one_delivery_and_job_per_subscribed_endpoint(self, db, tenant_a):
        everything = await create_endpoint(db, tenant_a, events=["*"])
        authorized = await create_endpoint(db, tenant_a, events=["order.authorized", "order.captured"])
        await create_endpoint(db, tenant_a, events=["invoice.issued"])

        await emit_order(db, tenant_a, "order.authorized")

        [evt] = await events(db)
        assert evt.id.startswith("evt_") and evt.type == "order.authorized" and evt.data == ORDER
        assert evt.merchant_id == tenant_a.merchant.id
        found = await deliveries(db)
        assert sorted(d.endpoint_id for d in found) == sorted([everything.id, authorized.id])
        assert {(d.event_id, d.status, d.attempts) for d in found} == {(evt.id, "pending", 0)}
        assert all(d.id.startswith("whd_") for d in found)
        jobs = await deliver_jobs(db)
        assert sorted(j.payload["delivery_id"] for j in jobs) == sorted(d.id for d in found)
        assert {(j.tenant_id, j.payload["tenant_id"], j.payload["attempt"]) for j in jobs} == {
            (tenant_a.id, tenant_a.id, 1)
        }

    async def test_rolls_back_with_the_business_transaction(self, db, tenant_a):
        await create_endpoint(db, tenant_a)

        class Boom(Exception):
            pass

        with pytest.raises(Boom):
            async with db.transaction() as s:
                await emit(s, tenant_id=tenant_a.id, merchant_id=tenant_a.merchant.id, type="order.cancelled", data={})
                raise Boom
        assert await events(db) == [] and await deliveries(db) == [] and await deliver_jobs(db) == []

    async def test_accepts_any_dotted_lowercase_type(self, db, tenant_a):
        await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a, "payout.reversed_later")
        assert [e.type for e in await events(db)] == ["payout.reversed_later"]

    @pytest.mark.parametrize("bad", ["Order.Authorized", "order", "order..x", "order.authorized ", ""])
    async def test_refuses_a_malformed_type(self, db, tenant_a, bad):
        async with db.transaction() as s:
            with pytest.raises(ValueError, match="dotted lowercase"):
                await emit(s, tenant_id=tenant_a.id, merchant_id=tenant_a.merchant.id, type=bad, data={})


def test_event_types_include_the_later_ones():
    assert {"order.authorized", "invoice.voided", "invoice.paid", "settlement.paid"} <= set(service.EVENT_TYPES)


def test_a_principal_without_a_merchant_cannot_own_endpoints():
    admin = Principal(api_key_id="k", role=Role.OPERATOR_ADMIN, tenant_id="opr_1")
    with pytest.raises(Exception, match="merchant key"):
        service._merchant_of(admin)
