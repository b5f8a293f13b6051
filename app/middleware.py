"""Request context: a request id on every request and response, log context, an access log line, and the
cheap up-front checks (415 for a non-JSON body, 413 for a declared oversize body)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import ClientException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.logging import get_logger
from domain.kit.context import correlation_id

REQUEST_ID_HEADER = "x-request-id"
_VALID_RID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

access_log = get_logger("bnpl.access")


class UnsupportedMediaType(ClientException):
    status_code = 415


class PayloadTooLarge(ClientException):
    status_code = 413


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    """Wraps the whole Litestar app (outside its exception handling), so every response is covered."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_RID.match(incoming) else f"req_{uuid.uuid4().hex[:16]}"
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        token = correlation_id.set(request_id)
        started = time.perf_counter()
        status_holder: dict[str, int] = {}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            correlation_id.reset(token)
            state: dict[str, Any] = scope.get("state", {})
            access_log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status_holder.get("status", 0),  # 0: the client went away before a response
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                tenant_id=state.get("tenant_id"),
            )

    return middleware


def body_guard_middleware(max_body_bytes: int) -> Any:
    """415 unless a body-carrying request is JSON (routes may allow other types with ``opt["content_types"]``);
    413 when Content-Length already says the body is too large (Litestar enforces the limit while reading too;
    a route may raise it with ``request_max_body_size``)."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] in BODY_METHODS:
                handler = scope.get("route_handler")
                # A route that takes files (a bank's payment file) declares its own, larger limit.
                route_limit = getattr(handler, "request_max_body_size", None) if handler is not None else None
                limit = route_limit if isinstance(route_limit, int) and route_limit > max_body_bytes else max_body_bytes
                length = _header(scope, b"content-length")
                if length is not None and length.isdigit() and int(length) > limit:
                    raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
                has_body = (length is not None and length != "0") or _header(scope, b"transfer-encoding") is not None
                if has_body:
                    allowed = (handler.opt.get("content_types") if handler is not None else None) or (
                        "application/json",
                    )
                    ctype = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
                    if not (ctype in allowed or (ctype.endswith("+json") and "application/json" in allowed)):
                        raise UnsupportedMediaType(
                            f"Content-Type must be one of {', '.join(allowed)}; got {ctype or 'none'}."
                        )
            await app(scope, receive, send)

        return middleware

    return factory
