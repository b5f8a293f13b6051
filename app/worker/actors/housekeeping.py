"""Housekeeping jobs of the spine: expiring idempotency keys and relayed outbox messages."""

from __future__ import annotations

import datetime as dt

from app.logging import get_logger
from app.worker.registry import JobContext, actor, parse_as_of
from domain.kit import clock
from domain.kit.idempotency import RETENTION, IdempotencyRepository
from domain.kit.outbox import OutboxRepository

log = get_logger(__name__)

OUTBOX_RETENTION = dt.timedelta(days=7)


def reference_instant(as_of: dt.date | None) -> dt.datetime:
    """``now``, or for a re-run of a past business date, the end of that JST day (whichever is earlier)."""
    now = clock.utc_now()
    if as_of is None:
        return now
    return min(now, clock.jst_midnight_utc(as_of + dt.timedelta(days=1)))


# Time limit: one DELETE on an indexed column; a minute is generous even for a large backlog.
@actor("idempotency.purge", time_limit_ms=60_000)
async def purge_idempotency_keys(ctx: JobContext, as_of: str | None = None) -> None:
    cutoff = reference_instant(parse_as_of(as_of)) - RETENTION
    removed = await IdempotencyRepository.from_session(ctx.session).purge(cutoff)
    log.info("idempotency_keys_purged", removed=removed, cutoff=cutoff.isoformat())


# Time limit: two DELETEs bounded by retention; five minutes covers a week of heavy traffic.
@actor("outbox.purge", time_limit_ms=300_000)
async def purge_outbox(ctx: JobContext, as_of: str | None = None) -> None:
    cutoff = reference_instant(parse_as_of(as_of)) - OUTBOX_RETENTION
    removed = await OutboxRepository.from_session(ctx.session).purge(cutoff)
    log.info("outbox_purged", removed=removed, cutoff=cutoff.isoformat())
