"""名寄せ normalisation: Japanese addresses, names, phones, e-mails and IPs → matching keys.

Pure functions of their input, offline, cached (``functools.lru_cache``). ``build_identity`` turns an
``OrderSnapshot`` into the ``Identity`` the engine matches on.
"""

from fraud.normalize.address import key_without_prefecture, normalize_address
from fraud.normalize.email import normalize_email
from fraud.normalize.identity import build_identity, canonical_ip, ip_country
from fraud.normalize.name import normalize_name
from fraud.normalize.phone import normalize_phone

__all__ = [
    "build_identity",
    "canonical_ip",
    "ip_country",
    "key_without_prefecture",
    "normalize_address",
    "normalize_email",
    "normalize_name",
    "normalize_phone",
]
