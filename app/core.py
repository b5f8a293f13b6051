"""ApplicationCore: routes, dependencies, middleware, errors, OpenAPI, lifecycle and CLI in one place."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import Litestar, Response, Router, get
from litestar.config.app import AppConfig
from litestar.middleware import DefineMiddleware
from litestar.plugins import InitPluginProtocol
from litestar.plugins.prometheus import PrometheusConfig
from litestar.response import Redirect
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.auth import PUBLIC_PATHS, ApiKeyAuthenticationMiddleware, require_roles
from app.db import create_engine, create_sessionmaker
from app.errors import EXCEPTION_HANDLERS
from app.http.admin.api_keys import ApiKeyController
from app.http.admin.billing import OperatorBillingController
from app.http.admin.contracts import MerchantContractController
from app.http.admin.exports import AdminExportController
from app.http.admin.fraud import (
    ExternalAddressController,
    FraudListController,
    FraudPolicyController,
    NegativeController,
    ScreeningAdminController,
)
from app.http.admin.ledger import LedgerController
from app.http.admin.merchants import MerchantController
from app.http.admin.operator import get_own_operator
from app.http.admin.orders import AdminOrderController, CreditPolicyController
from app.http.admin.payments import InvoiceHoldController, PaymentController, PaymentFileController
from app.http.admin.reports import CollectionsReportController
from app.http.admin.settlements import AdminSettlementController, PayoutFileController, SettlementRunController
from app.http.checkout.merchant import get_own_merchant
from app.http.checkout.orders import OrderController
from app.http.checkout.screenings import ScreeningController
from app.http.checkout.settlements import MerchantSettlementController
from app.http.checkout.webhooks import WebhookEndpointController, WebhookEventController
from app.http.deps import DEPENDENCIES
from app.http.health import health, ready
from app.http.platform.billing import BILLING_CONTROLLERS
from app.http.platform.exports import OperatorBillingExportController, PlatformExportController
from app.http.platform.operators import OperatorController
from app.logging import configure_logging, get_logger
from app.middleware import GuardedRequest, body_guard_middleware, rate_limit_middleware
from app.openapi import openapi_config
from app.settings import Settings
from app.uow import Database
from domain.kit.tenancy import Role

log = get_logger(__name__)

try:
    VERSION = version("bnpl")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    VERSION = "0.0.0"


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics() -> Response[bytes]:
    """Prometheus exposition (litestar's request histogram plus ``app/metrics.py``)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@get("/docs", include_in_schema=False)
async def docs_redirect() -> Redirect:
    return Redirect("/schema/swagger")


class ApplicationCore(InitPluginProtocol):
    def __init__(self, settings: Settings, *, db: Database | None = None, run_background: bool = True) -> None:
        self.settings = settings
        self.db = db
        self.run_background = run_background

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        settings = self.settings
        prometheus = PrometheusConfig(app_name="bnpl", prefix="bnpl", group_path=True, exclude=["/metrics", "/health"])
        # The body limit on each router: Litestar 2.25 builds the app layer from the constructor's argument (10 MB),
        # not from ``app_config.request_max_body_size``, so a chunked body (no Content-Length for the body guard to
        # check) would otherwise be read up to 10 MB. A handler may still declare a larger one (payment files).
        max_body = settings.max_body_bytes
        app_config.route_handlers.extend(
            [
                health,
                ready,
                docs_redirect,
                metrics,
                Router(
                    "/platform/v1",
                    route_handlers=[OperatorController, *BILLING_CONTROLLERS, PlatformExportController],
                    guards=[require_roles(Role.PLATFORM, Role.PLATFORM_FINANCE)],
                    request_max_body_size=max_body,
                ),
                Router(
                    "/admin/v1",
                    route_handlers=[
                        get_own_operator,
                        MerchantController,
                        ApiKeyController,
                        LedgerController,
                        ScreeningAdminController,
                        FraudListController,
                        ExternalAddressController,
                        FraudPolicyController,
                        NegativeController,
                        AdminOrderController,
                        CreditPolicyController,
                        PaymentController,
                        PaymentFileController,
                        InvoiceHoldController,
                        CollectionsReportController,
                        SettlementRunController,
                        AdminSettlementController,
                        PayoutFileController,
                        MerchantContractController,
                        AdminExportController,
                        OperatorBillingController,
                        OperatorBillingExportController,
                    ],
                    request_max_body_size=max_body,
                ),
                Router(
                    "/v1",
                    route_handlers=[
                        get_own_merchant,
                        ScreeningController,
                        OrderController,
                        WebhookEndpointController,
                        WebhookEventController,
                        MerchantSettlementController,
                    ],
                    request_max_body_size=max_body,
                ),
            ]
        )
        app_config.dependencies.update(DEPENDENCIES)
        app_config.exception_handlers.update(EXCEPTION_HANDLERS)
        app_config.openapi_config = openapi_config(VERSION)
        app_config.logging_config = None  # ours (app/logging.py), configured once per process
        app_config.request_max_body_size = max_body
        app_config.request_class = GuardedRequest  # undecodable JSON bodies are 400s, not 500s
        # Order: the rate limit before authentication (a flood costs no key lookup, and it sees the 401s to count
        # failed keys per address), the body checks after it (an unauthenticated client is not waited for).
        middleware: list[Any] = [prometheus.middleware]
        if settings.rate_limit_per_minute > 0 or settings.auth_failures_per_minute > 0:
            middleware.append(
                rate_limit_middleware(
                    settings.rate_limit_per_minute, settings.auth_failures_per_minute, exclude=PUBLIC_PATHS
                )
            )
        middleware += [
            DefineMiddleware(ApiKeyAuthenticationMiddleware, exclude=PUBLIC_PATHS),
            body_guard_middleware(settings.max_body_bytes, settings.request_body_timeout_seconds),
        ]
        app_config.middleware = [*middleware, *app_config.middleware]
        app_config.state.update({"settings": settings})
        app_config.lifespan.append(self._lifespan)
        return app_config

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        settings = self.settings
        configure_logging(json=settings.json_logs, level=settings.log_level)
        owns_db = self.db is None
        if self.db is None:
            engine = create_engine(settings)
            db = Database(create_sessionmaker(engine), engine)
        else:
            db = self.db
        app.state.db = db
        app.state.broker_check = broker_check_for(settings)
        tasks: list[asyncio.Task[None]] = []
        relay = build_relay(settings, db)
        db.on_outbox_commit = relay.kick
        app.state.relay = relay
        if self.run_background:
            tasks.append(asyncio.create_task(relay.run_forever(), name="outbox-relay"))
            if settings.embedded:
                from app.worker.scheduler import run_scheduler

                tasks.append(
                    asyncio.create_task(
                        run_scheduler(db, lease_seconds=settings.scheduler_lease_seconds), name="scheduler"
                    )
                )
        log.info("api_started", embedded=settings.embedded, database="sqlite" if settings.is_sqlite else "postgresql")
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if owns_db:
                await db.dispose()


def broker_check_for(settings: Settings) -> Callable[[], Awaitable[str]]:
    async def check() -> str:
        if settings.embedded:
            return "in-process"
        from app.worker.broker import redis_ping

        try:
            assert settings.redis_url is not None
            return "ok" if await asyncio.to_thread(redis_ping, settings.redis_url) else "unavailable"
        except Exception as exc:  # noqa: BLE001
            return f"unavailable ({type(exc).__name__})"

    return check


def build_relay(settings: Settings, db: Database) -> Any:
    import app.worker.actors  # noqa: F401 - registers actors
    from app.worker.relay import Relay, dramatiq_enqueue

    enqueue = None
    if not settings.embedded:
        from app.worker.broker import build_broker

        enqueue = dramatiq_enqueue(build_broker(settings, with_db=False))
    return Relay(
        db,
        enqueue=enqueue,
        batch_size=settings.relay_batch_size,
        interval=settings.relay_interval_seconds,
        max_attempts=settings.job_max_attempts,
        redeliver_after=settings.outbox_redeliver_after_seconds,
    )
