"""Checkout API: orders from authorization to refund (the merchant's integration)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import LIST, READ, WRITE, problems
from app.http.schemas.common import (
    ID_PATTERN,
    TEXT_PATTERN,
    CreatedGte,
    CreatedLt,
    Limit,
    ListOf,
    StartingAfter,
    page_request,
)
from app.http.schemas.orders import (
    BuyerOut,
    CancelIn,
    CaptureCreate,
    CaptureOut,
    InvoiceOut,
    ItemOut,
    OrderCreate,
    OrderOut,
    OrderPatch,
    OrderWithCaptureOut,
    OrderWithRefundOut,
    PrintDataOut,
    RefundCreate,
    RefundOut,
    Status,
)
from app.idempotency import Idempotency
from app.metrics import ORDERS
from app.settings import Settings
from app.uow import Database
from domain.checkout import service
from domain.kit.tenancy import Principal, Role

OrderId = Annotated[str, Parameter(title="Order id", description="An order's id (ord_…).", pattern=ID_PATTERN)]
MerchantOrderId = Annotated[
    str,
    Parameter(
        title="Merchant order id", description="Your own order id.", min_length=1, max_length=100, pattern=TEXT_PATTERN
    ),
]
StatusQ = Annotated[Status | None, QueryParameter(title="Status", description="Only orders in this status.")]
MerchantOrderIdQ = Annotated[
    str | None,
    QueryParameter(
        title="Merchant order id",
        description="Only orders with this id of yours.",
        max_length=100,
        pattern=TEXT_PATTERN,
    ),
]


class OrderController(Controller):
    path = "/orders"
    tags = ["checkout"]
    guards = [require_roles(Role.MERCHANT)]

    @post(
        operation_id="CreateOrder",
        summary="Authorize an order: fraud screening and credit decision in one call",
        responses=WRITE,
        status_code=201,
    )
    async def create_order(
        self,
        data: JSONBody[OrderCreate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settings: NamedDependency[Settings],
    ) -> Response[OrderOut]:
        """The answer is the order with `status` **authorized** (ship it), **in_review** (an analyst decides by
        `review_deadline`; you get a webhook) or **declined** (with a coarse `decline_reason`). Declines and
        reviews are 201s, not errors. Send an `Idempotency-Key`: a retry returns the first answer."""
        statuses: list[str] = []

        async def op(session: AsyncSession) -> OrderOut:
            order = await service.authorize(session, principal, data.domain(), secret=settings.secret_key)
            statuses.append(order.status)
            return OrderOut.of(order)

        response = await idempotency.run(op, status_code=201)
        if statuses and response.status_code == 201:
            ORDERS.labels(status=statuses[-1]).inc()  # the attempt that committed
        return response

    @get(operation_id="ListOrders", summary="Orders, newest first, with filters", responses=LIST)
    async def list_orders(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        status: StatusQ = None,
        merchant_order_id: MerchantOrderIdQ = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[OrderOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_orders(
                session, principal, page_req, status=status, merchant_order_id=merchant_order_id
            )
        return ListOf[OrderOut].of(page, OrderOut.of)

    @get(
        "/by-merchant-order-id/{merchant_order_id:str}",
        operation_id="GetOrderByMerchantOrderId",
        summary="Look an order up by your own order id",
        responses=READ,
    )
    async def by_merchant_order_id(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], merchant_order_id: MerchantOrderId
    ) -> OrderOut:
        """The active order with that id, else the newest declined, cancelled or expired one."""
        async with db.read() as session:
            return OrderOut.of(await service.get_by_merchant_order_id(session, principal, merchant_order_id))

    @get("/{order_id:str}", operation_id="GetOrder", summary="Get an order", responses=READ)
    async def get_order(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], order_id: OrderId
    ) -> OrderOut:
        async with db.read() as session:
            return OrderOut.of(await service.get_order(session, principal, order_id))

    @patch(
        "/{order_id:str}",
        operation_id="UpdateOrder",
        summary="Change an order before shipment (a decrease applies; anything else is re-screened)",
        responses=WRITE,
    )
    async def update_order(
        self,
        data: JSONBody[OrderPatch],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settings: NamedDependency[Settings],
        order_id: OrderId,
    ) -> Response[OrderOut]:
        """A lower amount with fewer items applies at once. A higher amount, new items or a changed buyer or
        address re-screens the order: it comes back authorized, in_review or declined."""

        async def op(session: AsyncSession) -> OrderOut:
            order = await service.change(session, principal, order_id, data.domain(), secret=settings.secret_key)
            return OrderOut.of(order)

        return await idempotency.run(op)

    @post(
        "/{order_id:str}/cancel",
        operation_id="CancelOrder",
        summary="Cancel before shipment",
        responses=WRITE,
        status_code=200,
    )
    async def cancel_order(
        self,
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        order_id: OrderId,
        data: JSONBody[CancelIn | None] = None,
    ) -> Response[OrderOut]:
        """Allowed while nothing has shipped (authorized or in_review); afterwards, refund instead."""

        async def op(session: AsyncSession) -> OrderOut:
            reason = data.reason if data is not None else ""
            return OrderOut.of(await service.cancel(session, principal, order_id, reason=reason))

        return await idempotency.run(op)

    @post(
        "/{order_id:str}/captures",
        operation_id="CaptureOrder",
        summary="Report a shipment (出荷報告): captures the amount shipped",
        responses=WRITE,
        status_code=201,
    )
    async def capture_order(
        self,
        data: JSONBody[CaptureCreate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        order_id: OrderId,
    ) -> Response[OrderWithCaptureOut]:
        """Carrier code and tracking number are required and checked. Omit amount and items to capture all that
        is left; several shipments per order are fine. Separate (別送) orders get an invoice per shipment."""

        async def op(session: AsyncSession) -> OrderWithCaptureOut:
            order, capture = await service.capture(session, principal, order_id, data.domain())
            return OrderWithCaptureOut(order=OrderOut.of(order), capture=CaptureOut.of(capture))

        return await idempotency.run(op, status_code=201)

    @get("/{order_id:str}/captures", operation_id="ListOrderCaptures", summary="An order's shipments", responses=READ)
    async def list_captures(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], order_id: OrderId
    ) -> list[CaptureOut]:
        async with db.read() as session:
            order = await service.get_order(session, principal, order_id)
            return [CaptureOut.of(c) for c in await service.captures_of(session, order)]

    @post(
        "/{order_id:str}/release",
        operation_id="ReleaseOrderRemainder",
        summary="Release the uncaptured remainder (the rest will not ship)",
        responses=WRITE,
        status_code=200,
    )
    async def release(
        self, principal: NamedDependency[Principal], idempotency: NamedDependency[Idempotency], order_id: OrderId
    ) -> Response[OrderOut]:
        async def op(session: AsyncSession) -> OrderOut:
            return OrderOut.of(await service.release(session, principal, order_id))

        return await idempotency.run(op)

    @post(
        "/{order_id:str}/refunds",
        operation_id="RefundOrder",
        summary="Refund after shipment, in full or in part, by amount or by line",
        responses=WRITE,
        status_code=201,
    )
    async def refund_order(
        self,
        data: JSONBody[RefundCreate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        order_id: OrderId,
    ) -> Response[OrderWithRefundOut]:
        """Reduces the consumer's unpaid invoice (a new invoice replaces it); what the consumer already paid
        beyond that is refunded to them. Your next settlement is reduced by the refund."""

        async def op(session: AsyncSession) -> OrderWithRefundOut:
            order, refund = await service.refund(session, principal, order_id, data.domain())
            return OrderWithRefundOut(order=OrderOut.of(order), refund=RefundOut.of(refund))

        return await idempotency.run(op, status_code=201)

    @get("/{order_id:str}/refunds", operation_id="ListOrderRefunds", summary="An order's refunds", responses=READ)
    async def list_refunds(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], order_id: OrderId
    ) -> list[RefundOut]:
        async with db.read() as session:
            order = await service.get_order(session, principal, order_id)
            return [RefundOut.of(r) for r in await service.refunds_of(session, order)]

    @get("/{order_id:str}/invoices", operation_id="ListOrderInvoices", summary="An order's invoices", responses=READ)
    async def list_invoices(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], order_id: OrderId
    ) -> list[InvoiceOut]:
        async with db.read() as session:
            return [InvoiceOut.of(i) for i in await service.invoices_of(session, principal, order_id)]

    @get(
        "/{order_id:str}/invoice-print-data",
        operation_id="GetInvoicePrintData",
        summary="What to print on the invoice you enclose in the parcel (同梱)",
        responses={**READ, **problems(409)},  # 409 print_data_not_available
    )
    async def print_data(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], order_id: OrderId
    ) -> PrintDataOut:
        """Only for orders with invoice_delivery=enclosed; a 409 `print_data_not_available` otherwise."""
        async with db.read() as session:
            order, invoice, merchant_name, barcode = await service.print_data(session, principal, order_id)
        return PrintDataOut(
            invoice=InvoiceOut.of(invoice),
            merchant_name=merchant_name,
            merchant_order_id=order.merchant_order_id,
            addressee=BuyerOut.model_validate(order.buyer),
            items=[ItemOut.model_validate(i) for i in order.items],
            barcode_data=barcode,
        )
