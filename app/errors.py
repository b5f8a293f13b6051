"""Every error as RFC 9457 problem details (``application/problem+json``).

Body: ``type``, ``title``, ``status``, ``detail``, ``code`` (stable, machine-readable), ``instance`` (the path),
``request_id``, and for invalid input ``errors: [{pointer, detail, code}]`` with JSON pointers into the body
(``#/items/0/price``) or the parameter name (``query:limit``, ``header:Idempotency-Key``).

Choices: a body that is not JSON is 400 ``malformed_json``; a body that is JSON but breaks the schema is 422
``validation_error``; a state-illegal action is 409 with a specific code. Database text never reaches a client.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    SerializationException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.logging import get_logger
from domain.kit.errors import (
    DomainError,
    FieldIssue,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StateConflict,
)

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://bnpl.dev/problems/"

STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    408: ("request_timeout", "Request body timeout"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("validation_error", "Invalid request"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal server error"),
    503: ("service_unavailable", "Service temporarily unavailable"),
}

DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (NotFound, 404),
    (StateConflict, 409),
    (InvalidInput, 422),
    (PermissionDenied, 403),
]


class ProblemIssue(BaseModel):
    pointer: str = Field(
        description="JSON pointer into the body (#/a/0/b) or the parameter (query:limit)", examples=["#/name"]
    )
    detail: str = Field(examples=["Field required"])
    code: str = Field(examples=["missing"])


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=["https://bnpl.dev/problems/validation_error"])
    title: str = Field(examples=["Invalid request"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["The request body is invalid."])
    code: str = Field(description="Stable machine-readable error code", examples=["validation_error"])
    instance: str | None = Field(default=None, examples=["/admin/v1/merchants"])
    request_id: str | None = Field(default=None, examples=["req_5f0c3c0e8b5b4c1f"])
    errors: list[ProblemIssue] = Field(default_factory=list)


def request_id_of(request: Request[Any, Any, Any]) -> str:
    state = request.scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        rid = state["request_id"] = f"req_{uuid.uuid4().hex[:16]}"
    return str(rid)


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    *,
    code: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    errors: list[FieldIssue] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    default_code, default_title = STATUS_CODES.get(status, ("error", "Error"))
    code = code or default_code
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title or default_title,
        "status": status,
        "detail": detail or title or default_title,
        "code": code,
        "instance": request.url.path,
        "request_id": request_id_of(request),
        "errors": [{"pointer": e.pointer, "detail": e.detail, "code": e.code} for e in errors or []],
    }
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _pointer(key: str | None, source: Any) -> str:
    source = getattr(source, "value", source)  # Litestar passes a ParamType enum for parameters
    if not key:
        return "#"
    if source in (None, "body"):
        parts = key.split(".")
        if parts and parts[0] == "data":
            parts = parts[1:]
        return "#/" + "/".join(parts) if parts else "#"
    return f"{source}:{key}"


def _validation_issues(exc: ValidationException) -> list[FieldIssue]:
    issues: list[FieldIssue] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid"))
        issues.append(FieldIssue(_pointer(item.get("key"), item.get("source")), message, "invalid"))
    return issues


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    detail = str(exc.detail or "")
    issues = _validation_issues(exc)
    if not issues and detail:
        return problem_response(request, 400, detail=detail)
    return problem_response(request, 422, detail="The request is invalid; see errors[] for each field.", errors=issues)


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status == 400 and isinstance(exc.__cause__, SerializationException):
        return problem_response(
            request, 400, code="malformed_json", detail=f"The request body is not valid JSON: {exc.detail}."
        )
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", 'Bearer realm="bnpl"')
    detail = exc.detail if status < 500 else None
    if status == 404 and detail == "Not Found":
        detail = f"No route {request.method} {request.url.path}."
    return problem_response(request, status, detail=detail, headers=headers or None, code=getattr(exc, "code", None))


def handle_domain(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    status = next((s for cls, s in DOMAIN_STATUS if isinstance(exc, cls)), None)
    if status is None:
        return handle_unexpected(request, exc)
    return problem_response(
        request, status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.issues, extra=exc.extra
    )


def is_unavailable(exc: BaseException) -> bool:
    """The database (or its pool) is unreachable: a 503 the client may retry, not a bug."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeoutError, ConnectionError, asyncio.TimeoutError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_unavailable(exc):
        log.warning("dependency_unavailable", error=type(exc).__name__, path=request.url.path)
        return problem_response(
            request, 503, detail="A backing service is unavailable; retry shortly.", headers={"Retry-After": "2"}
        )
    log.exception("unhandled_error", path=request.url.path, method=request.method)
    return problem_response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        detail="An unexpected error occurred. Quote the request_id when reporting it.",
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ValidationException: handle_validation,
    HTTPException: handle_http,
    DomainError: handle_domain,
    Exception: handle_unexpected,
}

# A problem response for OpenAPI ``responses=``.
PROBLEM_MEDIA = MediaType.JSON
