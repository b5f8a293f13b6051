"""Admin API: the operator's orders, review resolution, arrival confirmation and the credit policy."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import LIST, READ, WRITE
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
    AdminOrderOut,
    CaptureOut,
    CreditPolicyIn,
    CreditPolicyOut,
    InvoiceOut,
    RefundOut,
    ReviewIn,
    Status,
)
from app.idempotency import Idempotency
from app.uow import Database
from domain.checkout import service
from domain.checkout.policy import DEFAULT_POLICY
from domain.checkout.repository import CheckoutRepository
from domain.kit.tenancy import Principal, Role

OrderId = Annotated[str, Parameter(title="Order id", description="An order's id (ord_…).", pattern=ID_PATTERN)]
StatusQ = Annotated[
    Status | None, QueryParameter(title="Status", description="Only orders in this status (in_review: the queue).")
]
MerchantQ = Annotated[
    str | None,
    QueryParameter(title="Merchant", description="Only this merchant's orders.", max_length=40, pattern=ID_PATTERN),
]
MerchantOrderIdQ = Annotated[
    str | None,
    QueryParameter(
        title="Merchant order id", description="The merchant's own order id.", max_length=100, pattern=TEXT_PATTERN
    ),
]


class AdminOrderController(Controller):
    path = "/orders"
    tags = ["admin"]
    guards = [require_roles(Role.OPERATOR_ADMIN)]

    @get(operation_id="AdminListOrders", summary="Orders of every merchant, newest first", responses=LIST)
    async def list_orders(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        status: StatusQ = None,
        merchant_id: MerchantQ = None,
        merchant_order_id: MerchantOrderIdQ = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[AdminOrderOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_orders(
                session,
                principal,
                page_req,
                status=status,
                merchant_id=merchant_id,
                merchant_order_id=merchant_order_id,
            )
        return ListOf[AdminOrderOut].of(page, AdminOrderOut.of)

    @get("/{order_id:str}", operation_id="AdminGetOrder", summary="An order with its decision detail", responses=READ)
    async def get_order(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], order_id: OrderId
    ) -> AdminOrderOut:
        async with db.read() as session:
            return AdminOrderOut.of(await service.get_order(session, principal, order_id))

    @get(
        "/{order_id:str}/captures",
        operation_id="AdminListOrderCaptures",
        summary="An order's shipments",
        responses=READ,
    )
    async def captures(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], order_id: OrderId
    ) -> list[CaptureOut]:
        async with db.read() as session:
            order = await service.get_order(session, principal, order_id)
            return [CaptureOut.of(c) for c in await service.captures_of(session, order)]

    @get("/{order_id:str}/refunds", operation_id="AdminListOrderRefunds", summary="An order's refunds", responses=READ)
    async def refunds(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], order_id: OrderId
    ) -> list[RefundOut]:
        async with db.read() as session:
            order = await service.get_order(session, principal, order_id)
            return [RefundOut.of(r) for r in await service.refunds_of(session, order)]

    @get(
        "/{order_id:str}/invoices", operation_id="AdminListOrderInvoices", summary="An order's invoices", responses=READ
    )
    async def invoices(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], order_id: OrderId
    ) -> list[InvoiceOut]:
        async with db.read() as session:
            return [InvoiceOut.of(i) for i in await service.invoices_of(session, principal, order_id)]

    @post(
        "/{order_id:str}/approve",
        operation_id="ApproveOrder",
        summary="Approve an order in review",
        responses=WRITE,
        status_code=200,
    )
    async def approve(
        self,
        data: JSONBody[ReviewIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        order_id: OrderId,
    ) -> Response[AdminOrderOut]:
        async def op(session: AsyncSession) -> AdminOrderOut:
            order = await service.resolve_review(session, principal, order_id, approve=True, note=data.note)
            return AdminOrderOut.of(order)

        return await idempotency.run(op)

    @post(
        "/{order_id:str}/reject",
        operation_id="RejectOrder",
        summary="Reject an order in review as fraud (declined; identifiers join the negative database)",
        responses=WRITE,
        status_code=200,
    )
    async def reject(
        self,
        data: JSONBody[ReviewIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        order_id: OrderId,
    ) -> Response[AdminOrderOut]:
        async def op(session: AsyncSession) -> AdminOrderOut:
            order = await service.resolve_review(session, principal, order_id, approve=False, note=data.note)
            return AdminOrderOut.of(order)

        return await idempotency.run(op)

    @post(
        "/{order_id:str}/arrival",
        operation_id="ConfirmOrderArrival",
        summary="Confirm arrival (着荷確認): the payment guarantee holds",
        responses=WRITE,
        status_code=200,
    )
    async def arrival(
        self, principal: NamedDependency[Principal], idempotency: NamedDependency[Idempotency], order_id: OrderId
    ) -> Response[AdminOrderOut]:
        """Within the policy's arrival_days of the first shipment; later, the order has fallen out of the
        guarantee (409 `guarantee_lapsed`)."""

        async def op(session: AsyncSession) -> AdminOrderOut:
            return AdminOrderOut.of(await service.confirm_arrival(session, principal, order_id))

        return await idempotency.run(op)


class CreditPolicyController(Controller):
    path = "/credit-policy"
    tags = ["admin"]
    guards = [require_roles(Role.OPERATOR_ADMIN)]

    @get(operation_id="GetCreditPolicy", summary="The credit and invoicing policy in force", responses=READ)
    async def get_policy(self, db: NamedDependency[Database], principal: NamedDependency[Principal]) -> CreditPolicyOut:
        async with db.read() as session:
            latest = await CheckoutRepository.from_session(session).latest_policy(principal.require_tenant())
        return CreditPolicyOut.of(latest) if latest is not None else CreditPolicyOut.default(DEFAULT_POLICY)

    @put(
        operation_id="UpdateCreditPolicy",
        summary="Replace the credit policy (a new version)",
        responses=WRITE,
        status_code=200,
    )
    async def update_policy(
        self,
        data: JSONBody[CreditPolicyIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[CreditPolicyOut]:
        """Orders record the version they were decided under; earlier orders keep theirs."""

        async def op(session: AsyncSession) -> CreditPolicyOut:
            policy = await service.set_policy(session, principal, data.policy, data.note)
            return CreditPolicyOut(
                version=policy.version,
                policy=policy.model_dump(mode="json", exclude={"version"}),
                note=data.note,
                created_at=None,
            )

        return await idempotency.run(op)

    @get("/versions", operation_id="ListCreditPolicyVersions", summary="Every version, newest first", responses=LIST)
    async def versions(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal]
    ) -> list[CreditPolicyOut]:
        async with db.read() as session:
            return [CreditPolicyOut.of(v) for v in await service.policy_versions(session, principal)]
