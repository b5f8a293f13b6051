"""Merchant API: the merchant's settlement statements, with lines by order, and their CSV."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from app.auth import require_roles
from app.http.admin.settlements import detail
from app.http.responses import LIST, READ
from app.http.schemas.common import ID_PATTERN, CreatedGte, CreatedLt, Limit, ListOf, StartingAfter, page_request
from app.http.schemas.settlements import SettlementDetailOut, SettlementOut
from app.uow import Database
from domain.kit.tenancy import Principal, Role
from domain.settlement import service

SettlementId = Annotated[
    str, Parameter(title="Settlement id", description="A statement's id (stl_…).", pattern=ID_PATTERN)
]


class MerchantSettlementController(Controller):
    path = "/settlements"
    tags = ["checkout", "settlement"]
    guards = [require_roles(Role.MERCHANT)]

    @get(operation_id="ListSettlements", summary="Your settlement statements, newest first", responses=LIST)
    async def list_settlements(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[SettlementOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_settlements(session, principal, page_req)
        return ListOf[SettlementOut].of(page, SettlementOut.of)

    @get("/{settlement_id:str}", operation_id="GetSettlement", summary="A statement with its lines", responses=READ)
    async def get_settlement(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], settlement_id: SettlementId
    ) -> SettlementDetailOut:
        async with db.read() as session:
            return await detail(session, await service.get_settlement(session, principal, settlement_id))

    @get(
        "/{settlement_id:str}/lines.csv",
        operation_id="GetSettlementCsv",
        summary="A statement's lines as CSV (UTF-8 with BOM)",
        responses=READ,
        media_type="text/csv",
    )
    async def csv(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], settlement_id: SettlementId
    ) -> Response[bytes]:
        async with db.read() as session:
            statement = await service.get_settlement(session, principal, settlement_id)
            body = service.lines_csv(statement, await service.lines_of(session, statement))
        return Response(
            body,
            media_type="text/csv",  # Litestar adds "; charset=utf-8"
            headers={"Content-Disposition": f'attachment; filename="settlement-{statement.number}.csv"'},
        )
