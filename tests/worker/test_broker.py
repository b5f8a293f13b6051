"""Broker mode end to end: outbox → relay → Redis → a real Dramatiq worker → the actor, exactly once."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

import app.worker.broker as broker_module
from app.settings import get_settings
from app.worker.broker import build_broker
from app.worker.relay import Relay, dramatiq_enqueue
from domain.kit import outbox
from tests.conftest import REDIS_URL
from tests.fixtures.factories import create_tenant
from tests.worker.helpers import effects, inbox_actors, outbox_row
from tests.worker.sample_actors import RECORD

pytestmark = pytest.mark.postgres_only

DEAD_REDIS_URL = "redis://127.0.0.1:1/0"
JOIN_TIMEOUT_MS = 20_000


class Outcomes(Middleware):
    """Records each message the worker finished: (message id, "ok" or the exception's type name)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None, exception: Any = None) -> None:
        self.seen.append((message.message_id, "ok" if exception is None else type(exception).__name__))

    def after_skip_message(self, broker: Any, message: Any) -> None:
        self.seen.append((message.message_id, "skipped"))


@pytest.fixture
def namespace() -> Iterator[str]:
    ns = f"{os.environ['BNPL_BROKER_NAMESPACE']}-{uuid.uuid4().hex[:8]}"
    yield ns
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{ns}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def test_outbox_to_redis_to_worker_runs_the_actor_exactly_once(committed_db, namespace):
    tenant = await create_tenant(committed_db, "Broker BNPL")
    payload = {"tenant_id": tenant.id, "note": "through redis"}
    async with committed_db.transaction() as s:
        message_id = await outbox.enqueue(s, RECORD, payload, tenant_id=tenant.id)
    assert message_id is not None

    # Redis is down: nothing is relayed and the row stays pending; the outbox holds the work.
    dead = RedisBroker(url=DEAD_REDIS_URL, namespace=namespace)
    down_relay = Relay(committed_db, enqueue=dramatiq_enqueue(dead))
    assert await down_relay.relay_once() == 0
    assert await down_relay.relay_once() == 0
    row = await outbox_row(committed_db, message_id)
    assert row is not None and row.relayed_at is None and row.failed_at is None and row.attempts == 0
    # ...and the database is still usable for new work (API requests keep working).
    async with committed_db.transaction() as s:
        other_id = await outbox.enqueue(s, RECORD, {"tenant_id": tenant.id}, dedupe_key="while-redis-is-down")
    assert other_id is not None

    settings = get_settings().model_copy(update={"redis_url": REDIS_URL, "broker_namespace": namespace})
    broker = build_broker(settings)
    outcomes = Outcomes()
    broker.add_middleware(outcomes)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    try:
        relay = Relay(committed_db, enqueue=dramatiq_enqueue(broker))
        assert await relay.relay_once() == 2  # the backlog, now that a broker is reachable
        assert await relay.relay_once() == 0
        row = await outbox_row(committed_db, message_id)
        assert row is not None and row.relayed_at is not None
        assert await effects(committed_db, message_id) == 0  # relayed, but no worker has run it yet

        worker.start()
        # DatabaseLifecycle opened the worker's own engine at boot; record that it is disposed at shutdown.
        worker_db = broker_module._db
        assert worker_db is not None and worker_db.engine is not None
        disposed: list[bool] = []
        dispose = worker_db.dispose

        async def recording_dispose() -> None:
            await dispose()
            disposed.append(True)

        worker_db.dispose = recording_dispose  # type: ignore[method-assign]
        await asyncio.to_thread(broker.join, "default", timeout=JOIN_TIMEOUT_MS)
        await asyncio.to_thread(worker.join)

        assert await effects(committed_db, message_id) == 1
        assert await inbox_actors(committed_db, message_id) == [RECORD]
        assert sorted(outcomes.seen) == sorted([(message_id, "ok"), (other_id, "ok")])

        # A redelivery: the very same Dramatiq message (same message id) enqueued again.
        redelivery = dramatiq.Message(
            queue_name="default",
            actor_name=RECORD,
            args=(),
            kwargs={"message_id": message_id, "payload": payload},
            options={},
            message_id=message_id,
        )
        broker.enqueue(redelivery)
        await asyncio.to_thread(broker.join, "default", timeout=JOIN_TIMEOUT_MS)
        await asyncio.to_thread(worker.join)

        # The worker did consume the redelivery (without error), and the inbox turned it into a no-op.
        assert [o for o in outcomes.seen if o[0] == message_id] == [(message_id, "ok"), (message_id, "ok")]
        assert await effects(committed_db, message_id) == 1
        assert await effects(committed_db, other_id) == 1
        assert await inbox_actors(committed_db, message_id) == [RECORD]
    finally:
        await asyncio.to_thread(worker.stop)
        broker.flush_all()
        broker.close()
    # Shutdown disposed of the worker's engine on the AsyncIO middleware's loop (before that loop stopped).
    assert disposed == [True]
    assert broker_module._db is None
