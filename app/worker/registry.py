"""The ``@actor`` decorator and the one function that runs a message, wherever it runs.

``@actor("idempotency.purge")`` registers the coroutine and returns it unchanged, so tests, the in-process
runner and CLI commands ``await`` it directly. Dramatiq actors are generated from this registry at broker set-up
(``app/worker/broker.py``), so no actor is declared before the broker exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.logging import get_logger
from app.metrics import JOB_FAILURES
from app.uow import Database
from domain.kit.errors import DomainError, TaskError
from domain.kit.outbox import OutboxRepository, claim_message

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class JobContext:
    session: AsyncSession
    message_id: str


ActorFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ActorSpec:
    name: str
    fn: ActorFn
    queue: str
    time_limit_ms: int
    max_retries: int


REGISTRY: dict[str, ActorSpec] = {}


class UnknownActor(LookupError):
    """This process does not know the actor (e.g. an older release during a rolling deploy).

    Not a business failure: the message backs off and is retried, so a process that knows the actor can run it;
    it is dead-lettered only after the maximum attempts.
    """


def spec_of(name: str) -> ActorSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownActor(name) from None


def actor(
    name: str, *, queue: str = "default", time_limit_ms: int = 60_000, max_retries: int = 20
) -> Callable[[ActorFn], ActorFn]:
    """Register ``async def fn(ctx: JobContext, **payload)`` as the actor ``name`` (``"<capability>.<verb>"``)."""

    def register(fn: ActorFn) -> ActorFn:
        if name in REGISTRY and REGISTRY[name].fn is not fn:
            raise ValueError(f"actor {name} registered twice")
        REGISTRY[name] = ActorSpec(name, fn, queue, time_limit_ms, max_retries)
        return fn

    return register


async def execute(db: Database, name: str, message_id: str, payload: dict[str, Any]) -> str:
    """Run one message once: the inbox claim and the actor's effect commit in one transaction.

    Returns ``"done"``, ``"duplicate"`` (already handled: nothing happens) or ``"failed"`` (a business failure,
    logged and not retried). Any other exception propagates so the caller retries with backoff.
    """
    spec = spec_of(name)
    context = {"actor": name, "message_id": message_id}
    if payload.get("_correlation_id"):
        context["source_correlation_id"] = payload["_correlation_id"]
    structlog.contextvars.bind_contextvars(**context)
    args = {k: v for k, v in payload.items() if not k.startswith("_")}
    try:
        async with db.transaction() as session:
            if not await claim_message(session, message_id, name):
                log.info("job_duplicate_ignored")
                return "duplicate"
            await spec.fn(JobContext(session, message_id), **args)
        log.info("job_done")
        return "done"
    except (DomainError, TaskError) as exc:
        JOB_FAILURES.labels(actor=name, final="true").inc()
        log.warning("job_business_failure", error=type(exc).__name__, detail=str(exc))
        async with db.transaction() as session:  # dead, not in flight: the relay must not send it again
            await OutboxRepository.from_session(session).mark_failed(message_id, f"{type(exc).__name__}: {exc}")
        return "failed"
    finally:
        structlog.contextvars.unbind_contextvars("actor", "message_id", "source_correlation_id")


def parse_as_of(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None
