"""A real HTTP receiver, endpoint and event factories, and queries the webhook tests assert with."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select

import app.worker.actors  # noqa: F401 - registers webhooks.deliver, as build_relay does
from app.settings import get_settings
from app.uow import Database
from app.worker.relay import Relay
from domain.kit.outbox import OutboxMessage
from domain.kit.tenancy import Principal, Role
from domain.webhooks import emit, service
from domain.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from domain.webhooks.signing import endpoint_secret

ORDER = {"object": "order", "id": "ord_1", "order_id": "ORDER-1", "amount": 12800, "currency": "JPY"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local HTTP server in a thread that records every POST and answers ``status``."""

    url: str
    status: int = 200
    requests: list[Received] = field(default_factory=list)


@contextmanager
def receiver(status: int = 200) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    recv = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks", status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            recv.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(recv.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recv
    finally:
        server.shutdown()
        server.server_close()


def merchant_principal(tenant, merchant_id: str | None = None) -> Principal:
    return Principal(
        api_key_id="test", role=Role.MERCHANT, tenant_id=tenant.id, merchant_id=merchant_id or tenant.merchant.id
    )


async def create_endpoint(
    db: Database, tenant, *, url: str = "https://shop.example.jp/hooks", events=("*",), merchant_id=None, **kw
) -> WebhookEndpoint:
    async with db.transaction() as s:
        created = await service.create_endpoint(
            s,
            merchant_principal(tenant, merchant_id),
            url=url,
            enabled_events=list(events),
            secret_key=get_settings().secret_key,
            allow_local_http=True,
            **kw,
        )
    return created.endpoint


def secret_of(endpoint: WebhookEndpoint, version: int | None = None) -> str:
    return endpoint_secret(get_settings().secret_key, endpoint.id, version or endpoint.secret_version)


async def emit_order(db: Database, tenant, type_: str = "order.authorized", merchant_id=None, data=None) -> None:
    async with db.transaction() as s:
        await emit(
            s, tenant_id=tenant.id, merchant_id=merchant_id or tenant.merchant.id, type=type_, data=data or ORDER
        )


async def drain(db: Database) -> int:
    return await Relay(db, enqueue=None).drain()


async def rows(db: Database, model: Any, *where: Any, order_by: Any = None) -> list[Any]:
    async with db.transaction() as s:
        stmt = select(model).where(*where).execution_options(populate_existing=True)
        if order_by is not None:
            stmt = stmt.order_by(order_by)
        return list((await s.scalars(stmt)).all())


async def events(db: Database) -> list[WebhookEvent]:
    return await rows(db, WebhookEvent, order_by=WebhookEvent.id)


async def deliveries(db: Database) -> list[WebhookDelivery]:
    return await rows(db, WebhookDelivery, order_by=WebhookDelivery.id)


async def attempts(db: Database, delivery_id: str) -> list[WebhookAttempt]:
    return await rows(db, WebhookAttempt, WebhookAttempt.delivery_id == delivery_id, order_by=WebhookAttempt.attempt)


async def deliver_jobs(db: Database, *, pending_only: bool = False) -> list[OutboxMessage]:
    where = [OutboxMessage.actor == service.DELIVER_ACTOR]
    if pending_only:
        where.append(OutboxMessage.relayed_at.is_(None))
    return await rows(db, OutboxMessage, *where, order_by=OutboxMessage.available_at)
