"""The outbox relay: committed outbox rows → the broker (production) or straight to the actor (embedded).

Broker mode: a batch is locked with ``FOR UPDATE SKIP LOCKED`` (so several relays share the work), each row is
enqueued with ``message_id`` = the outbox id and marked relayed in the same transaction. A crash after the
enqueue and before the commit re-sends the message: consumers dedupe by message id. If Redis is down the rows
stay pending and the next sweep retries; API requests are unaffected.

Redelivery (broker mode): a relayed message that no worker has completed ``redeliver_after`` later (Redis lost
it, or a killed worker's message waits for Dramatiq's requeue) is sent again, then again after 2×, 4×… that
(so a slow backlog is not flooded with copies), and declared dead after ``max_attempts`` deliveries; the inbox
makes a duplicate delivery a no-op. The sweep runs every ``redeliver_after / 4`` in every relay (rows are taken
with ``SKIP LOCKED``, so relays share them).

Embedded mode: rows are read, then each actor runs in its own transaction (the relay holds no lock meanwhile,
which SQLite's single writer requires); success marks the row relayed, failure backs it off exponentially.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

from app.logging import get_logger
from app.metrics import JOB_FAILURES, OUTBOX_LAG, OUTBOX_PENDING_RELAYED
from app.uow import Database
from app.worker.registry import UnknownActor, execute
from domain.kit import clock
from domain.kit.outbox import OutboxMessage, OutboxRepository

log = get_logger(__name__)

Enqueue = Callable[[OutboxMessage], None]


class Relay:
    def __init__(
        self,
        db: Database,
        *,
        enqueue: Enqueue | None,
        batch_size: int = 100,
        interval: float = 1.0,
        max_attempts: int = 20,
        redeliver_after: float = 600.0,
    ) -> None:
        self.db = db
        self.enqueue = enqueue  # None: embedded, run actors in process
        self.batch_size = batch_size
        self.interval = interval
        self.max_attempts = max_attempts
        self.redeliver_after = dt.timedelta(seconds=redeliver_after)
        self._next_redelivery = 0.0  # monotonic time of the next sweep
        self._wake = asyncio.Event()
        self._broker_down_logged = False

    def kick(self) -> None:
        """Called after a commit that staged messages: relay now rather than at the next sweep."""
        self._wake.set()

    async def relay_once(self) -> int:
        """One batch; returns how many messages were relayed (or run)."""
        if self.enqueue is None:
            return await self._run_inline()
        return await self._send_to_broker(self.enqueue)

    async def _send_to_broker(self, enqueue: Enqueue) -> int:
        sent = 0
        async with self.db.transaction() as session:
            repo = OutboxRepository.from_session(session)
            for message in await repo.lock_due(self.batch_size):
                try:
                    await asyncio.to_thread(enqueue, message)
                except UnknownActor:
                    # Not ours to send (yet): back off this row only; the rest of the batch goes on.
                    await repo.mark_retry(message.id, f"unknown actor {message.actor}", self.max_attempts)
                    continue
                except Exception as exc:  # noqa: BLE001 - broker unreachable: keep the rest for the next sweep
                    if not self._broker_down_logged:
                        log.warning("broker_unavailable", error=type(exc).__name__)
                        self._broker_down_logged = True
                    break
                self._broker_down_logged = False
                await repo.mark_relayed(message.id)
                sent += 1
        OUTBOX_PENDING_RELAYED.inc(sent)
        return sent

    async def redeliver_once(self) -> int:
        """Send again the in-flight messages older than ``redeliver_after``; returns how many were sent."""
        if self.enqueue is None:
            return 0  # embedded: actors run inline, nothing is in a broker
        sent = dead = 0
        async with self.db.transaction() as session:
            repo = OutboxRepository.from_session(session)
            for message in await repo.lock_in_flight(self.batch_size, clock.utc_now() - self.redeliver_after):
                if repo.is_spent(message, self.max_attempts):
                    dead += 1
                    continue
                try:
                    await asyncio.to_thread(self.enqueue, message)
                except UnknownActor:
                    message.failed_at = clock.utc_now()
                    message.last_error = f"unknown actor {message.actor}"
                    dead += 1
                    continue
                except Exception as exc:  # noqa: BLE001 - broker unreachable: the next sweep tries again
                    log.warning("broker_unavailable", error=type(exc).__name__)
                    break
                repo.mark_resent(message, self.redeliver_after)
                sent += 1
        if sent or dead:
            log.warning("outbox_redelivered", sent=sent, dead=dead)
        return sent

    async def _maybe_redeliver(self) -> None:
        now = asyncio.get_running_loop().time()
        if now >= self._next_redelivery:
            self._next_redelivery = now + self.redeliver_after.total_seconds() / 4
            while await self.redeliver_once() >= self.batch_size:
                pass

    async def _run_inline(self) -> int:
        async with self.db.transaction() as session:
            due = [
                (m.id, m.actor, dict(m.payload))
                for m in await OutboxRepository.from_session(session).lock_due(self.batch_size)
            ]
        for message_id, actor_name, payload in due:
            try:
                await execute(self.db, actor_name, message_id, payload)
            except Exception as exc:  # noqa: BLE001 - transient: back off and retry later
                log.warning("job_attempt_failed", actor=actor_name, message_id=message_id, error=type(exc).__name__)
                async with self.db.transaction() as session:
                    dead = await OutboxRepository.from_session(session).mark_retry(
                        message_id, f"{type(exc).__name__}: {exc}", self.max_attempts
                    )
                JOB_FAILURES.labels(actor=actor_name, final=str(dead).lower()).inc()
                continue
            async with self.db.transaction() as session:
                await OutboxRepository.from_session(session).mark_relayed(message_id)
        OUTBOX_PENDING_RELAYED.inc(len(due))
        return len(due)

    async def update_lag(self) -> None:
        async with self.db.transaction() as session:
            oldest = await OutboxRepository.from_session(session).oldest_pending_at()
        OUTBOX_LAG.set(0 if oldest is None else max(0.0, (clock.utc_now() - oldest).total_seconds()))

    async def drain(self, max_rounds: int = 100) -> int:
        """Relay until nothing is due (tests, CLI)."""
        total = 0
        for _ in range(max_rounds):
            n = await self.relay_once()
            total += n
            if n == 0:
                break
        return total

    async def run_forever(self) -> None:
        while True:
            try:
                while await self.relay_once() >= self.batch_size:
                    pass
                await self._maybe_redeliver()
                await self.update_lag()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. the database is down: keep the loop alive
                log.warning("relay_error", error=type(exc).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()


def dramatiq_enqueue(broker: Any) -> Enqueue:
    """An enqueue function that hands an outbox row to Dramatiq with the row's id as message id."""
    import dramatiq

    from app.worker.registry import spec_of

    def enqueue(message: OutboxMessage) -> None:
        spec = spec_of(message.actor)
        # A redelivery gets a Dramatiq id of its own (the lost one may still sit in Redis); the actor's
        # ``message_id`` argument, the inbox key, stays the row's id.
        dramatiq_id = message.id if message.relayed_at is None else f"{message.id}.{message.attempts}"
        broker.enqueue(
            dramatiq.Message(
                queue_name=spec.queue,
                actor_name=spec.name,
                args=(),
                kwargs={"message_id": message.id, "payload": message.payload},
                options={},
                message_id=dramatiq_id,
            )
        )

    return enqueue
