"""``bnpl check`` (``domain/integrity.py``): clean after real flows, and each check catches the violation it names.

Violations are planted with raw SQL, behind the services' backs (the only way to get them: the services keep the
invariants), inside the test's transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from app.cli import cli
from domain.integrity import run_checks
from tests.checkout.helpers import authorized, capture_body, invoices, post, simulate_payment
from tests.fixtures.database import IS_PG

pytestmark = pytest.mark.integrity_exempt("plants violations on purpose")


async def failing(db) -> set[str]:
    async with db.transaction() as s:
        report = await run_checks(s)
    return {o.check.name for o in report.outcomes if not o.ok} | ({"outbox"} if report.outbox_problems else set())


async def captured_order(client, tenant) -> tuple[dict, dict]:
    order = await authorized(client, tenant)
    r = await post(client, tenant, f"/v1/orders/{order['id']}/captures", capture_body())
    assert r.status_code == 201, r.text
    [invoice] = await invoices(client, tenant, order["id"])
    return order, invoice


async def execute(db, sql: str, **params) -> None:
    async with db.transaction() as s:
        await s.execute(text(sql), params)


async def test_a_real_flow_is_clean(client, db, tenant_a):
    await captured_order(client, tenant_a)
    assert await failing(db) == set()


async def test_exposure_that_differs_from_the_orders(client, db, tenant_a):
    order, _ = await captured_order(client, tenant_a)
    await execute(db, "UPDATE consumers SET outstanding = outstanding + 1 WHERE tenant_id = :t", t=tenant_a.id)
    assert await failing(db) == {"credit.exposure"}


async def test_an_invoice_paid_without_allocations(client, db, tenant_a):
    _, invoice = await captured_order(client, tenant_a)
    await simulate_payment(db, tenant_a.id, invoice["id"], 1_000)  # paid_* moved, no payment, no allocation
    assert await failing(db) == {"invoices.paid_is_allocated"}


async def test_a_payment_applied_twice(client, db, tenant_a):
    _, invoice = await captured_order(client, tenant_a)
    await execute(
        db,
        "INSERT INTO payments (tenant_id, id, external_id, source, created_by, kind, channel, currency, amount,"
        " value_date, payer_name, payer_code, edi, status, invoice_id, open_amount, note, created_at)"
        " VALUES (:t, 'pay_x', 'ext-1', 'api', 'key_x', 'payment', 'bank_transfer', 'JPY', 500, :d, '', '', '',"
        " 'applied', :i, 0, '', :now)",
        t=tenant_a.id,
        i=invoice["id"],
        d=dt.date(2026, 12, 1),
        now=dt.datetime.now(dt.UTC),
    )
    for n in (1, 2):  # the same 500 allocated twice
        await execute(
            db,
            "INSERT INTO payment_allocations (tenant_id, id, payment_id, invoice_id, component, amount, created_at)"
            " VALUES (:t, :id, 'pay_x', :i, 'principal', 500, :now)",
            t=tenant_a.id,
            id=f"pal_{n}",
            i=invoice["id"],
            now=dt.datetime.now(dt.UTC),
        )
    assert {"payments.applied_once", "invoices.paid_is_allocated"} <= await failing(db)


async def test_a_usage_event_without_its_screening(db, tenant_a):
    await execute(
        db,
        "INSERT INTO usage_events (tenant_id, id, kind, source_id, occurred_at, quantity)"
        " VALUES (:t, 'use_x', 'screening', 'scr_nowhere', :now, 1)",
        t=tenant_a.id,
        now=dt.datetime.now(dt.UTC),
    )
    assert await failing(db) == {"usage.screenings_exist"}


async def test_a_message_stuck_in_the_outbox(db):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await execute(
        db,
        "INSERT INTO outbox_messages (id, actor, payload, created_at, available_at, attempts)"
        " VALUES ('msg_stuck', 'outbox.purge', '{}', :old, :old, 0)",
        old=old,
    )
    assert await failing(db) == {"outbox"}


async def test_a_message_in_flight_too_long(db):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await execute(
        db,
        "INSERT INTO outbox_messages (id, actor, payload, created_at, available_at, relayed_at, attempts)"
        " VALUES ('msg_lost', 'outbox.purge', '{}', :old, :old, :old, 0)",
        old=old,
    )
    assert await failing(db) == {"outbox"}


async def test_a_tampered_posting(client, db, tenant_a):
    """PostgreSQL refuses the tampering itself (postings are immutable, by trigger); SQLite has only the check."""
    await captured_order(client, tenant_a)
    tamper = "UPDATE ledger_postings SET amount = amount + 1 WHERE tenant_id = :t AND direction = 'debit'"
    if IS_PG:
        with pytest.raises(Exception, match="append-only"):
            await execute(db, tamper, t=tenant_a.id)
        assert await failing(db) == set()
    else:
        await execute(db, tamper, t=tenant_a.id)
        assert {"ledger.entries_balance", "ledger.trial_balance"} <= await failing(db)


@pytest.mark.postgres_only
async def test_suspense_that_the_allocations_do_not_explain(db, tenant_a):
    from domain.kit.money import Money
    from domain.ledger import credit, debit, post_entry

    async with db.transaction() as s:  # money into suspense with no payment behind it
        await post_entry(
            s, tenant_a.id, kind="test", lines=[debit("bank", Money(10, "JPY")), credit("suspense", Money(10, "JPY"))]
        )
    assert await failing(db) == {"payments.suspense_in_ledger"}


async def test_the_command_exits_1_and_names_the_check(committed_db, committed_client):
    from tests.fixtures.factories import create_tenant

    tenant = await create_tenant(committed_db, "Check BNPL")
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["check"])
    assert result.exit_code == 0, result.output
    assert "checks passed" in result.output
    await execute(
        committed_db,
        "INSERT INTO usage_events (tenant_id, id, kind, source_id, occurred_at, quantity)"
        " VALUES (:t, 'use_y', 'screening', 'scr_nowhere', :now, 1)",
        t=tenant.id,
        now=dt.datetime.now(dt.UTC),
    )
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["check", "--json"])
    assert result.exit_code == 1, result.output
    assert '"name": "usage.screenings_exist"' in result.output and "scr_nowhere" in result.output
