"""Request and response models of merchant contracts (admin API)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, StrictInt

from app.http.schemas.common import ReadModel, WriteModel
from domain.settlement.contracts import ContractTerms, bank_names
from domain.settlement.models import MerchantContract

Cycle = Literal["weekly", "twice_monthly", "monthly"]
AdvanceOn = Literal["arrival", "shipment"]
AccountType = Literal["1", "2", "4", "9"]
YEN_MAX = 9_999_999_999  # the widest amount a Zengin transfer carries (10 digits)


class ContractIn(WriteModel):
    """A merchant's settlement terms and bank account. PUT replaces them all: omitted fees fall back to 0."""

    fee_rate_bp: StrictInt = Field(
        ge=0, le=10_000, description="Fee rate in basis points of the sales advanced (290 = 2.90 %).", examples=[290]
    )
    invoice_fee_separate: StrictInt = Field(
        default=0, ge=0, le=YEN_MAX, description="Fee per invoice mailed separately (別送), yen, tax excluded."
    )
    invoice_fee_enclosed: StrictInt = Field(
        default=0, ge=0, le=YEN_MAX, description="Fee per invoice enclosed with the goods (同梱), yen, tax excluded."
    )
    monthly_fee: StrictInt = Field(default=0, ge=0, le=YEN_MAX, description="Monthly fee, yen, tax excluded.")
    transfer_fee: StrictInt = Field(
        default=0, ge=0, le=YEN_MAX, description="Charged to the merchant per payout, yen (0: the operator bears it)."
    )
    cycle: Cycle = Field(
        description="weekly (close Friday, pay next Friday), twice_monthly (15th and month end), monthly.",
        examples=["monthly"],
    )
    minimum_payout: StrictInt = Field(
        default=0, ge=0, le=YEN_MAX, description="Below this amount the payout carries over to the next cycle."
    )
    advance_on: AdvanceOn = Field(
        default="arrival", description="Advance an order's sales once it has arrived (guaranteed) or once shipped."
    )
    bank_code: str = Field(
        pattern=r"^[0-9]{4}$",
        description="金融機関コード (4 digits), checked against the banks' master data.",
        examples=["0001"],
    )
    branch_code: str = Field(pattern=r"^[0-9]{3}$", description="支店コード (3 digits).", examples=["001"])
    account_type: AccountType = Field(description="預金種目: 1 普通, 2 当座, 4 貯蓄, 9 その他.", examples=["1"])
    account_number: str = Field(pattern=r"^[0-9]{7}$", description="口座番号 (7 digits).", examples=["1234567"])
    holder_kana: str = Field(
        min_length=1,
        max_length=100,
        description="口座名義 as the bank records it, in the half-width kana Zengin files carry (at most 30 bytes): "
        "small kana written large (ｼﾖｳｼﾞ), '-' for the long vowel, no ｦ, no kanji. Refused, never converted.",
        examples=["ｶ)ﾔﾏﾀﾞｼﾖｳｼﾞ"],
    )

    def terms(self) -> ContractTerms:
        return ContractTerms(**self.model_dump())


class ContractOut(ReadModel):
    object: Literal["merchant_contract"] = "merchant_contract"
    id: str = Field(examples=["ctr_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    merchant_id: str
    fee_rate_bp: int
    invoice_fee_separate: int
    invoice_fee_enclosed: int
    monthly_fee: int
    transfer_fee: int
    cycle: Cycle
    minimum_payout: int
    advance_on: AdvanceOn
    bank_code: str
    bank_name: str | None = Field(
        description="The bank's Zengin name (half-width kana); null if the code has left the master data."
    )
    branch_code: str
    branch_name: str | None = Field(
        description="The branch's Zengin name (half-width kana); null if the code has left the master data."
    )
    account_type: AccountType
    account_number: str
    holder_kana: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, contract: MerchantContract) -> ContractOut:
        names = bank_names(contract)
        return cls.model_validate(
            {
                **{name: getattr(contract, name) for name in cls.model_fields if hasattr(contract, name)},
                "bank_name": names.bank_kana if names else None,
                "branch_name": names.branch_kana if names else None,
            }
        )
