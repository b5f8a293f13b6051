"""Admin API: settlement runs, statements (maker-checker), payout files and the bank's answer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import LIST, READ, WRITE
from app.http.schemas.common import ID_PATTERN, CreatedGte, CreatedLt, Limit, ListOf, StartingAfter, page_request
from app.http.schemas.settlements import (
    PayoutFileIn,
    PayoutFileOut,
    RunIn,
    RunOut,
    SettlementDetailOut,
    SettlementLineOut,
    SettlementOut,
    SettlementStatus,
)
from app.idempotency import Idempotency
from app.uow import Database
from domain.kit.tenancy import Principal, Role
from domain.settlement import service
from domain.settlement.models import Settlement

SettlementId = Annotated[
    str, Parameter(title="Settlement id", description="A statement's id (stl_…).", pattern=ID_PATTERN)
]
PayoutFileId = Annotated[
    str, Parameter(title="Payout file id", description="A payout file's id (pof_…).", pattern=ID_PATTERN)
]
MerchantQ = Annotated[
    str | None,
    QueryParameter(title="Merchant", description="Only this merchant's.", max_length=40, pattern=ID_PATTERN),
]
StatusQ = Annotated[SettlementStatus | None, QueryParameter(title="Status", description="Only in this status.")]
PayDateQ = Annotated[dt.date | None, QueryParameter(title="Pay date", description="Only paying on this date.")]
ROLES = (Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE)


async def detail(session: AsyncSession, statement: Settlement) -> SettlementDetailOut:
    lines = await service.lines_of(session, statement)
    return SettlementDetailOut(
        **SettlementOut.of(statement).model_dump(), lines=[SettlementLineOut.of(line) for line in lines]
    )


class SettlementRunController(Controller):
    path = "/settlement-runs"
    tags = ["admin", "settlement"]
    guards = [require_roles(*ROLES)]

    @post(
        operation_id="RunSettlement", summary="Make the statements due (one per merchant and cut-off)", responses=WRITE
    )
    async def run(
        self, data: JSONBody[RunIn], principal: NamedDependency[Principal], idempotency: NamedDependency[Idempotency]
    ) -> Response[RunOut]:
        """Running it again for the same date makes nothing new. The scheduler runs it every morning."""

        async def op(session: AsyncSession) -> RunOut:
            made = await service.run_settlement(
                session, principal.require_tenant(), data.as_of, actor=principal.api_key_id
            )
            return RunOut(as_of=data.as_of, data=[SettlementOut.of(s) for s in made])

        return await idempotency.run(op, status_code=201)


class AdminSettlementController(Controller):
    path = "/settlements"
    tags = ["admin", "settlement"]
    guards = [require_roles(*ROLES)]

    @get(operation_id="AdminListSettlements", summary="Statements, newest first", responses=LIST)
    async def list_settlements(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        merchant_id: MerchantQ = None,
        status: StatusQ = None,
        pay_date: PayDateQ = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[SettlementOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_settlements(
                session, principal, page_req, merchant_id=merchant_id, status=status, pay_date=pay_date
            )
        return ListOf[SettlementOut].of(page, SettlementOut.of)

    @get(
        "/{settlement_id:str}", operation_id="AdminGetSettlement", summary="A statement with its lines", responses=READ
    )
    async def get_settlement(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], settlement_id: SettlementId
    ) -> SettlementDetailOut:
        async with db.read() as session:
            return await detail(session, await service.get_settlement(session, principal, settlement_id))

    @post(
        "/{settlement_id:str}/approve",
        operation_id="ApproveSettlement",
        summary="Approve a calculated statement (a second person: not the key that calculated it)",
        responses=WRITE,
        status_code=200,
    )
    async def approve(
        self,
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settlement_id: SettlementId,
    ) -> Response[SettlementOut]:
        async def op(session: AsyncSession) -> SettlementOut:
            return SettlementOut.of(await service.approve(session, principal, settlement_id))

        return await idempotency.run(op)

    @post(
        "/{settlement_id:str}/return",
        operation_id="ReturnSettlementTransfer",
        summary="The bank returned the transfer (組戻し / 振込不能): the payable reopens",
        responses=WRITE,
        status_code=200,
    )
    async def returned(
        self,
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settlement_id: SettlementId,
    ) -> Response[SettlementOut]:
        async def op(session: AsyncSession) -> SettlementOut:
            return SettlementOut.of(await service.mark_returned(session, principal, settlement_id))

        return await idempotency.run(op)


class PayoutFileController(Controller):
    path = "/payout-files"
    tags = ["admin", "settlement"]
    guards = [require_roles(*ROLES)]

    @post(
        operation_id="GeneratePayoutFile",
        summary="A Zengin 総合振込 file for the approved statements of a pay date",
        responses=WRITE,
        status_code=201,
    )
    async def generate(
        self,
        data: JSONBody[PayoutFileIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[PayoutFileOut]:
        async def op(session: AsyncSession) -> PayoutFileOut:
            return PayoutFileOut.of(await service.generate_payout_file(session, principal, data.pay_date))

        return await idempotency.run(op, status_code=201)

    @get(
        "/{payout_file_id:str}",
        operation_id="DownloadPayoutFile",
        summary="The payout file's bytes (120-byte records, CP932), for the bank",
        responses=READ,
        media_type="application/octet-stream",
    )
    async def download(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], payout_file_id: PayoutFileId
    ) -> Response[bytes]:
        async with db.read() as session:
            record = await service.get_payout_file(session, principal, payout_file_id)
        return Response(
            record.content,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="sofuri-{record.pay_date:%Y%m%d}-{record.id}.txt"'},
        )

    @post(
        "/{payout_file_id:str}/confirm",
        operation_id="ConfirmPayoutFile",
        summary="The bank executed the file: its transfers are paid",
        responses=WRITE,
        status_code=200,
    )
    async def confirm(
        self,
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        payout_file_id: PayoutFileId,
    ) -> Response[PayoutFileOut]:
        async def op(session: AsyncSession) -> PayoutFileOut:
            return PayoutFileOut.of(await service.confirm_payout_file(session, principal, payout_file_id))

        return await idempotency.run(op)
