"""Platform billing job: every morning, draft the month just ended and finalize the drafts whose grace has passed."""

from __future__ import annotations

from app.logging import get_logger
from app.worker.registry import JobContext, actor, parse_as_of
from billing import service
from billing.errors import IssuerNotConfigured
from domain.kit import clock

log = get_logger(__name__)

BILLING_ACTOR = "billing.run"


# One transaction for the day's run: one GROUP BY over the month's usage and a few rows per tenant (1,000 tenants
# with 10,000,000 events take seconds: ops/bench/billing.py). A crash rolls the day back; the redelivered message
# (or the next day's run) drafts and finalizes once each (one invoice per tenant and month, numbered on finalize).
@actor(BILLING_ACTOR, time_limit_ms=600_000)
async def run_billing(ctx: JobContext, as_of: str | None = None) -> None:
    day = parse_as_of(as_of) or clock.jst_today()
    try:
        summary = await service.run_billing(ctx.session, day)
    except IssuerNotConfigured:
        log.warning("billing_skipped", reason="issuer_not_configured", as_of=day.isoformat())
        return
    log.info("billing_run", **summary.as_dict())
