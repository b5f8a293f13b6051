"""Merchant contracts, settlement statements and their lines, and payout files.

A statement is one merchant's settlement for one cycle (cut-off date): what it is owed for the captures advanced
in the cycle, less refunds and claw-backs, plus what consumers paid on orders out of the guarantee, less fees and
their tax, plus what the previous statement carried over. Lines tie every amount to its source (a capture, a
refund, an order clawed back, a payment allocation), and a source is settled once (``UNIQUE (tenant_id, kind,
source_id)``), so running a cycle twice yields one statement and a closed statement never changes: a correction
is a line of the next one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit.db import ID_LENGTH, Base, TenantOwned, Timestamped

CYCLES = ("weekly", "twice_monthly", "monthly")
STATUSES = ("calculated", "approved", "file_generated", "paid", "returned", "carried_over")


class MerchantContract(TenantOwned, Timestamped, Base):
    """A merchant's settlement terms and bank account (one row per merchant; changes are audited).

    Fees are tax-exclusive yen (the rate in basis points of the sales advanced: 290 = 2.90 %); their consumption
    tax follows the operator's legal model (``SettlementPolicy``)."""

    __tablename__ = "merchant_contracts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "merchant_id"),
        CheckConstraint(
            "fee_rate_bp >= 0 AND fee_rate_bp <= 10000 AND invoice_fee_separate >= 0 AND invoice_fee_enclosed >= 0"
            " AND monthly_fee >= 0 AND transfer_fee >= 0 AND minimum_payout >= 0",
            name="terms_not_negative",
        ),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    fee_rate_bp: Mapped[int] = mapped_column(Integer)
    invoice_fee_separate: Mapped[int] = mapped_column(BigInteger)  # per 別送 invoice
    invoice_fee_enclosed: Mapped[int] = mapped_column(BigInteger)  # per 同梱 invoice
    monthly_fee: Mapped[int] = mapped_column(BigInteger)
    transfer_fee: Mapped[int] = mapped_column(BigInteger)  # charged to the merchant per payout (0: operator bears it)
    cycle: Mapped[str] = mapped_column(String(16))  # weekly | twice_monthly | monthly
    minimum_payout: Mapped[int] = mapped_column(BigInteger)  # below it, the amount carries over
    advance_on: Mapped[str] = mapped_column(String(10))  # arrival (guaranteed orders) | shipment
    bank_code: Mapped[str] = mapped_column(String(4))
    branch_code: Mapped[str] = mapped_column(String(3))
    account_type: Mapped[str] = mapped_column(String(1))  # 1 普通 / 2 当座 / 4 貯蓄 / 9 その他
    account_number: Mapped[str] = mapped_column(String(7))
    holder_kana: Mapped[str] = mapped_column(String(30))  # Zengin half-width kana, validated
    updated_at: Mapped[dt.datetime]
    updated_by: Mapped[str] = mapped_column(String(ID_LENGTH))


class Settlement(TenantOwned, Timestamped, Base):
    """One merchant's statement for one cycle (see the module docstring). Amounts are yen; ``payout`` is what the
    transfer pays (0 when carried over), ``carry_out`` what the next statement takes in (negative: owed by the
    merchant)."""

    __tablename__ = "settlements"
    __table_args__ = (
        UniqueConstraint("tenant_id", "merchant_id", "period_end"),
        UniqueConstraint("tenant_id", "number"),
        Index("ix_settlements_pay_date", "tenant_id", "pay_date", "status"),
        CheckConstraint("payout >= 0", name="payout_not_negative"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)  # per tenant, gapless: the statement number (EDI field)
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    cycle: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[dt.date] = mapped_column(Date)  # the day after the previous cut-off
    period_end: Mapped[dt.date] = mapped_column(Date)  # the cut-off (JST)
    pay_date: Mapped[dt.date] = mapped_column(Date)  # a bank business day
    status: Mapped[str] = mapped_column(String(16))
    sales: Mapped[int] = mapped_column(BigInteger)
    refunds: Mapped[int] = mapped_column(BigInteger)  # positive: subtracted
    clawbacks: Mapped[int] = mapped_column(BigInteger)  # positive: subtracted
    unguaranteed_paid: Mapped[int] = mapped_column(BigInteger)  # consumers' payments on unguaranteed orders
    rate_fee: Mapped[int] = mapped_column(BigInteger)
    invoice_fees: Mapped[int] = mapped_column(BigInteger)
    invoice_count: Mapped[int] = mapped_column(Integer)
    monthly_fee: Mapped[int] = mapped_column(BigInteger)
    transfer_fee: Mapped[int] = mapped_column(BigInteger)
    fee_tax: Mapped[int] = mapped_column(BigInteger)  # once per statement per rate
    carry_in: Mapped[int] = mapped_column(BigInteger)
    net: Mapped[int] = mapped_column(BigInteger)
    payout: Mapped[int] = mapped_column(BigInteger)
    carry_out: Mapped[int] = mapped_column(BigInteger)
    terms: Mapped[dict[str, Any]]  # the contract and policy the statement was computed with
    calculated_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    approved_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    approved_at: Mapped[dt.datetime | None]
    payout_file_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    paid_at: Mapped[dt.datetime | None]
    returned_at: Mapped[dt.datetime | None]


class SettlementLine(TenantOwned, Timestamped, Base):
    """One amount of a statement and its source. A source is settled once."""

    __tablename__ = "settlement_lines"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "source_id"),
        Index("ix_settlement_lines_settlement", "tenant_id", "settlement_id"),
        Index("ix_settlement_lines_order", "tenant_id", "order_id"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(20))  # sale | refund | clawback | unguaranteed_paid | carry_in | …
    source_id: Mapped[str] = mapped_column(String(80))
    order_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    merchant_order_id: Mapped[str | None] = mapped_column(String(100))
    delivery: Mapped[str | None] = mapped_column(String(10))  # sale lines: the invoice delivery (per-invoice fee)
    amount: Mapped[int] = mapped_column(BigInteger)  # signed: + owed to the merchant, − owed by it
    occurred_at: Mapped[dt.datetime]


class PayoutFile(TenantOwned, Timestamped, Base):
    """A Zengin 総合振込 file paying the approved statements of one pay date."""

    __tablename__ = "payout_files"
    __table_args__ = (Index("ix_payout_files_pay_date", "tenant_id", "pay_date"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    pay_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # generated | confirmed
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    record_count: Mapped[int] = mapped_column(Integer)
    total_amount: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    confirmed_at: Mapped[dt.datetime | None]
