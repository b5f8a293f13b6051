"""Schemas of operators, merchants and API keys."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from app.http.schemas.common import Name, ReadModel, WriteModel
from domain.tenancy.models import ApiKey, Merchant, Operator


class OperatorCreate(WriteModel):
    name: Name = Field(description="The operator's trading name.", examples=["Demo BNPL K.K."])


class OperatorOut(ReadModel):
    object: Literal["operator"] = "operator"
    id: str = Field(examples=["opr_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    name: str
    status: Literal["active", "suspended"]
    created_at: dt.datetime

    @classmethod
    def of(cls, operator: Operator) -> OperatorOut:
        return cls.model_validate(operator)


class MerchantCreate(WriteModel):
    name: Name = Field(description="The shop's name as the consumer sees it.")
    consumer_fee: int = Field(
        default=0, ge=0, le=10_000, description="The consumer fee (請求手数料) per invoice, tax included, in yen."
    )
    test_mode: bool = Field(
        default=False, description="A sandbox merchant: documented buyer data forces outcomes; screenings are free."
    )


class MerchantUpdate(WriteModel):
    name: Name | None = None
    consumer_fee: int | None = Field(default=None, ge=0, le=10_000)
    status: Literal["active", "suspended"] | None = None


class MerchantOut(ReadModel):
    object: Literal["merchant"] = "merchant"
    id: str = Field(examples=["mch_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    name: str
    status: Literal["active", "suspended"]
    consumer_fee: int
    test_mode: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, merchant: Merchant) -> MerchantOut:
        return cls.model_validate(merchant)


class ApiKeyCreate(WriteModel):
    role: Literal["operator_admin", "operator_finance", "merchant"] = Field(
        description="operator_admin: the admin API; operator_finance: exports and ledger; merchant: checkout API."
    )
    name: Name = Field(description="A label to recognise the key by.", examples=["checkout server"])
    merchant_id: str | None = Field(
        default=None, max_length=40, description="Required for merchant keys: the merchant the key acts for."
    )


class ApiKeyOut(ReadModel):
    object: Literal["api_key"] = "api_key"
    id: str = Field(examples=["key_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    name: str
    role: Literal["platform", "platform_finance", "operator_admin", "operator_finance", "merchant"]
    display_prefix: str = Field(
        description="The first characters of the secret, to recognise it.", examples=["sk_mch_Xy3f"]
    )
    operator_id: str | None = Field(default=None, validation_alias="tenant_id")
    merchant_id: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls.model_validate(key)


class IssuedApiKeyOut(ApiKeyOut):
    secret: str = Field(
        description="The key itself. Shown once: store it now, it cannot be retrieved later.", examples=["sk_mch_3q2…"]
    )


class OperatorCreated(ReadModel):
    object: Literal["operator_created"] = "operator_created"
    operator: OperatorOut
    admin_key: IssuedApiKeyOut
