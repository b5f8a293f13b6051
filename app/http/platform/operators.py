"""Platform API: operators (tenants)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import LIST, READ, WRITE
from app.http.schemas.common import ID_PATTERN, CreatedGte, CreatedLt, Limit, ListOf, StartingAfter, page_request
from app.http.schemas.tenancy import ApiKeyOut, IssuedApiKeyOut, OperatorCreate, OperatorCreated, OperatorOut
from app.idempotency import Idempotency
from app.settings import Settings
from app.uow import Database
from domain.kit.tenancy import Principal, Role
from domain.tenancy import service

OperatorId = Annotated[str, Parameter(title="Operator id", description="An operator's id (opr_…).", pattern=ID_PATTERN)]


class OperatorController(Controller):
    path = "/operators"
    tags = ["platform"]
    guards = [require_roles(Role.PLATFORM)]

    @post(
        operation_id="CreateOperator",
        summary="Create an operator (tenant) and its first admin key",
        responses=WRITE,
        status_code=201,
    )
    async def create_operator(
        self,
        data: JSONBody[OperatorCreate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settings: NamedDependency[Settings],
    ) -> Response[OperatorCreated]:
        pepper = settings.secret_key

        async def op(session: AsyncSession) -> OperatorCreated:
            operator = await service.create_operator(session, name=data.name)
            issued = await service.issue_key(
                session,
                issuer=principal,
                role=Role.OPERATOR_ADMIN,
                name="initial admin key",
                pepper=pepper,
                tenant_id=operator.id,
            )
            key = IssuedApiKeyOut(**ApiKeyOut.of(issued.key).model_dump(), secret=issued.secret)
            return OperatorCreated(operator=OperatorOut.of(operator), admin_key=key)

        return await idempotency.run(op, status_code=201)

    @get(operation_id="ListOperators", summary="List operators, newest first", responses=LIST)
    async def list_operators(
        self,
        db: NamedDependency[Database],
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[OperatorOut]:
        async with db.read() as session:
            page = await service.list_operators(session, page_request(limit, starting_after, created_gte, created_lt))
        return ListOf[OperatorOut].of(page, OperatorOut.of)

    @get("/{operator_id:str}", operation_id="GetOperator", summary="Get an operator", responses=READ)
    async def get_operator(self, db: NamedDependency[Database], operator_id: OperatorId) -> OperatorOut:
        async with db.read() as session:
            return OperatorOut.of(await service.get_operator(session, operator_id))
