"""Payment files end to end: import through the API, reconcile in chunks (set-based and one by one), import twice,
reject a malformed file whole, and resume a reconciliation interrupted mid-way without applying anything twice."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from domain.checkout.service import active_policy
from domain.collections import batch, reconcile
from domain.collections.formats.konbini import KonbiniRow, build_konbini_csv
from domain.collections.formats.zengin import Zengin01Group, Zengin01Transfer, build_zengin_01
from domain.collections.models import Payment, PaymentAllocation, PaymentFile
from tests.checkout.helpers import authorized, balances, capture_body, consumers, invoices, ledger_ok, post
from tests.fixtures.factories import bearer, create_tenant

TOTAL = 6_800
DAY = dt.date(2026, 12, 1)


async def shipped(client, tenant, n: int) -> dict:
    order = await authorized(client, tenant, n)
    r = await post(client, tenant, f"/v1/orders/{order['id']}/captures", capture_body(n))
    assert r.status_code == 201, r.text
    return (await invoices(client, tenant, order["id"]))[-1]


def transfer(n: int, amount: int, **kw) -> Zengin01Transfer:
    return Zengin01Transfer(inquiry_no=f"{n:06d}", account_date=DAY, value_date=DAY, amount=amount, **kw)


def group(account: str, *transfers: Zengin01Transfer) -> Zengin01Group:
    bank, branch, number = account.split("-")
    return Zengin01Group(
        bank_code=bank,
        branch_code=branch,
        account_number=number,
        period_from=DAY,
        period_to=DAY,
        transfers=transfers,
    )


async def upload(client, tenant, data: bytes, name: str = "nyukin.txt", expect: int = 202) -> dict:
    r = await client.post(
        f"/admin/v1/payment-files?filename={name}",
        headers=bearer(tenant.finance_key) | {"Content-Type": "application/octet-stream"},
        content=data,
    )
    assert r.status_code == expect, r.text
    return r.json()


async def run_reconciliation(db, tenant, file_id: str, *, limit: int = batch.CHUNK) -> int:
    chunks = 0
    while True:
        async with db.transaction() as s:
            result = await batch.reconcile_chunk(s, tenant.id, file_id, await active_policy(s, tenant.id), limit=limit)
        chunks += 1
        if not result.remaining:
            return chunks


async def statuses(db, tenant_id: str) -> dict[str, tuple[str, str | None]]:
    async with db.sessionmaker() as s:
        rows = (
            await s.execute(
                select(Payment.external_id, Payment.status, Payment.outcome).where(Payment.tenant_id == tenant_id)
            )
        ).all()
    return {external_id: (status, outcome) for external_id, status, outcome in rows}


async def count(db, model, tenant_id: str) -> int:
    async with db.sessionmaker() as s:
        return (
            await s.execute(select(func.count()).select_from(model).where(model.tenant_id == tenant_id))
        ).scalar_one()


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_a_bank_file_reconciles_every_line_and_importing_it_again_changes_nothing(client, tenant_a, db):
    invoices_ = [await shipped(client, tenant_a, n) for n in range(1, 6)]
    parent = "0001-001-9999999"  # the operator's own collection account: no invoice holds it
    data = build_zengin_01(
        [
            # one group per virtual account (each credit identifies its invoice) ...
            *(group(inv["virtual_account"], transfer(i, TOTAL)) for i, inv in enumerate(invoices_[:3], start=1)),
            # ... and the parent account: a reference in the name, a partial payment, and an unknown payer
            group(
                parent,
                transfer(10, TOTAL, payer_name=f"{invoices_[3]['transfer_reference']} ﾔﾏﾀﾞ ﾀﾛｳ"),
                transfer(11, 2_000, payer_code=invoices_[4]["transfer_reference"]),
                transfer(12, 3_000, payer_name="ｽｽﾞｷ ｲﾁﾛｳ"),
            ),
        ],
        created_on=DAY,
    )
    record = await upload(client, tenant_a, data)
    assert (record["status"], record["payment_count"], record["total_amount"]) == (
        "received",
        6,
        3 * TOTAL + TOTAL + 5_000,
    )

    chunks = await run_reconciliation(db, tenant_a, record["id"], limit=4)
    assert chunks == 2

    got = await statuses(db, tenant_a.id)
    assert sorted(v for v in got.values()) == sorted(
        [("applied", "exact")] * 4 + [("applied", "partial"), ("unmatched", "unidentified")]
    )
    done = (await client.get(f"/admin/v1/payment-files/{record['id']}", headers=bearer(tenant_a.finance_key))).json()
    assert done["status"] == "reconciled"
    assert done["summary"]["exact"] == {"count": 4, "amount": 4 * TOTAL}
    money = await balances(client, tenant_a)
    assert (money["bank"], money["suspense"], money["consumer_receivable"]) == (4 * TOTAL + 5_000, 3_000, TOTAL - 2_000)
    assert sum(c.outstanding for c in await consumers(db, tenant_a.id)) == TOTAL - 2_000

    again = await upload(client, tenant_a, data)
    assert again["id"] == record["id"]
    assert await count(db, Payment, tenant_a.id) == 6 and await count(db, PaymentFile, tenant_a.id) == 1
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_a_line_already_imported_in_another_file_is_not_applied_again(client, tenant_a, db):
    invoice = await shipped(client, tenant_a, 1)
    line = transfer(1, TOTAL)
    first = await upload(client, tenant_a, build_zengin_01([group(invoice["virtual_account"], line)], created_on=DAY))
    await run_reconciliation(db, tenant_a, first["id"])
    # The next day's file repeats yesterday's line (same account, 照会番号, date and amount) and adds one.
    other = await shipped(client, tenant_a, 2)
    second = await upload(
        client,
        tenant_a,
        build_zengin_01(
            [group(invoice["virtual_account"], line), group(other["virtual_account"], transfer(2, TOTAL))],
            created_on=DAY + dt.timedelta(days=1),
        ),
    )
    assert second["id"] != first["id"] and second["payment_count"] == 2
    await run_reconciliation(db, tenant_a, second["id"])
    assert await count(db, Payment, tenant_a.id) == 2
    assert (await balances(client, tenant_a))["bank"] == 2 * TOTAL
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_a_cancel_record_reverses_its_transfer(client, tenant_a, db):
    invoice = await shipped(client, tenant_a, 1)
    paid = await upload(
        client, tenant_a, build_zengin_01([group(invoice["virtual_account"], transfer(7, TOTAL))], created_on=DAY)
    )
    await run_reconciliation(db, tenant_a, paid["id"])
    cancelled = await upload(
        client,
        tenant_a,
        build_zengin_01([group(invoice["virtual_account"], transfer(7, TOTAL, cancel=True))], created_on=DAY),
    )
    await run_reconciliation(db, tenant_a, cancelled["id"])
    got = await statuses(db, tenant_a.id)
    assert sorted(got.values()) == [("recorded", "reversed"), ("reversed", "exact")]
    money = await balances(client, tenant_a)
    assert (money["bank"], money["consumer_receivable"]) == (0, TOTAL)
    await ledger_ok(db, tenant_a.id)


@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_a_convenience_store_csv_preliminary_then_final(client, tenant_a, db):
    invoice = await shipped(client, tenant_a, 1)
    paid_at = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    rows = [
        KonbiniRow(
            kind="preliminary",
            record_id="S1",
            payment_number=invoice["payment_number"],
            amount=TOTAL,
            paid_at=paid_at,
            store="0001",
        ),
        KonbiniRow(
            kind="payment",
            record_id="K1",
            payment_number=invoice["payment_number"],
            amount=TOTAL,
            paid_at=paid_at,
            store="0001",
        ),
    ]
    record = await upload(client, tenant_a, build_konbini_csv(rows), name="cvs.csv")
    assert record["kind"] == "konbini_csv"
    await run_reconciliation(db, tenant_a, record["id"])
    got = await statuses(db, tenant_a.id)
    assert got["cvs:K1"] == ("applied", "exact") and got["cvs:S1"][0] == "confirmed"
    assert (await balances(client, tenant_a))["agent_collections_in_transit"] == TOTAL
    await ledger_ok(db, tenant_a.id)


async def test_a_malformed_file_is_rejected_whole_with_its_line_numbers(client, tenant_a, db):
    good = build_zengin_01([group("0001-001-0000001", transfer(1, 1_000), transfer(2, 2_000))], created_on=DAY)
    lines = good.split(b"\r\n")
    lines[2] = lines[2][:100]  # the second data record cut short
    problem = await upload(client, tenant_a, b"\r\n".join(lines), expect=422)
    assert problem["code"] == "payment_file_rejected"
    assert any(e["line"] == 3 for e in problem["lines"]), problem
    assert any(e["pointer"].startswith("#/line/3/") for e in problem["errors"]), problem
    assert await count(db, PaymentFile, tenant_a.id) == 0 and await count(db, Payment, tenant_a.id) == 0


@pytest.mark.postgres_only
@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_a_reconciliation_killed_mid_chunk_resumes_without_applying_anything_twice(
    committed_client, committed_db, monkeypatch
):
    client, db = committed_client, committed_db
    tenant = await create_tenant(db)
    invoices_ = [await shipped(client, tenant, n) for n in range(1, 5)]
    # Partial payments take the one-by-one path; the crash comes after two of them were applied in the chunk.
    data = build_zengin_01(
        [group(inv["virtual_account"], transfer(i, 1_000)) for i, inv in enumerate(invoices_, start=1)], created_on=DAY
    )
    record = await upload(client, tenant, data)
    real = reconcile.reconcile
    calls = {"n": 0}

    async def dying(session, payment, policy):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return await real(session, payment, policy)

    monkeypatch.setattr(batch.reconcile, "reconcile", dying)
    with pytest.raises(RuntimeError):
        await run_reconciliation(db, tenant, record["id"])
    assert await count(db, PaymentAllocation, tenant.id) == 0  # the chunk rolled back whole
    monkeypatch.setattr(batch.reconcile, "reconcile", real)
    await run_reconciliation(db, tenant, record["id"])
    await run_reconciliation(db, tenant, record["id"])  # and once more: nothing left to do
    got = await statuses(db, tenant.id)
    assert sorted(got.values()) == [("applied", "partial")] * 4
    money = await balances(client, tenant)
    assert money["bank"] == 4_000 and money["consumer_receivable"] == 4 * TOTAL - 4_000
    await ledger_ok(db, tenant.id)


async def test_a_bank_file_may_be_larger_than_a_json_body_but_not_unbounded(client, tenant_a, db):
    groups = [group(f"0001-001-{i:07d}", transfer(i, 1_000)) for i in range(1, 5_001)]
    data = build_zengin_01(groups, created_on=DAY)
    assert len(data) > 2 * 1_048_576  # larger than the API's 1 MiB limit for JSON bodies
    record = await upload(client, tenant_a, data)
    assert record["payment_count"] == 5_000
    headers = bearer(tenant_a.finance_key) | {
        "Content-Type": "application/octet-stream",
        "Content-Length": str(65 << 20),
    }
    r = await client.post("/admin/v1/payment-files", headers=headers, content=b"")
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    big_json = {"external_id": "x", "amount": 1, "value_date": "2026-12-01", "edi": "x" * 2_000_000}
    r = await client.post("/admin/v1/payments", headers=bearer(tenant_a.finance_key), json=big_json)
    assert r.status_code == 413


@pytest.mark.postgres_only
@freeze_time("2026-11-25 10:00:00", real_asyncio=True)
async def test_two_runners_of_one_file_share_it_and_apply_each_payment_once(committed_client, committed_db):
    """The worker and ``bnpl payments import`` (or a redelivered message) reconciling one file at the same time."""
    import asyncio

    client, db = committed_client, committed_db
    tenant = await create_tenant(db)
    invoices_ = [await shipped(client, tenant, n) for n in range(1, 7)]
    # Partial payments: the one-by-one path, the slow one, where two runners overlap the longest.
    data = build_zengin_01(
        [group(inv["virtual_account"], transfer(i, 4_000)) for i, inv in enumerate(invoices_, start=1)], created_on=DAY
    )
    record = await upload(client, tenant, data)
    await asyncio.gather(*[run_reconciliation(db, tenant, record["id"], limit=2) for _ in range(2)])
    got = await statuses(db, tenant.id)
    assert sorted(got.values()) == [("applied", "partial")] * 6
    async with db.sessionmaker() as s:
        rows = (
            await s.execute(select(PaymentAllocation.payment_id, func.count()).group_by(PaymentAllocation.payment_id))
        ).all()
    assert sorted(n for _, n in rows) == [1] * 6  # one principal row per payment, none twice
    money = await balances(client, tenant)
    assert (money["bank"], money["consumer_receivable"]) == (6 * 4_000, 6 * (TOTAL - 4_000))
    await ledger_ok(db, tenant.id)


async def test_a_convenience_store_file_with_an_impossible_date_is_rejected(client, tenant_a, db):
    header = "record_type,record_id,payment_number,amount,paid_at,store,original_record_id\r\n"
    for paid_at in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "0001-01-01 00:00:00"):
        body = header + f"確報,R1,{'0' * 20}0,1000,{paid_at},0001,\r\n"
        problem = await upload(client, tenant_a, body.encode(), name="cvs.csv", expect=422)
        assert any(e["field"] == "paid_at" for e in problem["lines"]), problem
