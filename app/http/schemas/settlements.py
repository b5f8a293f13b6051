"""Request and response models of settlements and payout files."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from app.http.schemas.common import ReadModel, WriteModel
from domain.settlement.models import PayoutFile, Settlement, SettlementLine
from domain.settlement.service import render_settlement

SettlementStatus = Literal["calculated", "approved", "file_generated", "paid", "returned", "carried_over"]


class SettlementOut(ReadModel):
    object: Literal["settlement"] = "settlement"
    id: str = Field(examples=["stl_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    number: int = Field(description="The statement number (also in the transfer's EDI field: STL + 10 digits).")
    merchant_id: str
    cycle: str
    period_start: dt.date
    period_end: dt.date = Field(description="The cut-off (JST).")
    pay_date: dt.date = Field(description="A bank business day.")
    status: SettlementStatus
    currency: str
    sales: int = Field(description="Captures advanced this cycle.")
    refunds: int
    clawbacks: int = Field(description="Advances taken back: orders out of the guarantee.")
    unguaranteed_paid: int = Field(description="What consumers paid on orders out of the guarantee.")
    rate_fee: int
    invoice_count: int
    invoice_fees: int
    monthly_fee: int
    transfer_fee: int
    fee_tax: int = Field(description="Consumption tax on the taxable fees, once per statement.")
    carry_in: int = Field(description="Carried over from earlier statements (negative: owed by the merchant).")
    net: int
    payout: int = Field(description="What the transfer pays (0 when carried over).")
    carry_out: int = Field(description="Carried to the next statement.")
    approved_at: dt.datetime | None
    paid_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, statement: Settlement) -> SettlementOut:
        return cls.model_validate(render_settlement(statement))


class SettlementLineOut(ReadModel):
    kind: str = Field(description="sale, refund, clawback, unguaranteed_paid, carry_in, monthly_fee.")
    source_id: str
    order_id: str | None
    merchant_order_id: str | None
    amount: int = Field(description="Signed: + owed to the merchant, − owed by it.")
    occurred_at: dt.datetime

    @classmethod
    def of(cls, line: SettlementLine) -> SettlementLineOut:
        return cls.model_validate(line)


class SettlementDetailOut(SettlementOut):
    lines: list[SettlementLineOut]


class RunIn(WriteModel):
    as_of: dt.date = Field(
        ge=dt.date(2000, 1, 1),
        le=dt.date(2099, 12, 31),
        description="Make every statement whose cut-off is before this date (JST).",
    )


class RunOut(ReadModel):
    object: Literal["settlement_run"] = "settlement_run"
    as_of: dt.date
    data: list[SettlementOut] = Field(description="The statements this run made (none when run again).")


class PayoutFileIn(WriteModel):
    pay_date: dt.date = Field(
        ge=dt.date(2000, 1, 1),
        le=dt.date(2099, 12, 31),
        description="Pay every approved statement due on this bank business day.",
    )


class PayoutFileOut(ReadModel):
    object: Literal["payout_file"] = "payout_file"
    id: str = Field(examples=["pof_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    pay_date: dt.date
    status: Literal["generated", "confirmed"]
    record_count: int
    total_amount: int
    sha256: str
    created_at: dt.datetime
    confirmed_at: dt.datetime | None

    @classmethod
    def of(cls, record: PayoutFile) -> PayoutFileOut:
        return cls.model_validate(record)
