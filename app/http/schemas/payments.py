"""Request and response models of payments, payment files and the manual queue (admin API)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, StrictInt, model_validator

from app.http.schemas.common import ReadModel, WriteModel
from domain.collections.models import Payment, PaymentFile
from domain.collections.service import render_payment

PaymentStatus = Literal[
    "received",
    "applied",
    "overpaid",
    "unmatched",
    "refunded",
    "written_off",
    "reversed",
    "pending",
    "confirmed",
    "cancelled",
    "recorded",
]


# No control characters (a NUL cannot be stored, a newline has no place in a name).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class PaymentIn(WriteModel):
    """One payment notification, as a payment agent or a bank API pushes it."""

    external_id: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[\x21-\x7e]+$",
        description="The sender's own id of this notification: the same id again is the same payment.",
        examples=["gmo-aozora:20261201:000123"],
    )
    kind: Literal["payment", "reversal", "preliminary", "preliminary_cancel"] = Field(
        default="payment",
        description="payment; reversal (a returned or cancelled transfer, naming what it reverses); convenience-store "
        "preliminary (速報) and preliminary_cancel (速報取消).",
    )
    channel: Literal["bank_transfer", "convenience_store", "other"] = "bank_transfer"
    amount: StrictInt = Field(gt=0, le=9_999_999_999, description="Yen received.", examples=[5_500])
    value_date: dt.date = Field(
        ge=dt.date(2000, 1, 1),
        le=dt.date(2099, 12, 31),
        description="The date the money was credited (JST).",
        examples=["2026-12-01"],
    )
    payer_name: str = Field(
        default="", max_length=48, pattern=PRINTABLE, description="The remitter's name (kana) as the bank shows it."
    )
    payer_code: str = Field(default="", max_length=10, pattern=r"^[0-9]*$", description="振込依頼人コード.")
    edi: str = Field(default="", max_length=20, pattern=PRINTABLE, description="EDI information of the transfer.")
    account: str | None = Field(
        default=None,
        pattern=r"^[0-9]{4}-[0-9]{3}-[0-9]{7}$",
        description="The credited (virtual) account as bank-branch-number.",
        examples=["0001-001-0000012"],
    )
    payment_number: str | None = Field(
        default=None, pattern=r"^[0-9]{21}$", description="The convenience-store payment number (21 digits)."
    )
    reverses_external_id: str | None = Field(
        default=None,
        max_length=120,
        pattern=r"^[\x21-\x7e]+$",
        description="For reversal and preliminary_cancel: the external_id it cancels.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PaymentIn:
        if self.kind in ("preliminary", "preliminary_cancel") and self.channel != "convenience_store":
            raise ValueError(
                "preliminary and preliminary_cancel are convenience-store notices: channel must be convenience_store"
            )
        if self.kind in ("reversal", "preliminary_cancel") and not self.reverses_external_id:
            raise ValueError(f"a {self.kind} names what it cancels in reverses_external_id")
        if self.kind in ("payment", "preliminary") and self.reverses_external_id:
            raise ValueError(f"a {self.kind} reverses nothing: reverses_external_id must be empty")
        return self


class PaymentOut(ReadModel):
    object: Literal["payment"] = "payment"
    id: str = Field(examples=["pay_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    external_id: str
    source: Literal["api", "file"]
    file_id: str | None
    line_no: int | None
    kind: str
    channel: str
    currency: str
    amount: int
    value_date: dt.date
    payer_name: str
    account: str | None
    payment_number: str | None
    status: PaymentStatus
    outcome: str | None = Field(
        description="exact, partial, over, waived, recovery, after_close, unidentified, preliminary, reversed, ..."
    )
    match_method: str | None = Field(description="virtual_account, payment_number, reference, name_amount, manual.")
    invoice_id: str | None
    open_amount: int = Field(description="Held in suspense or owed back to the payer, waiting for the manual queue.")
    reversed_by_id: str | None
    note: str
    created_at: dt.datetime
    reconciled_at: dt.datetime | None

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls.model_validate(render_payment(payment))


class MatchIn(WriteModel):
    invoice_id: str = Field(min_length=1, max_length=40, description="The open invoice to apply the payment to.")
    note: str = Field(default="", max_length=500)


class PairIn(WriteModel):
    payment_id: str = Field(min_length=1, max_length=40, description="The payment the bank reversal reverses.")
    note: str = Field(default="", max_length=500)


class ResolveIn(WriteModel):
    note: str = Field(default="", max_length=500)


class PaymentFileOut(ReadModel):
    object: Literal["payment_file"] = "payment_file"
    id: str = Field(examples=["pf_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    kind: Literal["zengin_01", "zengin_03", "konbini_csv"]
    filename: str
    sha256: str
    size: int
    record_count: int
    payment_count: int
    total_amount: int
    status: Literal["received", "reconciled"]
    summary: dict[str, Any] = Field(description="Outcome → {count, amount}, once reconciled.")
    created_at: dt.datetime
    reconciled_at: dt.datetime | None

    @classmethod
    def of(cls, record: PaymentFile) -> PaymentFileOut:
        return cls.model_validate(record)


class InvoiceHoldIn(WriteModel):
    """Stop or resume dunning of an invoice: a dispute (claim stop), or a promise to pay by a date."""

    dispute_hold: bool | None = Field(default=None, description="True stops dunning until set back to false.")
    promise_to_pay_date: dt.date | None = Field(
        default=None, description="Dunning pauses until this date (inclusive); null clears it."
    )
    clear_promise: bool = Field(default=False, description="Clear the promise-to-pay date.")
