"""Schemas of orders, captures, refunds, invoices and the credit policy."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, model_validator

from app.http.schemas.common import ReadModel, WriteModel
from app.http.schemas.fraud import BuyerIn, DeviceIn, ShippingIn
from domain.checkout import schemas as d
from domain.checkout.models import Capture, CreditPolicyVersion, Order, Refund
from domain.checkout.policy import CreditPolicy
from domain.checkout.schemas import render_capture, render_order, render_refund
from domain.invoicing.models import Invoice
from domain.invoicing.service import render_invoice

Amount = Annotated[int, Field(gt=0, le=100_000_000, description="Minor units (yen), tax included.")]
Ref = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$", examples=["SKU-1"])]
Status = Literal["in_review", "authorized", "partially_captured", "captured", "declined", "cancelled", "expired"]

ORDER_EXAMPLE = {
    "merchant_order_id": "ORDER-2026-000123",
    "amount": 12800,
    "currency": "JPY",
    "items": [
        {"ref": "SKU-1", "name": "緑茶ギフトセット", "unit_price": 5400, "quantity": 2, "tax_rate": 8},
        {"ref": "SHIP", "name": "送料", "unit_price": 2000, "quantity": 1, "tax_rate": 10},
    ],
    "buyer": {
        "name": "山田 太郎",
        "name_kana": "ヤマダ タロウ",
        "email": "taro@example.jp",
        "phone": "090-1234-5678",
        "postal_code": "107-0052",
        "address": "東京都港区赤坂4丁目3番地2号 赤坂ビル501",
    },
    "invoice_delivery": "separate",
    "device": {"ip": "203.0.113.10", "accept_language": "ja-JP,ja;q=0.9", "timezone": "Asia/Tokyo"},
}


class ItemIn(WriteModel):
    ref: Ref = Field(
        description="Your line id (SKU or line number), unique in the order; captures and refunds name it."
    )
    name: str = Field(min_length=1, max_length=200, examples=["緑茶ギフトセット"])
    unit_price: int = Field(ge=0, le=100_000_000, description="Tax included, minor units.", examples=[5400])
    quantity: int = Field(ge=1, le=10_000, examples=[2])
    tax_rate: Literal[0, 8, 10] = Field(description="Consumption tax rate in percent.", examples=[10])

    def domain(self) -> d.Item:
        return d.Item(self.ref, self.name, self.unit_price, self.quantity, self.tax_rate)


def _buyer(b: BuyerIn) -> d.Buyer:
    return d.Buyer(b.name, b.address, b.name_kana, b.email, b.phone, b.postal_code)


def _shipping(s: ShippingIn | None) -> d.Shipping | None:
    return d.Shipping(s.address, s.name, s.postal_code) if s is not None else None


class OrderCreate(WriteModel):
    model_config = WriteModel.model_config | {"json_schema_extra": {"examples": [ORDER_EXAMPLE]}}

    merchant_order_id: str = Field(
        min_length=1,
        max_length=100,
        description="Your own order id, echoed everywhere.",
        examples=["ORDER-2026-000123"],
    )
    amount: Amount = Field(description="Order total, tax included: must equal Σ unit_price × quantity.")
    currency: Literal["JPY"]
    items: list[ItemIn] = Field(min_length=1, max_length=200)
    buyer: BuyerIn
    shipping: ShippingIn | None = Field(default=None, description="Omit when shipping to the buyer's address.")
    device: DeviceIn | None = None
    invoice_delivery: Literal["separate", "enclosed"] = Field(
        default="separate",
        description="separate (別送): the operator mails the invoice after shipment; enclosed (同梱): you print it "
        "(GET …/invoice-print-data) and put it in the parcel.",
    )
    ordered_at: AwareDatetime | None = Field(
        default=None, description="When the buyer ordered (RFC 3339 with its UTC offset)."
    )

    def domain(self) -> d.OrderRequest:
        device = self.device
        return d.OrderRequest(
            merchant_order_id=self.merchant_order_id,
            amount=self.amount,
            currency=self.currency,
            items=[i.domain() for i in self.items],
            buyer=_buyer(self.buyer),
            shipping=_shipping(self.shipping),
            device=d.Device(
                str(device.ip) if device.ip is not None else None,
                device.user_agent,
                device.accept_language,
                device.timezone,
                device.device_id,
            )
            if device is not None
            else None,
            invoice_delivery=self.invoice_delivery,
            ordered_at=self.ordered_at,
        )


class OrderPatch(WriteModel):
    """Send only what changes; ``amount`` and ``items`` go together. ``shipping: null`` ships to the buyer."""

    amount: Amount | None = None
    items: list[ItemIn] | None = Field(default=None, min_length=1, max_length=200)
    buyer: BuyerIn | None = None
    shipping: ShippingIn | None = None

    @model_validator(mode="after")
    def _something(self) -> OrderPatch:
        if not self.model_fields_set:
            raise ValueError("send at least one of amount + items, buyer, shipping")
        return self

    def domain(self) -> d.OrderChange:
        return d.OrderChange(
            amount=self.amount,
            items=[i.domain() for i in self.items] if self.items is not None else None,
            buyer=_buyer(self.buyer) if self.buyer is not None else None,
            shipping=_shipping(self.shipping),
            clear_shipping="shipping" in self.model_fields_set and self.shipping is None,
        )


class LineIn(WriteModel):
    ref: Ref
    quantity: int = Field(ge=1, le=10_000)


class CaptureCreate(WriteModel):
    carrier: str = Field(
        min_length=1,
        max_length=20,
        description="Carrier code: yamato, sagawa, japanpost, seino, fukuyama, other.",
        examples=["yamato"],
    )
    tracking_number: str = Field(min_length=1, max_length=40, examples=["1234-5678-9014"])
    amount: Amount | None = Field(default=None, description="Omit (with no items) to capture everything left.")
    items: list[LineIn] = Field(default_factory=list, max_length=200, description="Lines shipped, if by line.")
    shipped_at: AwareDatetime | None = Field(default=None, description="RFC 3339 with its UTC offset.")

    def domain(self) -> d.CaptureRequest:
        return d.CaptureRequest(
            carrier=self.carrier,
            tracking_number=self.tracking_number,
            amount=self.amount,
            items=[d.LineQuantity(i.ref, i.quantity) for i in self.items],
            shipped_at=self.shipped_at,
        )


class RefundCreate(WriteModel):
    amount: Amount | None = Field(default=None, description="Omit (with no items) to refund everything captured.")
    items: list[LineIn] = Field(default_factory=list, max_length=200)
    reason: str = Field(default="", max_length=500)

    def domain(self) -> d.RefundRequest:
        return d.RefundRequest(
            amount=self.amount, items=[d.LineQuantity(i.ref, i.quantity) for i in self.items], reason=self.reason
        )


class CancelIn(WriteModel):
    reason: str = Field(default="", max_length=500)


class ItemOut(ReadModel):
    ref: str
    name: str
    unit_price: int
    quantity: int
    tax_rate: int
    captured_quantity: int
    refunded_quantity: int


class BuyerOut(ReadModel):
    name: str
    address: str
    name_kana: str | None = None
    email: str | None = None
    phone: str | None = None
    postal_code: str | None = None


class ShippingOut(ReadModel):
    address: str
    name: str | None = None
    postal_code: str | None = None


class OrderOut(ReadModel):
    """The order as the merchant sees it (also the ``data`` of order webhooks)."""

    object: Literal["order"] = "order"
    id: str = Field(examples=["ord_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    merchant_order_id: str
    status: Status
    amount: int
    currency: str
    captured_amount: int
    released_amount: int
    refunded_amount: int
    items: list[ItemOut]
    buyer: BuyerOut
    shipping: ShippingOut | None
    invoice_delivery: Literal["separate", "enclosed"]
    decline_reason: Literal["screening", "credit", "review"] | None = Field(
        description="Why it was declined, coarsely (the operator sees the detail)."
    )
    review_deadline: dt.datetime | None = Field(description="in_review: decided by then, else declined.")
    authorized_at: dt.datetime | None
    expires_at: dt.datetime | None = Field(description="An authorization not captured by then expires.")
    guarantee: Literal["none", "pending", "guaranteed", "unguaranteed"]
    arrival_confirmed_at: dt.datetime | None
    test_mode: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        return cls.model_validate(render_order(order))


class AdminOrderOut(OrderOut):
    """The operator's view: the merchant's view plus the consumer, screening and the full decline reason."""

    merchant_id: str
    consumer_id: str | None
    screening_id: str | None
    decline_detail: str | None
    exposure: int = Field(description="This order's share of the consumer's outstanding credit.")
    credit_policy_version: int

    @classmethod
    def of(cls, order: Order) -> AdminOrderOut:  # type: ignore[override]
        return cls.model_validate(
            {
                **render_order(order),
                "merchant_id": order.merchant_id,
                "consumer_id": order.consumer_id,
                "screening_id": order.screening_id,
                "decline_detail": order.decline_detail,
                "exposure": order.exposure,
                "credit_policy_version": order.credit_policy_version,
            }
        )


class LineOut(ReadModel):
    ref: str
    quantity: int


class CaptureOut(ReadModel):
    object: Literal["capture"] = "capture"
    id: str = Field(examples=["cap_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    order_id: str
    amount: int
    items: list[LineOut]
    carrier: str
    tracking_number: str
    shipped_at: dt.datetime
    created_at: dt.datetime

    @classmethod
    def of(cls, capture: Capture) -> CaptureOut:
        return cls.model_validate(render_capture(capture))


class RefundOut(ReadModel):
    object: Literal["refund"] = "refund"
    id: str = Field(examples=["rfd_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    order_id: str
    amount: int
    items: list[LineOut]
    reason: str
    invoice_reduction: int = Field(description="How much of the refund reduced unpaid invoices.")
    consumer_refund_due: int = Field(description="How much the consumer had already paid and is owed back.")
    created_at: dt.datetime

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls.model_validate(render_refund(refund))


class OrderWithCaptureOut(ReadModel):
    order: OrderOut
    capture: CaptureOut


class OrderWithRefundOut(ReadModel):
    order: OrderOut
    refund: RefundOut


class InvoiceOut(ReadModel):
    object: Literal["invoice"] = "invoice"
    id: str = Field(examples=["inv_01JD3Q5V6X7Y8Z9A0B1C2D3E4F"])
    number: int
    order_id: str
    status: str
    delivery: Literal["separate", "enclosed"]
    currency: str
    principal: int = Field(description="The goods amount.")
    fee: int = Field(description="The consumer fee (請求手数料), tax included.")
    fee_tax: int
    late_fee: int = Field(description="Re-bill fees (延滞事務手数料) billed, tax included.")
    damages: int = Field(description="Late damages (遅延損害金) billed.")
    total: int
    paid_amount: int
    waived: int = Field(description="Re-bill charges forgiven (the original amount was paid).")
    balance: int
    rebill_count: int = Field(description="0 for the first invoice, n for the n-th re-bill (再請求n).")
    transfer_reference: str | None = Field(
        description="The 10-digit reference (振込依頼人番号) to put before the name on a bank transfer."
    )
    issue_date: dt.date
    due_date: dt.date = Field(description="Issue date (JST) + 14 days by default.")
    payment_number: str = Field(description="Convenience-store payment number (with check digit).")
    virtual_account: str = Field(description="bank-branch-account of this invoice's own virtual bank account.")
    supersedes_id: str | None
    voided_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceOut:
        return cls.model_validate(render_invoice(invoice))


class PrintDataOut(ReadModel):
    """Everything a merchant prints on an enclosed (同梱) invoice."""

    object: Literal["invoice_print_data"] = "invoice_print_data"
    invoice: InvoiceOut
    merchant_name: str
    merchant_order_id: str
    addressee: BuyerOut
    items: list[ItemOut]
    barcode_data: str | None = Field(description="GS1-128 convenience-store barcode data (None above ¥999,999).")


class CreditPolicyIn(WriteModel):
    policy: dict[str, Any] = Field(
        description="The whole credit policy (omitted fields take the shipped defaults).",
        examples=[{"consumer_limit": 55000, "order_max": 55000, "first_order_max": 30000}],
    )
    note: str = Field(default="", max_length=500)


class CreditPolicyOut(ReadModel):
    object: Literal["credit_policy"] = "credit_policy"
    version: int
    policy: dict[str, Any]
    note: str
    created_at: dt.datetime | None

    @classmethod
    def of(cls, v: CreditPolicyVersion) -> CreditPolicyOut:
        return cls(version=v.version, policy=v.body, note=v.note, created_at=v.created_at)

    @classmethod
    def default(cls, policy: CreditPolicy) -> CreditPolicyOut:
        return cls(
            version=policy.version,
            policy=policy.model_dump(mode="json", exclude={"version"}),
            note="shipped default",
            created_at=None,
        )


class ReviewIn(WriteModel):
    note: str = Field(default="", max_length=2000)
