"""The engine's vocabulary: what is screened, what normalisation produces, what history and lists say, the verdict.

Everything here is plain data (frozen dataclasses): the engine (``fraud.engine``) is a pure function of these,
so it runs from memory in benchmarks and backtests exactly as it runs in a request.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field


class IdKind(enum.StrEnum):
    """Kinds of identifier an order is matched on (名寄せ keys), in history, lists and the negative database."""

    ADDRESS = "address"  # the shipping address (building and room excluded), else the billing address
    NAME = "name"  # the buyer's name in katakana without spaces
    PHONE = "phone"  # E.164
    EMAIL = "email"  # canonical mailbox
    DEVICE = "device"  # the merchant's cookie / device id
    IP = "ip"


class Window(enum.StrEnum):
    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"


WINDOWS: dict[Window, dt.timedelta] = {
    Window.HOUR: dt.timedelta(hours=1),
    Window.DAY: dt.timedelta(hours=24),
    Window.WEEK: dt.timedelta(days=7),
}

# Counts are capped: a hot key (a forwarding warehouse) must cost the same as a cold one. "≥ CAP" is enough to decide.
COUNT_CAP = 50


class Verdict(enum.StrEnum):
    OK = "OK"
    REVIEW = "REVIEW"
    NG = "NG"


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """The order as the merchant sent it (schema-validated, not yet normalised)."""

    amount: int  # minor units, tax included
    currency: str
    buyer_name: str
    buyer_name_kana: str | None = None
    email: str | None = None
    phone: str | None = None
    billing_postal_code: str | None = None
    billing_address: str = ""
    shipping_name: str | None = None
    shipping_postal_code: str | None = None
    shipping_address: str | None = None  # None: ship to the billing address
    ip: str | None = None
    user_agent: str | None = None
    accept_language: str | None = None
    timezone: str | None = None  # IANA name ("Asia/Tokyo") or UTC offset in minutes as text ("540")
    device_id: str | None = None
    ordered_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class NormalizedAddress:
    key: str  # canonical address without building/room: the matching key ("" if unparseable)
    building: str  # building name and room, normalised ("" if none)
    postal_code: str | None  # 7 digits
    prefecture: str | None
    parsed: bool  # False: could not be made sense of (a signal, not an error)


@dataclass(frozen=True, slots=True)
class NormalizedName:
    key: str  # katakana, full width, no spaces, variant kanji unified ("" if empty)
    parsed: bool


class LineType(enum.StrEnum):
    MOBILE = "mobile"
    FIXED = "fixed"
    IP_PHONE = "ip_phone"  # 050
    TOLL_FREE = "toll_free"
    OTHER = "other"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class NormalizedPhone:
    e164: str | None  # None when invalid
    line_type: LineType
    country: str | None  # region code of the number ("JP")


@dataclass(frozen=True, slots=True)
class NormalizedEmail:
    key: str | None  # canonical mailbox, None when invalid
    domain: str | None
    disposable: bool
    valid: bool


@dataclass(frozen=True, slots=True)
class Identity:
    """The normalised identity of an order: what 名寄せ makes of the snapshot."""

    name: NormalizedName
    billing_address: NormalizedAddress
    shipping_address: NormalizedAddress | None  # None: ships to the billing address
    phone: NormalizedPhone | None
    email: NormalizedEmail | None
    ip_country: str | None  # ISO 3166-1 alpha-2, None when unknown or no IP
    device_id: str | None
    ip: str | None

    @property
    def delivery_address(self) -> NormalizedAddress:
        return self.shipping_address or self.billing_address

    def keys(self) -> dict[IdKind, str]:
        """The matching keys of this order (only those present)."""
        out: dict[IdKind, str] = {}
        if self.delivery_address.key:
            out[IdKind.ADDRESS] = self.delivery_address.key
        if self.name.key:
            out[IdKind.NAME] = self.name.key
        if self.phone is not None and self.phone.e164:
            out[IdKind.PHONE] = self.phone.e164
        if self.email is not None and self.email.key:
            out[IdKind.EMAIL] = self.email.key
        if self.device_id:
            out[IdKind.DEVICE] = self.device_id
        if self.ip:
            out[IdKind.IP] = self.ip
        return out


@dataclass(frozen=True, slots=True)
class History:
    """What the tenant's past screenings say about this order's identifiers (capped at ``COUNT_CAP``).

    ``counts[(kind, window)]`` is the number of earlier screenings sharing that identifier within the window.
    """

    counts: dict[tuple[IdKind, Window], int] = field(default_factory=dict)
    names_at_address: int = 0  # distinct other buyer names seen at the delivery address (7 d)
    addresses_for_phone: int = 0  # distinct other delivery addresses seen with the phone (7 d)
    identities_for_device: int = 0  # distinct other buyer names seen with the device id (7 d)
    identities_for_ip: int = 0  # distinct other buyer names seen from the IP (24 h)
    prior_orders: int = 0  # earlier screenings of this buyer (same phone or email), any time, capped
    address_known_for_buyer: bool = False  # the buyer has shipped to this delivery address before

    def count(self, kind: IdKind, window: Window) -> int:
        return self.counts.get((kind, window), 0)


@dataclass(frozen=True, slots=True)
class ListHits:
    """Which identifier kinds of this order are on the tenant's lists or in the shared negative database."""

    allow: frozenset[IdKind] = frozenset()
    block: frozenset[IdKind] = frozenset()
    negative: frozenset[IdKind] = frozenset()  # shared negative database: kinds only, never whose


@dataclass(frozen=True, slots=True)
class ExternalHits:
    """Categories of the delivery address in external databases (hotel, weekly_mansion, vacant, po_box,
    forwarding)."""

    categories: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    score: int
    reasons: tuple[str, ...]  # reason codes that fired, strongest first
