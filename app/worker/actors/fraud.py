"""Fraud jobs: REVIEW screenings whose deadline passed expire (and their orders are declined)."""

from __future__ import annotations

from app.logging import get_logger
from app.worker.actors.housekeeping import reference_instant
from app.worker.registry import JobContext, actor, parse_as_of
from domain.checkout import service as checkout
from fraud import service

log = get_logger(__name__)


# Time limit: one indexed scan of due reviews, at most 500 per run; a minute is ample.
@actor("fraud.expire_reviews", time_limit_ms=60_000)
async def expire_reviews(ctx: JobContext, as_of: str | None = None) -> None:
    now = reference_instant(parse_as_of(as_of))
    # Orders first (each order, then its screening: the lock order of requests), then screenings without one.
    orders = await checkout.decline_expired_reviews(ctx.session, now)
    expired = await service.expire_reviews(ctx.session, now)
    if orders or expired:
        log.info("reviews_expired", orders_declined=orders, screenings=len(expired))
