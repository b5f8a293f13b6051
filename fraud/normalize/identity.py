"""An order snapshot → its normalised identity (名寄せ), and IP → country.

``build_identity`` is a pure function of the snapshot; every per-value normaliser it calls is cached
(``functools.lru_cache``), so repeated buyers, addresses and IPs cost a dictionary lookup.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import iptocc

from fraud.normalize.address import normalize_address
from fraud.normalize.email import normalize_email
from fraud.normalize.name import normalize_name
from fraud.normalize.phone import normalize_phone
from fraud.types import Identity, OrderSnapshot

__all__ = ["build_identity", "canonical_ip", "ip_country"]


@lru_cache(maxsize=65536)
def _ip(text: str) -> tuple[str | None, str | None]:
    """(canonical text, country) of an IP address; (None, None) when it is not one."""
    text = text.strip()
    country = iptocc.country_code(text)
    if country is not None and ":" not in text:
        # Fast path (~0.2 µs instead of ~6): iptocc parses IPv4 strictly (four decimal octets, no leading zeros),
        # so the text is already canonical, and it only knows delegated, i.e. public, address space.
        return text, country
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None, None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:203.0.113.9 is the IPv4 client seen through a dual-stack socket
    canonical = str(addr)
    if not addr.is_global:
        return canonical, None  # private, loopback, link-local, CGNAT, documentation, …: no country
    return canonical, iptocc.country_code(canonical)


def canonical_ip(ip: str | None) -> str | None:
    """The IP address in canonical form (IPv6 compressed and lower-case, IPv4-mapped → IPv4); None if not an IP."""
    return _ip(ip)[0] if ip else None


def ip_country(ip: str | None) -> str | None:
    """ISO 3166-1 alpha-2 country of a public IP address (offline, ``iptocc``); None for private/invalid/unknown."""
    return _ip(ip)[1] if ip else None


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def build_identity(snapshot: OrderSnapshot) -> Identity:
    """Normalise everything 名寄せ matches on.

    - The name key comes from ``buyer_name_kana`` when present, else ``buyer_name``.
    - ``shipping_address`` None or blank means "ships to the billing address" (``Identity.shipping_address`` None).
    - ``ip`` is canonicalised when it parses as an IP address and kept as sent (stripped) otherwise, so that it
      still works as an identifier; its country is None then.
    """
    shipping_text = _blank_to_none(snapshot.shipping_address)
    raw_ip = _blank_to_none(snapshot.ip)
    ip, country = _ip(raw_ip) if raw_ip else (None, None)
    return Identity(
        name=normalize_name(snapshot.buyer_name, snapshot.buyer_name_kana),
        billing_address=normalize_address(snapshot.billing_address, snapshot.billing_postal_code),
        shipping_address=(
            normalize_address(shipping_text, snapshot.shipping_postal_code) if shipping_text is not None else None
        ),
        phone=normalize_phone(snapshot.phone),
        email=normalize_email(snapshot.email),
        ip_country=country,
        device_id=_blank_to_none(snapshot.device_id),
        ip=ip or raw_ip,
    )
