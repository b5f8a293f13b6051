"""An operator's credit and invoicing policy: a strict, versioned JSON document.

Every number is a default from ``DOMAIN.md`` §3–4 that the operator may change through the admin API
(``PUT /admin/v1/credit-policy``). Each change stores a new immutable version; an order records the version it
was decided under. Amounts are minor units (yen), tax included.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.collections.ladder import DEFAULT_COLLECTIONS_POLICY, CollectionsPolicy
from domain.settlement.policy import DEFAULT_SETTLEMENT_POLICY, SettlementPolicy

Amount = Annotated[int, Field(ge=1, le=100_000_000)]
Days = Annotated[int, Field(ge=1, le=365)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CreditPolicy(_Strict):
    version: int = Field(default=0, ge=0, description="Set by the server; 0 is the shipped default.")
    consumer_limit: Amount = Field(
        default=55_000,
        description="Cumulative outstanding per consumer: authorized-not-captured plus invoiced-not-paid.",
    )
    order_max: Amount = Field(default=55_000, description="The largest single order.")
    first_order_max: Amount = Field(
        default=30_000, description="The largest order of a consumer with no earlier order that passed credit."
    )
    decline_if_overdue: bool = Field(default=True, description="A consumer with an overdue invoice is declined.")
    authorization_days: Days = Field(default=60, description="An authorization not captured by then expires.")
    arrival_days: Days = Field(
        default=30,
        description="Arrival must be confirmed within this many days of the first shipment report, or the order "
        "falls out of the payment guarantee and the merchant's advance is clawed back.",
    )
    invoice_due_days: Days = Field(default=14, description="Due date = issue date (JST) + this many days.")
    fee_tax_rate_percent: int = Field(default=10, ge=0, le=100, description="Consumption tax in the consumer fee.")
    issuer_code: str = Field(
        default="00001",
        pattern=r"^[0-9]{5}$",
        description="The 5-digit code of the operator's convenience-store payment numbers (収納企業コード).",
    )
    barcode_company_code: str = Field(
        default="912345",
        pattern=r"^[59][0-9]{5}$",
        description="The 6-digit company code of the convenience-store barcode (the collection agent's).",
    )
    virtual_account_bank: str = Field(default="0001", pattern=r"^[0-9]{4}$", description="Bank code (4 digits).")
    virtual_account_branch: str = Field(default="001", pattern=r"^[0-9]{3}$", description="Branch code (3 digits).")
    settlement: SettlementPolicy = Field(
        default=DEFAULT_SETTLEMENT_POLICY,
        description="Merchant payouts: how fees are taxed, the account they leave from (docs/settlement.md).",
    )
    collections: CollectionsPolicy = Field(
        default=DEFAULT_COLLECTIONS_POLICY,
        description="Payments and dunning: ladder, re-bill fees, the 14.6 % cap, overpayments (docs/collections.md).",
    )

    @model_validator(mode="after")
    def _limits_in_order(self) -> CreditPolicy:
        if self.first_order_max > self.order_max:
            raise ValueError("first_order_max cannot exceed order_max")
        if self.order_max > self.consumer_limit:
            raise ValueError("order_max cannot exceed consumer_limit")
        return self


DEFAULT_POLICY = CreditPolicy()
