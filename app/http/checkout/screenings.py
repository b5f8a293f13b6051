"""Checkout API: fraud screening on its own (a merchant that uses screening without BNPL)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import READ, WRITE
from app.http.schemas.common import ID_PATTERN
from app.http.schemas.fraud import MerchantScreeningOut, OutcomeIn, ScreeningCreate
from app.idempotency import Idempotency
from app.metrics import SCREENINGS
from app.settings import Settings
from app.uow import Database
from domain.kit.tenancy import Principal, Role
from fraud import service

ScreeningId = Annotated[
    str, Parameter(title="Screening id", description="A screening's id (scr_…).", pattern=ID_PATTERN)
]


class ScreeningController(Controller):
    path = "/screenings"
    tags = ["checkout"]
    guards = [require_roles(Role.MERCHANT)]

    @post(
        operation_id="CreateScreening",
        summary="Screen an order: verdict OK, REVIEW or NG with reasons",
        responses=WRITE,
        status_code=201,
    )
    async def create_screening(
        self,
        data: JSONBody[ScreeningCreate],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settings: NamedDependency[Settings],
    ) -> Response[MerchantScreeningOut]:
        """Runs 名寄せ normalisation, the device, address, behaviour and list signals and the operator's policy.
        Each screening is one billable usage event. Send an Idempotency-Key: a retry returns the first verdict."""

        verdicts: list[str] = []

        async def op(session: AsyncSession) -> MerchantScreeningOut:
            screening = await service.screen(
                session, principal, order_ref=data.order_id, snapshot=data.snapshot(), secret=settings.secret_key
            )
            verdicts.append(screening.verdict)
            return MerchantScreeningOut.of(screening)

        response = await idempotency.run(op, status_code=201)
        if verdicts and response.status_code == 201:  # ran (not a replay) and committed
            SCREENINGS.labels(verdict=verdicts[0]).inc()
        return response

    @get(
        "/{screening_id:str}",
        operation_id="GetScreening",
        summary="Get a screening (its current status)",
        responses=READ,
    )
    async def get_screening(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], screening_id: ScreeningId
    ) -> MerchantScreeningOut:
        async with db.read() as session:
            return MerchantScreeningOut.of(await service.get_screening(session, principal, screening_id))

    @post(
        "/{screening_id:str}/outcome",
        operation_id="ReportScreeningOutcome",
        summary="Report what became of the order (fraud, chargeback, good)",
        responses=WRITE,
        status_code=200,
    )
    async def report_outcome(
        self,
        data: JSONBody[OutcomeIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        screening_id: ScreeningId,
    ) -> Response[MerchantScreeningOut]:
        """Confirmed fraud and chargebacks register the order's identifiers in the shared negative database."""

        async def op(session: AsyncSession) -> MerchantScreeningOut:
            screening = await service.report_outcome(
                session, principal, screening_id, outcome=data.outcome, note=data.note
            )
            return MerchantScreeningOut.of(screening)

        return await idempotency.run(op)
