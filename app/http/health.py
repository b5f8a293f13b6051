"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from sqlalchemy import text

from app.errors import problem_response
from app.http.responses import problems
from app.openapi import PublicOperation
from app.uow import Database


@get(
    "/health",
    operation_id="Health",
    summary="Liveness: the process answers",
    tags=["ops"],
    operation_class=PublicOperation,
)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/ready",
    operation_id="Ready",
    summary="Readiness: database and broker reachable",
    tags=["ops"],
    operation_class=PublicOperation,
    responses=problems(503),
)
async def ready(request: Request[Any, Any, Any], db: NamedDependency[Database]) -> Response[Any]:
    checks: dict[str, str] = {}
    try:
        async with db.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unavailable ({type(exc).__name__})"
    broker_check = request.app.state.broker_check
    checks["broker"] = await broker_check()
    if all(v in ("ok", "in-process") for v in checks.values()):
        return Response({"status": "ready", "checks": checks})
    return problem_response(
        request, 503, code="not_ready", detail="A dependency is unavailable.", extra={"checks": checks}
    )
