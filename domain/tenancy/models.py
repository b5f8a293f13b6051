"""Operators (tenants), their merchants, and API keys."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, ForeignKeyConstraint, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit.db import ID_LENGTH, Base, TenantOwned, Timestamped


class Operator(Timestamped, Base):
    """A BNPL operator: our tenant. Its id is the ``tenant_id`` of everything it owns.

    Small and read on every request, so on Citus it becomes a reference table (copied to every node).
    """

    __tablename__ = "operators"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | suspended


class Merchant(TenantOwned, Timestamped, Base):
    """An EC shop contracted by an operator."""

    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | suspended
    # The consumer fee (請求手数料) on each of this merchant's invoices, tax included, in minor units.
    consumer_fee: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # A sandbox merchant: documented buyer data forces OK, REVIEW or NG, and its screenings are not billed.
    test_mode: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ApiKey(Timestamped, Base):
    """A bearer key. Only an HMAC of the secret is stored; the secret is shown once at creation.

    Authentication looks keys up by hash across all tenants, so this table is not distributed by tenant
    (on Citus it stays a reference table); ``tenant_id`` is NULL only for platform keys.
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "merchant_id"], ["merchants.tenant_id", "merchants.id"]),
        CheckConstraint(
            "(role IN ('platform', 'platform_finance') AND tenant_id IS NULL AND merchant_id IS NULL)"
            " OR (role IN ('operator_admin', 'operator_finance') AND tenant_id IS NOT NULL AND merchant_id IS NULL)"
            " OR (role = 'merchant' AND tenant_id IS NOT NULL AND merchant_id IS NOT NULL)",
            name="role_binding",
        ),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), ForeignKey("operators.id"), index=True)
    merchant_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    display_prefix: Mapped[str] = mapped_column(String(40))  # e.g. "sk_admin_Xy3f…": safe to show in lists
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    revoked_at: Mapped[dt.datetime | None]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
