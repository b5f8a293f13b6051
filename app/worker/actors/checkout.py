"""Checkout jobs: authorizations expire, unconfirmed arrivals fall out of the guarantee."""

from __future__ import annotations

from app.logging import get_logger
from app.worker.actors.housekeeping import reference_instant
from app.worker.registry import JobContext, actor, parse_as_of
from domain.checkout import service

log = get_logger(__name__)


# Time limit: at most 500 orders per run, each a locked row and a few writes; the next slot takes the rest.
@actor("checkout.expire_authorizations", time_limit_ms=120_000)
async def expire_authorizations(ctx: JobContext, as_of: str | None = None) -> None:
    count = await service.expire_authorizations(ctx.session, reference_instant(parse_as_of(as_of)))
    if count:
        log.info("authorizations_expired", count=count)


@actor("checkout.lapse_guarantees", time_limit_ms=120_000)
async def lapse_guarantees(ctx: JobContext, as_of: str | None = None) -> None:
    count = await service.lapse_guarantees(ctx.session, reference_instant(parse_as_of(as_of)))
    if count:
        log.info("guarantees_lapsed", count=count)
