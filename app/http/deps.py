"""Dependencies every surface shares."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import Provide

from app.idempotency import make_idempotency_provider
from app.settings import Settings
from app.uow import Database
from domain.kit.tenancy import Principal


def provide_db(request: Request[Any, Any, Any]) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def provide_settings(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return request.user  # type: ignore[no-any-return]


DEPENDENCIES = {
    "db": Provide(provide_db, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "principal": Provide(provide_principal, sync_to_thread=False),
    "idempotency": Provide(make_idempotency_provider()),
}
