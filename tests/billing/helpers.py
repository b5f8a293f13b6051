"""Builders shared by the platform-billing tests: the issuer, the example plans, usage in bulk, runs, ledger checks."""

from __future__ import annotations

import datetime as dt
from itertools import count

from sqlalchemy import insert

from billing import ledger, service
from billing.metering import UsageEvent
from domain.kit import clock
from domain.kit.tenancy import Principal, Role

PLATFORM = Principal(api_key_id="test-platform", role=Role.PLATFORM)
REGISTRATION = "T7123456789012"  # the reference's worked example of a valid check digit
_seq = count(1)


async def issuer(db, **overrides) -> None:
    fields = dict(
        legal_name="株式会社BNPLプラットフォーム",
        registration_number=REGISTRATION,
        address="東京都港区赤坂4-3-2",
        contact="billing@platform.example.jp",
        bank_account="みずほ銀行 本店 普通 1234567",
        rounding="ROUND_DOWN",
        invoice_prefix="INV",
        credit_note_prefix="CN",
        payment_terms_days=0,
        grace_days=3,
    )
    fields.update(overrides)
    async with db.transaction() as s:
        await service.put_issuer(s, PLATFORM, **fields)


def standard_spec(**overrides) -> service.VersionSpec:
    """¥4,000 a month with 1,000 screenings; then ¥4 up to 9,000 more, ¥3 beyond (the shipped example)."""
    values = dict(
        currency="JPY",
        monthly_fee=4_000,
        tax_rate=10,
        charges=[
            {
                "metric": "screening",
                "included": 1_000,
                "tiers": [{"up_to": 9_000, "unit_price": "4"}, {"up_to": None, "unit_price": "3"}],
            }
        ],
    )
    values.update(overrides)
    return service.VersionSpec(**values)


async def plan(db, code: str = "standard", kind: str = "base", spec: service.VersionSpec | None = None):
    async with db.transaction() as s:
        made, version = await service.create_plan(
            s, PLATFORM, code=code, name=code.title(), kind=kind, spec=spec or standard_spec()
        )
    return made, version


async def subscribe(db, tenant_id: str, plan_id: str, start: dt.date | None = None):
    async with db.transaction() as s:
        return await service.subscribe(s, PLATFORM, tenant_id=tenant_id, plan_id=plan_id, start_date=start)


def jst(y: int, m: int, d: int, hh: int = 12, mm: int = 0, ss: int = 0, us: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, us, tzinfo=clock.JST)


async def usage(db, tenant_id: str, n: int, at: dt.datetime, kind: str = "screening") -> None:
    """``n`` distinct billable events at ``at``, inserted in bulk."""
    if n <= 0:
        return
    rows = [
        {
            "tenant_id": tenant_id,
            "id": f"use_t{next(_seq):022d}",
            "kind": kind,
            "source_id": f"scr_{tenant_id[-8:]}_{next(_seq)}",
            "occurred_at": at,
            "quantity": 1,
        }
        for _ in range(n)
    ]
    async with db.transaction() as s:
        await s.execute(insert(UsageEvent), rows)


async def run(db, as_of: dt.date) -> service.RunSummary:
    async with db.transaction() as s:
        return await service.run_billing(s, as_of)


async def invoice_of(db, tenant_id: str, month: dt.date) -> service.InvoiceView:
    async with db.transaction() as s:
        page, views = await service.list_invoices(
            s, PLATFORM, service.PageRequest(limit=10), tenant_id=tenant_id, service_month=month, with_lines=True
        )
    assert len(views) == 1, f"{len(views)} invoices of {tenant_id} for {month}"
    return views[0]


async def assert_platform_ledger_balances(db) -> dict[str, int]:
    """Every platform entry balances and the totals are consistent: Σ debit-normal = Σ credit-normal balances."""
    async with db.transaction() as s:
        assert await ledger.unbalanced_entries(s) == []
        balances = await ledger.balances(s)
    debit_side = sum(v for k, v in balances.items() if ledger.ACCOUNTS[k].debit_normal)
    credit_side = sum(v for k, v in balances.items() if not ledger.ACCOUNTS[k].debit_normal)
    assert debit_side == credit_side, balances
    return balances
