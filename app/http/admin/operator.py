"""Admin API: the caller's own operator."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from app.auth import require_roles
from app.http.responses import READ
from app.http.schemas.tenancy import OperatorOut
from app.uow import Database
from domain.kit.tenancy import Principal, Role
from domain.tenancy import service


@get(
    "/operator",
    operation_id="GetOwnOperator",
    summary="The operator this key belongs to",
    responses=READ,
    tags=["admin"],
    guards=[require_roles(Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE)],
)
async def get_own_operator(db: NamedDependency[Database], principal: NamedDependency[Principal]) -> OperatorOut:
    async with db.read() as session:
        return OperatorOut.of(await service.get_operator(session, principal.require_tenant()))
