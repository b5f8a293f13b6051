"""Who is calling, and the tenant scope every repository read goes through."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, select

from domain.kit.errors import PermissionDenied

M = TypeVar("M")


class Role(enum.StrEnum):
    """What an API key may do. The key's visible prefix shows it (see ``KEY_PREFIXES``)."""

    PLATFORM = "platform"
    PLATFORM_FINANCE = "platform_finance"  # read-only: the platform's billing, KPIs and exports
    OPERATOR_ADMIN = "operator_admin"
    OPERATOR_FINANCE = "operator_finance"
    MERCHANT = "merchant"


# Shown at the start of every secret so a leaked key's power is visible at a glance.
KEY_PREFIXES: dict[Role, str] = {
    Role.PLATFORM: "sk_plat_",
    Role.PLATFORM_FINANCE: "sk_pfin_",
    Role.OPERATOR_ADMIN: "sk_admin_",
    Role.OPERATOR_FINANCE: "sk_fin_",
    Role.MERCHANT: "sk_mch_",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: an API key, its role and the tenant (and merchant) it is bound to."""

    api_key_id: str
    role: Role
    tenant_id: str | None = None
    merchant_id: str | None = None

    @property
    def scope(self) -> str:
        """The tenant id, or ``"platform"`` for platform keys (used where a scope key must not be NULL)."""
        return self.tenant_id or "platform"

    @property
    def is_platform(self) -> bool:
        return self.role in (Role.PLATFORM, Role.PLATFORM_FINANCE)

    def require_tenant(self) -> str:
        if self.tenant_id is None:
            raise PermissionDenied("this action needs an operator or merchant key", code="tenant_key_required")
        return self.tenant_id


def readable_statement(model: type[M], principal: Principal) -> Select[tuple[M]]:
    """``SELECT model`` limited to what ``principal`` may see: its tenant, and for merchants its own rows.

    Every tenant-owned read starts here; no repository filters on ``tenant_id`` by hand.
    """
    tenant_id = principal.require_tenant()
    stmt = select(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]
    if principal.role is Role.MERCHANT:
        merchant_col: Any = getattr(model, "merchant_id", None)
        if merchant_col is None and getattr(model, "__tablename__", "") == "merchants":
            merchant_col = model.id  # type: ignore[attr-defined]
        if merchant_col is not None:
            stmt = stmt.where(merchant_col == principal.merchant_id)
    return stmt
