"""Admin API: a merchant's settlement contract (terms and the bank account it is paid to)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import READ, WRITE
from app.http.schemas.common import ID_PATTERN
from app.http.schemas.contracts import ContractIn, ContractOut
from app.idempotency import Idempotency
from app.uow import Database
from domain.kit.tenancy import Principal, Role
from domain.settlement import contracts

MerchantId = Annotated[str, Parameter(title="Merchant id", description="A merchant's id (mch_…).", pattern=ID_PATTERN)]


class MerchantContractController(Controller):
    path = "/merchants/{merchant_id:str}/contract"
    tags = ["admin", "settlement"]
    guards = [require_roles(Role.OPERATOR_ADMIN)]

    @get(operation_id="GetMerchantContract", summary="A merchant's settlement terms and bank account", responses=READ)
    async def get_contract(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], merchant_id: MerchantId
    ) -> ContractOut:
        """404 ``contract_not_found`` until the first PUT; ``merchant_not_found`` for an unknown merchant."""
        async with db.read() as session:
            return ContractOut.of(await contracts.get_contract(session, principal, merchant_id))

    @put(
        operation_id="PutMerchantContract",
        summary="Set or replace a merchant's settlement terms and bank account",
        responses=WRITE,
        status_code=200,
    )
    async def put_contract(
        self,
        data: JSONBody[ContractIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        merchant_id: MerchantId,
    ) -> Response[ContractOut]:
        """Every term is replaced (omitted fees are 0). The bank and branch must exist and the holder name must be
        Zengin half-width kana: a name that is not is refused with the form that would pass, never converted.
        Statements already calculated keep the terms they were calculated with."""

        async def op(session: AsyncSession) -> ContractOut:
            return ContractOut.of(await contracts.put_contract(session, principal, merchant_id, data.terms()))

        return await idempotency.run(op)
