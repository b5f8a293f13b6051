"""Settlement job: every morning, the statements of the cut-offs passed, for every operator."""

from __future__ import annotations

from sqlalchemy import select

from app.logging import get_logger
from app.worker.registry import JobContext, actor, parse_as_of
from domain.kit import clock
from domain.settlement import service
from domain.tenancy.models import Operator

log = get_logger(__name__)

SETTLEMENT_ACTOR = "settlement.run"


# One transaction for every operator's statements of the day: a few set-based statements per merchant. A crash
# rolls the day back; the redelivered message (or the next day's run) makes them, once each (unique per merchant
# and cut-off).
@actor(SETTLEMENT_ACTOR, time_limit_ms=600_000)
async def run_settlement(ctx: JobContext, as_of: str | None = None) -> None:
    day = parse_as_of(as_of) or clock.jst_today()
    tenants = (await ctx.session.scalars(select(Operator.id).order_by(Operator.id))).all()
    for tenant_id in tenants:
        made = await service.run_settlement(ctx.session, tenant_id, day)
        if made:
            log.info("settlement_statements", tenant_id=tenant_id, as_of=day.isoformat(), count=len(made))
