"""Webhook signatures (Stripe's scheme): ``Bnpl-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The signed payload is ``f"{t}.{body}"``: the timestamp binds the signature to the moment of sending, so a captured
request cannot be replayed after the tolerance (5 minutes) has passed. The HMAC key is the endpoint's secret
string exactly as shown to the merchant (``whsec_…``, prefix included).

This module is the merchant's side too: it needs nothing but the standard library, and ``docs/webhooks.md``
shows it in use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

SIGNATURE_HEADER = "Bnpl-Signature"
EVENT_ID_HEADER = "Bnpl-Event-Id"
EVENT_TYPE_HEADER = "Bnpl-Event-Type"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SCHEME = "v1"
DEFAULT_TOLERANCE = 300  # seconds, either way


class SignatureError(ValueError):
    """The request is not signed by the endpoint's secret, or was signed too long ago (or too far ahead)."""


def endpoint_secret(secret_key: str, endpoint_id: str, secret_version: int) -> str:
    """The signing secret of an endpoint at ``secret_version``, derived from ``BNPL_SECRET_KEY`` (never stored).

    Rotating bumps the version, which changes the secret; changing ``BNPL_SECRET_KEY`` changes every secret.
    """
    mac = hmac.new(secret_key.encode(), f"webhook:{endpoint_id}:{secret_version}".encode(), hashlib.sha256)
    return SECRET_PREFIX + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes | str) -> str:
    """The ``Bnpl-Signature`` header value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    return f"t={int(timestamp)},{SCHEME}={_mac(secret, int(timestamp), _as_bytes(body))}"


def verify(
    secret: str,
    header: str | None,
    body: bytes | str,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> int:
    """Check a received ``Bnpl-Signature`` header against the raw request body; return its timestamp.

    Args:
        secret: the endpoint's signing secret (``whsec_…``).
        header: the ``Bnpl-Signature`` header as received.
        body: the raw request body, byte for byte (not re-serialised JSON).
        now: the current Unix time (default ``time.time()``).
        tolerance: how many seconds the timestamp may differ from ``now``.

    Raises:
        SignatureError: the header is missing or malformed, no ``v1`` signature matches, or the timestamp is
            outside the tolerance.
    """
    if not header:
        raise SignatureError("no signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("malformed timestamp") from None
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("the header needs t=… and v1=…")
    expected = _mac(secret, timestamp, _as_bytes(body))
    # Compare with every v1 (there may be several) in constant time.
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("no signature matches the body")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("the timestamp is outside the tolerance")
    return timestamp
