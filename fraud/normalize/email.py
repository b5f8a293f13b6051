"""E-mail address → canonical mailbox (the matching key), domain, disposable flag, validity.

- NFKC (full-width → ASCII), strip, lower-case (local part too: no provider a buyer uses is case-sensitive).
- ``user+tag@`` → ``user@`` for every domain.
- gmail.com / googlemail.com: dots in the local part are ignored by Google, so they are removed, and the domain is
  canonicalised to gmail.com.
- Validity is syntax only (offline): at most 254 characters, one ``@``, a non-empty local part without spaces or
  RFC specials, a domain of dot-separated labels with a TLD. The old docomo / ezweb local parts with consecutive
  or trailing dots are accepted on purpose (a Japanese carrier quirk). An invalid address has ``key=None``.
- Disposable: the ``disposable_email_domains`` blocklist, matched on the domain and each parent domain
  (``x.mailinator.com`` is disposable because ``mailinator.com`` is).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from disposable_email_domains import blocklist

from fraud.types import NormalizedEmail

__all__ = ["normalize_email"]

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit; also bounds the regex work on hostile input
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
_LOCAL = re.compile(r'[^\s@<>()\[\]\\,;:"]+')
_DOMAIN = re.compile(r"(?:[^\W_](?:(?:[^\W_]|-)*[^\W_])?\.)+(?:[^\W\d_]{2,}|xn--[a-z0-9-]+)")


def _is_disposable(domain: str) -> bool:
    parts = domain.split(".")
    return any(".".join(parts[i:]) in blocklist for i in range(len(parts) - 1))


@lru_cache(maxsize=65536)
def normalize_email(text: str | None) -> NormalizedEmail | None:
    """Canonical mailbox of an e-mail address; ``None`` for no address."""
    if text is None:
        return None
    s = unicodedata.normalize("NFKC", text).strip().lower()
    if not s:
        return None
    if len(s) > MAX_EMAIL_LENGTH:
        return NormalizedEmail(key=None, domain=None, disposable=False, valid=False)
    local, at, domain = s.rpartition("@")
    domain = domain.rstrip(".")
    valid = bool(at) and _LOCAL.fullmatch(local) is not None and _DOMAIN.fullmatch(domain) is not None
    if not domain:
        return NormalizedEmail(key=None, domain=None, disposable=False, valid=False)
    domain = _DOTLESS_DOMAINS.get(domain, domain)
    disposable = _is_disposable(domain)
    if not valid:
        return NormalizedEmail(key=None, domain=domain if at else None, disposable=disposable and bool(at), valid=False)
    base = local.split("+", 1)[0] or local
    if domain in _DOTLESS_DOMAINS:
        base = base.replace(".", "") or base
    return NormalizedEmail(key=f"{base}@{domain}", domain=domain, disposable=disposable, valid=True)
