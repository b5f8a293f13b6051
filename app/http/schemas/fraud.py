"""Schemas of screenings, reviews, lists, external addresses, policies and the negative database."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, IPvAnyAddress

from app.http.schemas.common import ReadModel, WriteModel
from fraud.models import ExternalAddress, ListEntry, PolicyVersion, Screening
from fraud.reasons import MERCHANT_TEXT, describe, merchant_category
from fraud.types import OrderSnapshot

IdKindName = Literal["address", "name", "phone", "email", "device", "ip"]


class BuyerIn(WriteModel):
    name: str = Field(min_length=1, max_length=100, examples=["山田 太郎"])
    name_kana: str | None = Field(default=None, max_length=100, examples=["ヤマダ タロウ"])
    email: str | None = Field(default=None, max_length=254, examples=["taro@example.jp"])
    phone: str | None = Field(default=None, max_length=30, examples=["090-1234-5678"])
    postal_code: str | None = Field(default=None, max_length=10, examples=["107-0052"])
    address: str = Field(min_length=1, max_length=300, examples=["東京都港区赤坂4丁目3番地2号 赤坂ビル501"])


class ShippingIn(WriteModel):
    name: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=10)
    address: str = Field(min_length=1, max_length=300)


class DeviceIn(WriteModel):
    ip: IPvAnyAddress | None = Field(default=None, examples=["203.0.113.10"])
    user_agent: str | None = Field(default=None, max_length=1000)
    accept_language: str | None = Field(default=None, max_length=200, examples=["ja-JP,ja;q=0.9"])
    timezone: str | None = Field(default=None, max_length=64, examples=["Asia/Tokyo"])
    device_id: str | None = Field(default=None, max_length=200, description="Your cookie or device id.")


class ScreeningCreate(WriteModel):
    order_id: str = Field(
        min_length=1, max_length=100, description="Your own order id, echoed back.", examples=["ORDER-2026-000123"]
    )
    amount: int = Field(gt=0, le=100_000_000, description="Order total in minor units, tax included.", examples=[12800])
    currency: Literal["JPY"] = Field(examples=["JPY"])
    buyer: BuyerIn
    shipping: ShippingIn | None = Field(default=None, description="Omit when shipping to the buyer's address.")
    device: DeviceIn | None = None

    def snapshot(self) -> OrderSnapshot:
        device = self.device or DeviceIn()
        return OrderSnapshot(
            amount=self.amount,
            currency=self.currency,
            buyer_name=self.buyer.name,
            buyer_name_kana=self.buyer.name_kana,
            email=self.buyer.email,
            phone=self.buyer.phone,
            billing_postal_code=self.buyer.postal_code,
            billing_address=self.buyer.address,
            shipping_name=self.shipping.name if self.shipping else None,
            shipping_postal_code=self.shipping.postal_code if self.shipping else None,
            shipping_address=self.shipping.address if self.shipping else None,
            ip=str(device.ip) if device.ip is not None else None,
            user_agent=device.user_agent,
            accept_language=device.accept_language,
            timezone=device.timezone,
            device_id=device.device_id,
        )


class ReasonOut(ReadModel):
    code: str = Field(examples=["velocity_address_1h"])
    text: str = Field(examples=["Many orders to this address in the last hour"])


class MerchantScreeningOut(ReadModel):
    """What a merchant sees: the verdict and one coarse reason (the operator sees the full detail)."""

    object: Literal["screening"] = "screening"
    id: str = Field(examples=["scr_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    order_id: str
    verdict: Literal["OK", "REVIEW", "NG"]
    status: Literal["decided", "in_review", "approved", "rejected", "expired", "withdrawn"]
    reasons: list[ReasonOut]
    review_deadline: dt.datetime | None
    outcome: Literal["fraud", "chargeback", "good"] | None
    created_at: dt.datetime

    @classmethod
    def of(cls, s: Screening) -> MerchantScreeningOut:
        # Only the coarse category of the strongest reason: detail would help a fraudster tune the next order.
        category = merchant_category(s.reasons) if s.verdict != "OK" else None
        reasons = [ReasonOut(code=category.value, text=MERCHANT_TEXT[category][0])] if category else []
        return cls(
            id=s.id,
            order_id=s.order_ref,
            verdict=s.verdict,
            status=s.status,  # type: ignore[arg-type]
            reasons=reasons,
            review_deadline=s.review_deadline,
            outcome=s.outcome,
            created_at=s.created_at,
        )  # type: ignore[arg-type]


class ScreeningOut(ReadModel):
    """What an operator sees: everything needed to explain the verdict."""

    object: Literal["screening"] = "screening"
    id: str
    merchant_id: str
    order_id: str
    amount: int
    currency: str
    verdict: Literal["OK", "REVIEW", "NG"]
    score: int
    reasons: list[ReasonOut]
    features: dict[str, Any] = Field(description="Signals, history counts and hits the decision was made from.")
    policy_version: int
    status: Literal["decided", "in_review", "approved", "rejected", "expired", "withdrawn"]
    review_deadline: dt.datetime | None
    reviewed_at: dt.datetime | None
    review_note: str | None
    outcome: Literal["fraud", "chargeback", "good"] | None
    created_at: dt.datetime

    @classmethod
    def of(cls, s: Screening) -> ScreeningOut:
        return cls(
            id=s.id,
            merchant_id=s.merchant_id,
            order_id=s.order_ref,
            amount=s.amount,
            currency=s.currency,
            verdict=s.verdict,
            score=s.score,  # type: ignore[arg-type]
            reasons=[ReasonOut(code=c, text=describe(c).en) for c in s.reasons],
            features=s.features,
            policy_version=s.policy_version,
            status=s.status,
            review_deadline=s.review_deadline,  # type: ignore[arg-type]
            reviewed_at=s.reviewed_at,
            review_note=s.review_note,
            outcome=s.outcome,  # type: ignore[arg-type]
            created_at=s.created_at,
        )


class OutcomeIn(WriteModel):
    outcome: Literal["fraud", "chargeback", "good"] = Field(
        description="fraud: confirmed fraud; chargeback: the payment was charged back; good: paid normally."
    )
    note: str = Field(default="", max_length=1000)


class ReviewDecisionIn(WriteModel):
    note: str = Field(min_length=1, max_length=2000, description="Why: kept in the audit trail.")


class ListEntryIn(WriteModel):
    list: Literal["allow", "block"]
    kind: IdKindName
    value: str = Field(min_length=1, max_length=300, description="The identifier as written; it is normalised.")
    note: str = Field(default="", max_length=500)


class ListEntryOut(ReadModel):
    object: Literal["list_entry"] = "list_entry"
    id: str
    list: Literal["allow", "block"]
    kind: IdKindName
    masked: str = Field(description="The identifier, partly masked.", examples=["+81******5678"])
    note: str
    created_at: dt.datetime

    @classmethod
    def of(cls, e: ListEntry) -> ListEntryOut:
        return cls.model_validate(e)


class ImportResultOut(ReadModel):
    object: Literal["list_import"] = "list_import"
    added: int
    unchanged: int


class ExternalAddressIn(WriteModel):
    category: Literal["hotel", "weekly_mansion", "vacant", "po_box", "forwarding"]
    address: str = Field(min_length=1, max_length=300)
    label: str = Field(default="", max_length=200)


class ExternalAddressOut(ReadModel):
    object: Literal["external_address"] = "external_address"
    id: str
    category: str
    address_key: str = Field(description="The normalised address the data matches on.")
    label: str
    created_at: dt.datetime

    @classmethod
    def of(cls, e: ExternalAddress) -> ExternalAddressOut:
        return cls.model_validate(e)


class PolicyIn(WriteModel):
    policy: dict[str, Any] = Field(description="The policy body (see docs/fraud.md), without its version.")
    note: str = Field(default="", max_length=500)


class PolicyOut(ReadModel):
    object: Literal["fraud_policy"] = "fraud_policy"
    version: int = Field(description="0 is the shipped default.")
    policy: dict[str, Any]
    note: str
    created_at: dt.datetime | None

    @classmethod
    def of(cls, p: PolicyVersion) -> PolicyOut:
        return cls(version=p.version, policy=p.body, note=p.note, created_at=p.created_at)


class NegativeIn(WriteModel):
    kind: Literal["address", "phone", "email", "device"]
    value: str = Field(min_length=1, max_length=300)


class NegativeOut(ReadModel):
    object: Literal["negative_entry"] = "negative_entry"
    kind: str
    masked: str
