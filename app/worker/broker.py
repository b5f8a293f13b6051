"""The Dramatiq broker (Redis) and the actors generated from the registry.

Middleware order matters: Dramatiq's defaults first (AgeLimit, TimeLimit, ShutdownNotifications, Callbacks,
Pipelines, Retries), then AsyncIO (starts the event-loop thread async actors run on), then ours, which opens the
process's database engine at boot on that loop's terms and disposes of it at shutdown.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, Middleware

from app.db import create_engine, create_sessionmaker
from app.logging import get_logger
from app.settings import Settings
from app.uow import Database
from app.worker.registry import REGISTRY, ActorSpec, execute

log = get_logger(__name__)

_db: Database | None = None


class DatabaseLifecycle(Middleware):
    """One engine per worker process, created at boot and disposed of on its event loop at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        global _db
        engine = create_engine(self.settings)
        _db = Database(create_sessionmaker(engine), engine)

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        global _db
        loop_thread = get_event_loop_thread()
        if _db is not None and loop_thread is not None:
            loop_thread.run_coroutine(_db.dispose())
        _db = None


def _make_dramatiq_actor(spec: ActorSpec, broker: dramatiq.Broker) -> Any:
    async def run(message_id: str, payload: dict[str, Any]) -> None:
        if _db is None:
            raise RuntimeError("worker database not initialised")
        await execute(_db, spec.name, message_id, payload)

    run.__name__ = spec.name.replace(".", "_")
    return dramatiq.actor(
        run,
        actor_name=spec.name,
        queue_name=spec.queue,
        broker=broker,
        time_limit=spec.time_limit_ms,
        max_retries=spec.max_retries,
        min_backoff=1_000,
        max_backoff=3_600_000,
    )


def build_broker(settings: Settings, *, with_db: bool = True) -> RedisBroker:
    """A Redis broker with every registered actor declared on it, set as Dramatiq's global broker."""
    import app.worker.actors  # noqa: F401 - registers actors

    assert settings.redis_url is not None
    broker = RedisBroker(
        url=settings.redis_url,
        namespace=settings.broker_namespace,
        heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
    )
    broker.add_middleware(AsyncIO())
    if with_db:
        broker.add_middleware(DatabaseLifecycle(settings))
    dramatiq.set_broker(broker)
    for spec in REGISTRY.values():
        _make_dramatiq_actor(spec, broker)
    return broker


def redis_ping(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()
