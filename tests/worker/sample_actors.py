"""Actors that exist only in tests. Importing this module registers them (and build_broker declares them).

Each one leaves an audit event whose ``resource_id`` is the message id, so a test counts a message's effects.
"""

from __future__ import annotations

from collections import Counter

from app.worker.registry import JobContext, actor
from domain.kit import audit
from domain.kit.errors import InvalidInput

RECORD = "test.record"
FLAKY = "test.flaky"
REJECT = "test.reject"

ATTEMPTS: Counter[str] = Counter()  # message id -> calls of test.flaky (in-process runs only)


def _effect(ctx: JobContext, tenant_id: str, action: str, note: str) -> None:
    audit.record(
        ctx.session,
        tenant_id=tenant_id,
        actor="system",
        action=action,
        resource_type="test_message",
        resource_id=ctx.message_id,
        data={"note": note},
    )


@actor(RECORD)
async def record(ctx: JobContext, tenant_id: str, note: str = "") -> None:
    _effect(ctx, tenant_id, RECORD, note)


@actor(FLAKY)
async def flaky(ctx: JobContext, tenant_id: str, fail_times: int) -> None:
    """Fails (transiently) the first ``fail_times`` calls for a message, then takes effect."""
    ATTEMPTS[ctx.message_id] += 1
    if ATTEMPTS[ctx.message_id] <= fail_times:
        raise RuntimeError(f"transient failure {ATTEMPTS[ctx.message_id]}")
    _effect(ctx, tenant_id, FLAKY, "finally")


@actor(REJECT)
async def reject(ctx: JobContext, tenant_id: str) -> None:
    """Writes its effect, then fails for a business reason: the effect must be rolled back."""
    _effect(ctx, tenant_id, REJECT, "should be rolled back")
    await ctx.session.flush()
    raise InvalidInput("this message can never succeed")
