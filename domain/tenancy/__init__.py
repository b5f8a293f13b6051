"""Tenancy: operators (tenants), merchants and API keys."""

from domain.tenancy.models import ApiKey, Merchant, Operator

__all__ = ["ApiKey", "Merchant", "Operator"]
