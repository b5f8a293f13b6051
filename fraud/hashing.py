"""Keyed hashes of normalised identifiers: how history, lists and the shared negative database match orders
without storing (or letting any tenant see) the identifiers themselves."""

from __future__ import annotations

import hashlib
import hmac

from fraud.types import IdKind


def identifier_hash(secret: str, kind: IdKind | str, key: str) -> str:
    """HMAC-SHA256 under the platform secret, 128 bits in hex. The same for every tenant, so that a negative
    database entry registered by one tenant matches another's order; tenants never see hashes."""
    return hmac.new(secret.encode(), f"{kind}:{key}".encode(), hashlib.sha256).hexdigest()[:32]


def mask(kind: IdKind | str, key: str) -> str:
    """A label people can recognise an identifier by, without showing it whole."""
    if len(key) <= 4:
        return "*" * len(key)
    if kind == IdKind.EMAIL and "@" in key:
        local, domain = key.split("@", 1)
        return f"{local[:2]}***@{domain}"
    return key[:3] + "*" * max(3, len(key) - 7) + key[-4:]
