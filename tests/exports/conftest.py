"""A small fixed journal and two settlement statements of tenant A, and the helpers the export tests share."""

from __future__ import annotations

import csv
import datetime as dt
import io
import pathlib
from dataclasses import dataclass

import pytest

from domain.kit.money import Money
from domain.ledger import credit, debit, post_entry
from domain.settlement.models import Settlement, SettlementLine
from domain.tenancy import service as tenancy

GOLDEN = pathlib.Path(__file__).parent / "golden"
NOVEMBER = "from=2026-11-01&to=2026-11-30"


@dataclass
class Journal:
    """The ids the code under test chose, and the stable names the golden files use for them."""

    names: dict[str, str]

    def normalise(self, content: bytes) -> bytes:
        for real, stable in self.names.items():
            content = content.replace(real.encode("ascii"), stable.encode("ascii"))
        return content


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def rows_of(content: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode(encoding), newline="")))


async def post_fixed_journal(db, tenant) -> Journal:
    """In November 2026: a two-line entry (a payment into the bank) on the 2nd and a compound three-line entry (a
    settlement's fees and their tax) on the 6th; and one entry on each side of November, which no export of November
    may show."""
    jpy = lambda n: Money(n, "JPY")  # noqa: E731
    async with db.transaction() as s:
        before = await post_entry(
            s,
            tenant.id,
            kind="test.before",
            effective_date=dt.date(2026, 10, 31),
            lines=[debit("bank", jpy(1)), credit("suspense", jpy(1))],
        )
        e1 = await post_entry(
            s,
            tenant.id,
            kind="payment.received",
            memo='payer "ﾔﾏﾀﾞ ﾀﾛｳ", ref 0001',
            source_ref="payment:pay_1",
            effective_date=dt.date(2026, 11, 2),
            lines=[debit("bank", jpy(12_800)), credit("consumer_receivable", jpy(12_800))],
        )
        e2 = await post_entry(
            s,
            tenant.id,
            kind="settlement.calculated",
            memo="statements 1–2 of 2026-11-06",
            source_ref="settlements:1-2",
            effective_date=dt.date(2026, 11, 6),
            lines=[
                debit("merchant_payable", jpy(4_000)),
                credit("merchant_fee_revenue", jpy(3_900)),
                credit("output_consumption_tax", jpy(100)),
            ],
        )
        after = await post_entry(
            s,
            tenant.id,
            kind="test.after",
            effective_date=dt.date(2026, 12, 1),
            lines=[debit("bank", jpy(2)), credit("suspense", jpy(2))],
        )
    return Journal(
        {
            e1.entry.id: "jnl_E1",
            e2.entry.id: "jnl_E2",
            before.entry.id: "jnl_BEFORE",
            after.entry.id: "jnl_AFTER",
        }
    )


@pytest.fixture
async def journal_a(db, tenant_a) -> Journal:
    return await post_fixed_journal(db, tenant_a)


_AMOUNTS = (
    "sales",
    "refunds",
    "clawbacks",
    "unguaranteed_paid",
    "rate_fee",
    "invoice_fees",
    "invoice_count",
    "monthly_fee",
    "transfer_fee",
    "fee_tax",
    "carry_in",
    "net",
    "payout",
    "carry_out",
)


def _statement(tenant_id: str, merchant_id: str, number: int, period_end: dt.date, **fields) -> Settlement:
    values = dict.fromkeys(_AMOUNTS, 0) | fields
    return Settlement(
        tenant_id=tenant_id,
        id=f"stl_golden_{number}",
        number=number,
        merchant_id=merchant_id,
        cycle="weekly",
        period_start=period_end - dt.timedelta(days=6),
        period_end=period_end,
        calculated_by="system",
        terms=values.pop("terms", {}),
        **values,
    )


async def add_statements(db, tenant) -> Journal:
    """Statements 1 and 2 (cut-offs 2026-11-06 and 11-13, two merchants) and 3 (cut-off 12-04, outside November)."""
    async with db.transaction() as s:
        sibling = await tenancy.create_merchant(s, tenant.admin, name="+Plus shop")
        s.add_all(
            [
                _statement(
                    tenant.id,
                    tenant.merchant.id,
                    1,
                    dt.date(2026, 11, 6),
                    pay_date=dt.date(2026, 11, 13),
                    status="paid",
                    sales=100_000,
                    refunds=5_000,
                    rate_fee=2_900,
                    invoice_count=10,
                    invoice_fees=1_500,
                    fee_tax=150,
                    transfer_fee=250,
                    net=90_450,
                    payout=90_200,
                    approved_at=dt.datetime(2026, 11, 9, 1, 0, tzinfo=dt.UTC),
                    paid_at=dt.datetime(2026, 11, 13, 3, 0, tzinfo=dt.UTC),
                    terms={"bank_code": "0001", "branch_code": "001", "account_type": "1", "account_number": "1234567"},
                ),
                _statement(
                    tenant.id,
                    sibling.id,
                    2,
                    dt.date(2026, 11, 13),
                    pay_date=dt.date(2026, 11, 20),
                    status="carried_over",
                    monthly_fee=300,
                    fee_tax=30,
                    net=-330,
                    carry_out=-330,
                ),
                _statement(
                    tenant.id,
                    tenant.merchant.id,
                    3,
                    dt.date(2026, 12, 4),
                    pay_date=dt.date(2026, 12, 11),
                    status="calculated",
                    sales=1,
                    net=1,
                    payout=1,
                ),
            ]
        )
        at = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
        for i, (kind, amount) in enumerate((("sale", 60_000), ("sale", 40_000), ("refund", -5_000))):
            s.add(
                SettlementLine(
                    tenant_id=tenant.id,
                    id=f"stn_golden_{i}",
                    settlement_id="stl_golden_1",
                    merchant_id=tenant.merchant.id,
                    kind=kind,
                    source_id=f"src_{i}",
                    amount=amount,
                    occurred_at=at,
                )
            )
    return Journal({tenant.merchant.id: "mch_A1", sibling.id: "mch_A2"})


@pytest.fixture
async def statements_a(db, tenant_a) -> Journal:
    return await add_statements(db, tenant_a)
