"""Collections jobs: reconcile an imported payment file, one committed chunk per message."""

from __future__ import annotations

from app.logging import get_logger
from app.worker.registry import JobContext, actor
from domain.checkout.service import active_policy
from domain.collections import batch
from domain.collections.service import RECONCILE_ACTOR
from domain.kit import outbox

log = get_logger(__name__)


# One chunk (batch.CHUNK payments) per message, in the message's transaction: a worker killed mid-chunk rolls the
# chunk back and the redelivered message redoes it; a finished chunk enqueues the next one in the same commit.
@actor(RECONCILE_ACTOR, time_limit_ms=600_000)
async def reconcile_file(ctx: JobContext, tenant_id: str, file_id: str) -> None:
    policy = await active_policy(ctx.session, tenant_id)
    result = await batch.reconcile_chunk(ctx.session, tenant_id, file_id, policy)
    log.info("payment_file_chunk", file_id=file_id, processed=result.processed, set_based=result.fast)
    if result.remaining:
        await outbox.enqueue(
            ctx.session,
            RECONCILE_ACTOR,
            {"tenant_id": tenant_id, "file_id": file_id},
            tenant_id=tenant_id,
            dedupe_key=f"reconcile:{file_id}:after:{ctx.message_id}",
        )
