"""OpenAPI response specs for problem details, shared by every handler."""

from __future__ import annotations

from litestar.openapi import ResponseSpec

from app.errors import Problem


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    descriptions = {
        400: "Malformed request (e.g. the body is not JSON)",
        401: "Missing, unknown or revoked API key",
        403: "The key's role may not call this endpoint",
        404: "No such resource for this key (another tenant's ids are not found)",
        409: "Conflict with the resource's state, or the Idempotency-Key is in flight",
        413: "Request body too large",
        415: "Content-Type is not application/json",
        422: "Invalid input, naming each field; or an Idempotency-Key reused with another body",
        429: "Rate limit exceeded",
        503: "A backing service is unavailable; retry",
    }
    return {
        s: ResponseSpec(data_container=Problem, description=descriptions[s], media_type="application/problem+json")
        for s in statuses
    }


READ = problems(400, 401, 403, 404, 422, 429, 503)  # 422: a path or query parameter out of its bounds
LIST = problems(400, 401, 403, 422, 429, 503)
WRITE = problems(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
