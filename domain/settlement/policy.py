"""The operator's settlement settings: how its merchant fees are taxed, and the account payouts leave from.

A section (``settlement``) of the operator policy document (``PUT /admin/v1/credit-policy``), versioned with it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SettlementPolicy(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    fee_tax_model: Literal["receivable_assignment", "payment_agency"] = Field(
        default="receivable_assignment",
        description="receivable_assignment (債権譲渡): the rate fee is not taxable; payment_agency (決済代行): it is. "
        "Per-invoice and monthly fees are services, taxable under both.",
    )
    tax_rate_percent: int = Field(default=10, ge=0, le=100, description="Consumption tax on taxable fees.")
    requester_code: str = Field(
        default="0000000001", pattern=r"^[0-9]{10}$", description="振込依頼人コード the bank assigned (10 digits)."
    )
    requester_name: str = Field(
        default="BNPL", min_length=1, max_length=40, description="振込依頼人名 in Zengin half-width kana."
    )
    bank_code: str = Field(default="0001", pattern=r"^[0-9]{4}$", description="The paying account's bank.")
    branch_code: str = Field(default="001", pattern=r"^[0-9]{3}$", description="The paying account's branch.")
    account_type: Literal["1", "2", "9"] = Field(default="1", description="1 普通 / 2 当座 / 9 その他.")
    account_number: str = Field(default="0000001", pattern=r"^[0-9]{7}$")

    @field_validator("requester_name")
    @classmethod
    def _zengin(cls, value: str) -> str:
        from domain.settlement.bank import zengin_name

        return zengin_name(value, max_bytes=40, what="requester_name")


DEFAULT_SETTLEMENT_POLICY = SettlementPolicy()
