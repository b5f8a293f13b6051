"""Checkout API: the calling merchant's own profile (a cheap call to check a key)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from app.auth import require_roles
from app.http.responses import READ
from app.http.schemas.tenancy import MerchantOut
from app.uow import Database
from domain.kit.tenancy import Principal, Role
from domain.tenancy import service


@get(
    "/merchant",
    operation_id="GetOwnMerchant",
    summary="The merchant this key acts for",
    responses=READ,
    tags=["checkout"],
    guards=[require_roles(Role.MERCHANT)],
)
async def get_own_merchant(db: NamedDependency[Database], principal: NamedDependency[Principal]) -> MerchantOut:
    assert principal.merchant_id is not None
    async with db.read() as session:
        return MerchantOut.of(await service.get_merchant(session, principal, principal.merchant_id))
