"""What checkout takes in (plain, already validated data) and how an order is rendered for merchants.

The HTTP layer validates JSON strictly and builds these; the domain checks the business rules (amount = Σ items,
captures within what is left, ...). ``render_order`` is the single source of an order's merchant view: the API
response and every webhook's ``data`` are built from it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from domain.checkout.models import Capture, Order, Refund


@dataclass(frozen=True, slots=True)
class Item:
    ref: str
    name: str
    unit_price: int
    quantity: int
    tax_rate: int  # percent: 10 (standard), 8 (reduced), 0

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class Buyer:
    name: str
    address: str
    name_kana: str | None = None
    email: str | None = None
    phone: str | None = None
    postal_code: str | None = None


@dataclass(frozen=True, slots=True)
class Shipping:
    address: str
    name: str | None = None
    postal_code: str | None = None


@dataclass(frozen=True, slots=True)
class Device:
    ip: str | None = None
    user_agent: str | None = None
    accept_language: str | None = None
    timezone: str | None = None
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    merchant_order_id: str
    amount: int
    currency: str
    items: list[Item]
    buyer: Buyer
    shipping: Shipping | None = None
    device: Device | None = None
    invoice_delivery: str = "separate"  # separate (別送) | enclosed (同梱)
    ordered_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderChange:
    """A change before capture. ``None`` leaves a part as it is; ``amount`` and ``items`` change together."""

    amount: int | None = None
    items: list[Item] | None = None
    buyer: Buyer | None = None
    shipping: Shipping | None = None
    clear_shipping: bool = False  # ship to the buyer's own address from now on


@dataclass(frozen=True, slots=True)
class LineQuantity:
    ref: str
    quantity: int


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    carrier: str
    tracking_number: str
    amount: int | None = None  # None with no items: everything still uncaptured
    items: list[LineQuantity] = field(default_factory=list)
    shipped_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class RefundRequest:
    amount: int | None = None  # None with no items: everything captured and not yet refunded
    items: list[LineQuantity] = field(default_factory=list)
    reason: str = ""


def render_order(order: Order) -> dict[str, Any]:
    """The merchant's view of an order (JSON-able: datetimes as RFC 3339 strings)."""
    return {
        "object": "order",
        "id": order.id,
        "merchant_order_id": order.merchant_order_id,
        "status": order.status,
        "amount": order.amount,
        "currency": order.currency,
        "captured_amount": order.captured_amount,
        "released_amount": order.released_amount,
        "refunded_amount": order.refunded_amount,
        "items": [dict(item) for item in order.items],
        "buyer": dict(order.buyer),
        "shipping": dict(order.shipping) if order.shipping else None,
        "invoice_delivery": order.invoice_delivery,
        "decline_reason": order.decline_reason,
        "review_deadline": _ts(order.review_deadline),
        "authorized_at": _ts(order.authorized_at),
        "expires_at": _ts(order.expires_at),
        "guarantee": order.guarantee,
        "arrival_confirmed_at": _ts(order.arrival_confirmed_at),
        "test_mode": order.test_mode,
        "created_at": _ts(order.created_at),
        "updated_at": _ts(order.updated_at),
    }


def render_capture(capture: Capture) -> dict[str, Any]:
    return {
        "object": "capture",
        "id": capture.id,
        "order_id": capture.order_id,
        "amount": capture.amount,
        "items": list(capture.items),
        "carrier": capture.carrier,
        "tracking_number": capture.tracking_number,
        "shipped_at": _ts(capture.shipped_at),
        "created_at": _ts(capture.created_at),
    }


def render_refund(refund: Refund) -> dict[str, Any]:
    return {
        "object": "refund",
        "id": refund.id,
        "order_id": refund.order_id,
        "amount": refund.amount,
        "items": list(refund.items),
        "reason": refund.reason,
        "invoice_reduction": refund.invoice_reduction,
        "consumer_refund_due": refund.consumer_refund_due,
        "created_at": _ts(refund.created_at),
    }


def _ts(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
