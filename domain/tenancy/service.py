"""Use cases for tenants, merchants and keys. Services flush, never commit: the edge owns the transaction."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from domain.kit import audit, clock
from domain.kit.ids import new_id
from domain.kit.pagination import Page, PageRequest
from domain.kit.tenancy import KEY_PREFIXES, Principal, Role
from domain.tenancy.errors import (
    ApiKeyAlreadyRevoked,
    ApiKeyNotFound,
    InvalidKeyRole,
    MerchantNotFound,
    OperatorNotFound,
)
from domain.tenancy.models import ApiKey, Merchant, Operator
from domain.tenancy.repository import ApiKeyRepository, MerchantRepository, OperatorRepository

CLI_ACTOR = "cli"


def hash_secret(secret: str, pepper: str) -> str:
    """HMAC-SHA256 of the secret under the server-side pepper (``BNPL_SECRET_KEY``).

    Keys are 256-bit random, so a fast keyed hash is enough (no password-stretching needed), and a stolen
    ``api_keys`` table is useless without the pepper.
    """
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


async def create_operator(session: AsyncSession, *, name: str) -> Operator:
    operator = Operator(id=new_id("opr"), name=name, status="active", created_at=clock.utc_now())
    session.add(operator)
    await session.flush()
    return operator


async def get_operator(session: AsyncSession, operator_id: str) -> Operator:
    operator = await OperatorRepository.from_session(session).get(operator_id)
    if operator is None:
        raise OperatorNotFound(f"no operator {operator_id}")
    return operator


async def list_operators(session: AsyncSession, page: PageRequest) -> Page[Operator]:
    return await OperatorRepository.from_session(session).list(page)


async def create_merchant(
    session: AsyncSession, principal: Principal, *, name: str, consumer_fee: int = 0, test_mode: bool = False
) -> Merchant:
    tenant_id = principal.require_tenant()
    merchant = Merchant(
        tenant_id=tenant_id,
        id=new_id("mch"),
        name=name,
        status="active",
        consumer_fee=consumer_fee,
        test_mode=test_mode,
        created_at=clock.utc_now(),
    )
    session.add(merchant)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="merchant.created",
        resource_type="merchant",
        resource_id=merchant.id,
    )
    await session.flush()
    return merchant


async def update_merchant(
    session: AsyncSession,
    principal: Principal,
    merchant_id: str,
    *,
    name: str | None = None,
    consumer_fee: int | None = None,
    status: str | None = None,
) -> Merchant:
    """Change a merchant's name, consumer fee or status (a merchant's test mode is fixed at creation)."""
    merchant = await MerchantRepository.from_session(session).get(principal, merchant_id, for_update=True)
    if merchant is None:
        raise MerchantNotFound(f"no merchant {merchant_id}")
    changes = {k: v for k, v in (("name", name), ("consumer_fee", consumer_fee), ("status", status)) if v is not None}
    for key, value in changes.items():
        setattr(merchant, key, value)
    audit.record(
        session,
        tenant_id=merchant.tenant_id,
        actor=principal,
        action="merchant.updated",
        resource_type="merchant",
        resource_id=merchant.id,
        data={"fields": sorted(changes)},
    )
    await session.flush()
    return merchant


async def get_merchant(session: AsyncSession, principal: Principal, merchant_id: str) -> Merchant:
    merchant = await MerchantRepository.from_session(session).get(principal, merchant_id)
    if merchant is None:
        raise MerchantNotFound(f"no merchant {merchant_id}")
    return merchant


async def list_merchants(session: AsyncSession, principal: Principal, page: PageRequest) -> Page[Merchant]:
    return await MerchantRepository.from_session(session).list(principal, page)


async def issue_key(
    session: AsyncSession,
    *,
    issuer: Principal | str,
    role: Role,
    name: str,
    pepper: str,
    tenant_id: str | None = None,
    merchant_id: str | None = None,
) -> IssuedKey:
    """Create a key and return its secret (the only time it exists in clear).

    ``issuer`` is the calling principal (an operator admin may issue keys for its own tenant only) or
    ``"cli"`` for the operator's shell, which may issue any key.
    """
    if isinstance(issuer, Principal):
        if issuer.role is Role.OPERATOR_ADMIN:
            if role in (Role.PLATFORM, Role.PLATFORM_FINANCE):
                raise InvalidKeyRole("operator admins cannot issue platform keys", code="invalid_key_role")
            tenant_id = issuer.require_tenant()
        elif issuer.role is not Role.PLATFORM:
            raise InvalidKeyRole("this key may not issue keys")
    if role in (Role.PLATFORM, Role.PLATFORM_FINANCE):
        tenant_id = merchant_id = None
    elif tenant_id is None:
        raise InvalidKeyRole("operator and merchant keys need an operator")
    else:
        operator = await OperatorRepository.from_session(session).get(tenant_id)
        if operator is None:
            raise OperatorNotFound(f"no operator {tenant_id}")
    if role is Role.MERCHANT:
        if merchant_id is None:
            raise InvalidKeyRole("a merchant key needs merchant_id", code="merchant_id_required")
        scope = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_ADMIN, tenant_id=tenant_id)
        await get_merchant(session, scope, merchant_id)
    elif merchant_id is not None:
        raise InvalidKeyRole("only merchant keys are bound to a merchant", code="merchant_id_not_allowed")

    secret = KEY_PREFIXES[role] + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key"),
        tenant_id=tenant_id,
        merchant_id=merchant_id,
        role=role.value,
        name=name,
        display_prefix=secret[: len(KEY_PREFIXES[role]) + 4],
        secret_hash=hash_secret(secret, pepper),
        created_by=issuer.api_key_id if isinstance(issuer, Principal) else issuer,
        created_at=clock.utc_now(),
    )
    session.add(key)
    if tenant_id is not None:
        audit.record(
            session,
            tenant_id=tenant_id,
            actor=issuer,
            action="api_key.issued",
            resource_type="api_key",
            resource_id=key.id,
            data={"role": role.value, "merchant_id": merchant_id},
        )
    await session.flush()
    return IssuedKey(key=key, secret=secret)


async def list_keys(session: AsyncSession, principal: Principal, page: PageRequest) -> Page[ApiKey]:
    return await ApiKeyRepository.from_session(session).list(principal, page)


async def get_key(session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
    key = await ApiKeyRepository.from_session(session).get(principal, key_id)
    if key is None:
        raise ApiKeyNotFound(f"no API key {key_id}")
    return key


async def revoke_key(session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
    key = await get_key(session, principal, key_id)
    if key.revoked_at is not None:
        raise ApiKeyAlreadyRevoked(f"API key {key_id} was revoked at {key.revoked_at.isoformat()}")
    key.revoked_at = clock.utc_now()
    if key.tenant_id is not None:
        audit.record(
            session,
            tenant_id=key.tenant_id,
            actor=principal,
            action="api_key.revoked",
            resource_type="api_key",
            resource_id=key.id,
        )
    await session.flush()
    return key


async def authenticate(session: AsyncSession, secret: str, pepper: str) -> Principal | None:
    """The principal of a presented secret, or ``None`` (unknown, revoked, or its tenant suspended)."""
    if not secret.startswith(tuple(KEY_PREFIXES.values())) or len(secret) > 200:
        return None
    return await ApiKeyRepository.from_session(session).find_active_principal(hash_secret(secret, pepper))
