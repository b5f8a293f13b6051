"""All SQL for operators, merchants and API keys. Tenant-owned reads start from ``readable_statement``."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from domain.kit.dialect import for_update as for_update_
from domain.kit.pagination import Page, PageRequest, paginate
from domain.kit.repository import Repository
from domain.kit.tenancy import Principal, Role, readable_statement
from domain.tenancy.models import ApiKey, Merchant, Operator

# Built once: this runs on every authenticated request, and building a statement costs more than running it.
_PRINCIPAL_BY_HASH = (
    select(ApiKey.id, ApiKey.role, ApiKey.tenant_id, ApiKey.merchant_id, Operator.status, Merchant.status)
    .outerjoin(Operator, Operator.id == ApiKey.tenant_id)
    .outerjoin(Merchant, (Merchant.tenant_id == ApiKey.tenant_id) & (Merchant.id == ApiKey.merchant_id))
    .where(ApiKey.secret_hash == bindparam("secret_hash"), ApiKey.revoked_at.is_(None))
)


class OperatorRepository(Repository):
    async def get(self, operator_id: str) -> Operator | None:
        return await self.session.get(Operator, operator_id)

    async def list(self, page: PageRequest) -> Page[Operator]:
        return await paginate(self.session, select(Operator), Operator, page)

    async def find_by_name(self, name: str) -> Operator | None:
        stmt = select(Operator).where(Operator.name == name).order_by(Operator.id).limit(1)
        return (await self.session.scalars(stmt)).first()


class MerchantRepository(Repository):
    async def get(self, principal: Principal, merchant_id: str, *, for_update: bool = False) -> Merchant | None:
        stmt = readable_statement(Merchant, principal).where(Merchant.id == merchant_id)
        if for_update:
            stmt = for_update_(self.session, stmt)
        return (await self.session.scalars(stmt)).one_or_none()

    async def list(self, principal: Principal, page: PageRequest) -> Page[Merchant]:
        return await paginate(self.session, readable_statement(Merchant, principal), Merchant, page)


class ApiKeyRepository(Repository):
    def _readable(self, principal: Principal):  # type: ignore[no-untyped-def]
        if principal.role is Role.PLATFORM:
            return select(ApiKey)
        return select(ApiKey).where(ApiKey.tenant_id == principal.require_tenant())

    async def get(self, principal: Principal, key_id: str) -> ApiKey | None:
        return (await self.session.scalars(self._readable(principal).where(ApiKey.id == key_id))).one_or_none()

    async def list(self, principal: Principal, page: PageRequest) -> Page[ApiKey]:
        return await paginate(self.session, self._readable(principal), ApiKey, page)

    async def find_active_principal(self, secret_hash: str) -> Principal | None:
        """The principal of an active key whose operator (and merchant) are active, or ``None``."""
        row = (await self.session.execute(_PRINCIPAL_BY_HASH, {"secret_hash": secret_hash})).one_or_none()
        if row is None:
            return None
        key_id, role, tenant_id, merchant_id, operator_status, merchant_status = row
        if tenant_id is not None and operator_status != "active":
            return None
        if merchant_id is not None and merchant_status != "active":
            return None
        return Principal(api_key_id=key_id, role=Role(role), tenant_id=tenant_id, merchant_id=merchant_id)
