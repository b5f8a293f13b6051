"""Bearer API keys → :class:`Principal`, and role guards.

A missing, malformed, unknown or revoked key is a 401; a valid key of the wrong role is a 403. Another
tenant's resources are not "forbidden" but simply not found (404): repositories never see them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from app.uow import Database
from domain.kit.tenancy import Principal, Role
from domain.tenancy import service as tenancy

PUBLIC_PATHS = ["/health", "/ready", "/metrics", "/schema", "/docs"]


class ApiKeyAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            raise NotAuthorizedException("Send your API key as 'Authorization: Bearer <key>'.")
        state = connection.app.state
        db: Database = state.db
        async with db.read() as session:
            principal = await tenancy.authenticate(session, secret.strip(), state.settings.secret_key)
        if principal is None:
            raise NotAuthorizedException("The API key is unknown or has been revoked.")
        connection.scope.setdefault("state", {})["tenant_id"] = principal.tenant_id
        return AuthenticationResult(user=principal, auth=principal.api_key_id)


@dataclass(frozen=True)
class RoleGuard:
    """A 403 unless the key's role is one of ``roles`` (which tests walking the routes read)."""

    roles: frozenset[Role]

    # async: Litestar runs a sync guard in a worker thread, which costs more than the check itself.
    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
        if connection.scope["method"] == "OPTIONS":
            return  # the route's automatic answer (an Allow header): authentication skips OPTIONS, so no key is read
        principal: Principal = connection.user
        if principal.role not in self.roles:
            names = ", ".join(sorted(r.value for r in self.roles))
            raise PermissionDeniedException(f"This endpoint needs a key with role {names}.")


def require_roles(*roles: Role) -> RoleGuard:
    return RoleGuard(frozenset(roles))


def provide_principal(request: Any) -> Principal:
    return request.user  # type: ignore[no-any-return]
