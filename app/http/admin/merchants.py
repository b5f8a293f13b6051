"""Admin API: the operator's merchants."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import LIST, READ, WRITE
from app.http.schemas.common import ID_PATTERN, CreatedGte, CreatedLt, Limit, ListOf, StartingAfter, page_request
from app.http.schemas.tenancy import MerchantCreate, MerchantOut, MerchantUpdate
from app.idempotency import Idempotency
from app.uow import Database
from domain.kit.tenancy import Principal, Role
from domain.tenancy import service

MerchantId = Annotated[str, Parameter(title="Merchant id", description="A merchant's id (mch_…).", pattern=ID_PATTERN)]


class MerchantController(Controller):
    path = "/merchants"
    tags = ["admin"]
    guards = [require_roles(Role.OPERATOR_ADMIN)]

    @post(operation_id="CreateMerchant", summary="Create a merchant", responses=WRITE, status_code=201)
    async def create_merchant(
        self,
        data: JSONBody[MerchantCreate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[MerchantOut]:
        async def op(session: AsyncSession) -> MerchantOut:
            merchant = await service.create_merchant(
                session, principal, name=data.name, consumer_fee=data.consumer_fee, test_mode=data.test_mode
            )
            return MerchantOut.of(merchant)

        return await idempotency.run(op, status_code=201)

    @get(operation_id="ListMerchants", summary="List merchants, newest first", responses=LIST)
    async def list_merchants(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[MerchantOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_merchants(session, principal, page_req)
        return ListOf[MerchantOut].of(page, MerchantOut.of)

    @get("/{merchant_id:str}", operation_id="GetMerchant", summary="Get a merchant", responses=READ)
    async def get_merchant(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], merchant_id: MerchantId
    ) -> MerchantOut:
        async with db.read() as session:
            return MerchantOut.of(await service.get_merchant(session, principal, merchant_id))

    @patch(
        "/{merchant_id:str}",
        operation_id="UpdateMerchant",
        summary="Change a merchant's name, consumer fee or status",
        responses=WRITE,
    )
    async def update_merchant(
        self,
        data: JSONBody[MerchantUpdate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        merchant_id: MerchantId,
    ) -> Response[MerchantOut]:
        async def op(session: AsyncSession) -> MerchantOut:
            merchant = await service.update_merchant(
                session, principal, merchant_id, name=data.name, consumer_fee=data.consumer_fee, status=data.status
            )
            return MerchantOut.of(merchant)

        return await idempotency.run(op)
