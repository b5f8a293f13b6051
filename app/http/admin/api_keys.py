"""Admin API: the operator's API keys (issue, list, revoke)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import LIST, READ, WRITE
from app.http.schemas.common import ID_PATTERN, CreatedGte, CreatedLt, Limit, ListOf, StartingAfter, page_request
from app.http.schemas.tenancy import ApiKeyCreate, ApiKeyOut, IssuedApiKeyOut
from app.idempotency import Idempotency
from app.settings import Settings
from app.uow import Database
from domain.kit.tenancy import Principal, Role
from domain.tenancy import service

KeyId = Annotated[
    str, Parameter(title="API key id", description="An API key's id (key_…), not its secret.", pattern=ID_PATTERN)
]


class ApiKeyController(Controller):
    path = "/api-keys"
    tags = ["admin"]
    guards = [require_roles(Role.OPERATOR_ADMIN)]

    @post(
        operation_id="CreateApiKey",
        summary="Issue an API key (the secret is shown once)",
        responses=WRITE,
        status_code=201,
    )
    async def create_api_key(
        self,
        data: JSONBody[ApiKeyCreate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settings: NamedDependency[Settings],
    ) -> Response[IssuedApiKeyOut]:
        async def op(session: AsyncSession) -> IssuedApiKeyOut:
            issued = await service.issue_key(
                session,
                issuer=principal,
                role=Role(data.role),
                name=data.name,
                pepper=settings.secret_key,
                merchant_id=data.merchant_id,
            )
            return IssuedApiKeyOut(**ApiKeyOut.of(issued.key).model_dump(), secret=issued.secret)

        return await idempotency.run(op, status_code=201)

    @get(operation_id="ListApiKeys", summary="List API keys, newest first", responses=LIST)
    async def list_api_keys(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[ApiKeyOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_keys(session, principal, page_req)
        return ListOf[ApiKeyOut].of(page, ApiKeyOut.of)

    @get("/{key_id:str}", operation_id="GetApiKey", summary="Get an API key", responses=READ)
    async def get_api_key(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], key_id: KeyId
    ) -> ApiKeyOut:
        async with db.read() as session:
            return ApiKeyOut.of(await service.get_key(session, principal, key_id))

    @post(
        "/{key_id:str}/revoke",
        operation_id="RevokeApiKey",
        summary="Revoke an API key at once",
        responses=WRITE,
        status_code=200,
    )
    async def revoke_api_key(
        self, principal: NamedDependency[Principal], idempotency: NamedDependency[Idempotency], key_id: KeyId
    ) -> Response[ApiKeyOut]:
        async def op(session: AsyncSession) -> ApiKeyOut:
            return ApiKeyOut.of(await service.revoke_key(session, principal, key_id))

        return await idempotency.run(op)
