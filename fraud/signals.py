"""Signals: which reason codes fire for an order, with a detail (a count, an amount, or ``True``).

One small pure function per family, all with the same arguments: the order as sent, its normalised identity,
what history and the lists say, the external address categories, and the policy's thresholds (``Params``).
Every threshold comes from ``Params``; nothing here is tuned by constants. A code is present in the result
only if it fired. ``evaluate_signals`` runs all families; ``fraud.engine.decide`` turns the result into a verdict.

Hot path: no regex compilation, no string formatting per call; the bot check (crawlerdetect, ~60 µs per new
user agent) is cached per user-agent string.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable

from crawlerdetect import CrawlerDetect

from fraud.policy import Params, Policy
from fraud.reasons import BLOCK_CODE, NEGATIVE_CODE
from fraud.types import (
    ExternalHits,
    History,
    Identity,
    IdKind,
    LineType,
    ListHits,
    OrderSnapshot,
    Window,
)

Detail = float | int | bool
Signals = dict[str, Detail]
# (snapshot, identity, history, lists, external, params, out=None) -> out: each family adds its fired codes to
# ``out`` (a new dict when None), so evaluate_signals builds one dict for all families.
SignalFamily = Callable[..., Signals]

# External address categories (ExternalHits.categories) → reason code. Unknown categories are ignored.
EXTERNAL_CODES: dict[str, str] = {
    "hotel": "address_hotel",
    "weekly_mansion": "address_weekly_mansion",
    "vacant": "address_vacant",
    "po_box": "address_po_box",
    "forwarding": "address_forwarding",
}

_ADDRESS_1H = (IdKind.ADDRESS, Window.HOUR)
_PHONE_24H = (IdKind.PHONE, Window.DAY)
_EMAIL_24H = (IdKind.EMAIL, Window.DAY)
_DEVICE_24H = (IdKind.DEVICE, Window.DAY)
_IP_1H = (IdKind.IP, Window.HOUR)

_UA_CACHE_KEY_MAX = 1024  # bot markers sit near the start; a huge header must not cost a huge regex scan
_DETECTOR = CrawlerDetect()


@functools.lru_cache(maxsize=8192)
def is_bot_user_agent(user_agent: str) -> bool:
    """crawlerdetect's verdict, cached per user-agent string (an uncached check costs tens of µs)."""
    return _DETECTOR.is_crawler(user_agent[:_UA_CACHE_KEY_MAX])


_UA_OK, _UA_MISSING, _UA_BOT = 0, 1, 2


@functools.lru_cache(maxsize=8192)
def _user_agent_class(user_agent: str) -> int:
    if not user_agent.strip():
        return _UA_MISSING
    return _UA_BOT if is_bot_user_agent(user_agent) else _UA_OK


def warm_up() -> None:
    """Compile crawlerdetect's patterns now (~60 ms) rather than on the first screening."""
    _DETECTOR.is_crawler("Mozilla/5.0 (warm-up)")


@functools.lru_cache(maxsize=1024)
def primary_language(accept_language: str) -> str:
    """The primary subtag of the first language listed in an Accept-Language header, lower-cased ("" if none)."""
    first = accept_language.partition(",")[0].partition(";")[0].strip()
    return first.replace("_", "-").partition("-")[0].lower()


_MEMO_MAX = 4096  # per-params memo of header → verdict; headers are few, but a client must not grow it forever


def _language_mismatch(accept_language: str, params: Params) -> bool:
    memo = params.language_memo
    mismatch = memo.get(accept_language)
    if mismatch is None:
        language = primary_language(accept_language)
        mismatch = bool(language) and language != "*" and language not in params.language_set
        if len(memo) < _MEMO_MAX:
            memo[accept_language] = mismatch
    return mismatch


def _timezone_mismatch(timezone: str, params: Params) -> bool:
    memo = params.timezone_memo
    mismatch = memo.get(timezone)
    if mismatch is None:
        tz = timezone.strip().lower()
        mismatch = bool(tz) and tz not in params.timezone_set
        if len(memo) < _MEMO_MAX:
            memo[timezone] = mismatch
    return mismatch


_NAME_DROP = str.maketrans("", "", "・ \t\u3000")


def _name_text(name: str) -> str:
    """A light comparison form of a name: NFKC, case-folded, no spaces or middle dots (not the 名寄せ key)."""
    return unicodedata.normalize("NFKC", name).translate(_NAME_DROP).casefold()


def identity_signals(
    snapshot: OrderSnapshot,
    identity: Identity,
    history: History,
    lists: ListHits,
    external: ExternalHits,
    params: Params,
    out: Signals | None = None,
) -> Signals:
    """Phone, email and name on their own."""
    if out is None:
        out = {}
    phone = identity.phone
    if phone is None:
        out["phone_missing"] = True
    elif phone.e164 is None or phone.line_type is LineType.INVALID:
        out["phone_invalid"] = True
    elif phone.line_type is LineType.IP_PHONE:
        out["phone_ip_phone"] = True
    email = identity.email
    if email is not None:
        if not email.valid or email.key is None:
            out["email_invalid"] = True
        if email.disposable:
            out["email_disposable"] = True
    if not identity.name.parsed:
        out["name_unparseable"] = True
    return out


def address_signals(
    snapshot: OrderSnapshot,
    identity: Identity,
    history: History,
    lists: ListHits,
    external: ExternalHits,
    params: Params,
    out: Signals | None = None,
) -> Signals:
    """Addresses that cannot be parsed, and the delivery address's categories in external databases."""
    if out is None:
        out = {}
    shipping = identity.shipping_address
    if not identity.billing_address.parsed or (shipping is not None and not shipping.parsed):
        out["address_unparseable"] = True
    if external.categories:
        for category in external.categories:
            code = EXTERNAL_CODES.get(category)
            if code is not None:
                out[code] = True
    return out


def velocity_signals(
    snapshot: OrderSnapshot,
    identity: Identity,
    history: History,
    lists: ListHits,
    external: ExternalHits,
    params: Params,
    out: Signals | None = None,
) -> Signals:
    """Many earlier orders on one identifier within a window (detail: the count, capped at COUNT_CAP)."""
    if out is None:
        out = {}
    counts = history.counts
    if not counts:
        return out
    n = counts.get(_ADDRESS_1H, 0)
    if n >= params.velocity_address_1h:
        out["velocity_address_1h"] = n
    n = counts.get(_PHONE_24H, 0)
    if n >= params.velocity_phone_24h:
        out["velocity_phone_24h"] = n
    n = counts.get(_EMAIL_24H, 0)
    if n >= params.velocity_email_24h:
        out["velocity_email_24h"] = n
    n = counts.get(_DEVICE_24H, 0)
    if n >= params.velocity_device_24h:
        out["velocity_device_24h"] = n
    n = counts.get(_IP_1H, 0)
    if n >= params.velocity_ip_1h:
        out["velocity_ip_1h"] = n
    return out


def device_signals(
    snapshot: OrderSnapshot,
    identity: Identity,
    history: History,
    lists: ListHits,
    external: ExternalHits,
    params: Params,
    out: Signals | None = None,
) -> Signals:
    """IP country, browser language and timezone against a Japanese delivery address, the user agent, and
    devices/IPs shared by several buyers (foreign impersonation, bots, O-MOTION's 重複)."""
    if out is None:
        out = {}
    country = identity.ip_country
    if country is not None and country not in params.domestic_ip_set:
        out["overseas_ip"] = True
    address = identity.shipping_address or identity.billing_address
    if address.prefecture is not None or address.postal_code is not None:  # a Japanese delivery address
        accept_language = snapshot.accept_language
        if accept_language and _language_mismatch(accept_language, params):
            out["language_mismatch"] = True
        timezone = snapshot.timezone
        if timezone and _timezone_mismatch(timezone, params):
            out["timezone_mismatch"] = True
    user_agent = snapshot.user_agent
    ua_class = _UA_MISSING if user_agent is None else _user_agent_class(user_agent)
    if ua_class == _UA_MISSING:
        out["missing_user_agent"] = True
    elif ua_class == _UA_BOT:
        out["bot_user_agent"] = True
    n = history.identities_for_device
    if n >= params.device_shared_across_identities:
        out["device_shared_across_identities"] = n
    n = history.identities_for_ip
    if n >= params.ip_shared_across_identities:
        out["ip_shared_across_identities"] = n
    return out


def behaviour_signals(
    snapshot: OrderSnapshot,
    identity: Identity,
    history: History,
    lists: ListHits,
    external: ExternalHits,
    params: Params,
    out: Signals | None = None,
) -> Signals:
    """The shape of the order: amounts, shipping elsewhere, several names/addresses linked to one key."""
    if out is None:
        out = {}
    n = history.names_at_address
    if n >= params.many_names_at_address:
        out["many_names_at_address"] = n
    n = history.addresses_for_phone
    if n >= params.many_addresses_for_phone:
        out["many_addresses_for_phone"] = n
    amount = snapshot.amount
    if history.prior_orders == 0 and amount >= params.first_order_high_amount:
        out["first_order_high_amount"] = amount
    if amount >= params.high_amount:
        out["high_amount"] = amount
    shipping = identity.shipping_address
    if (
        shipping is not None
        and shipping.key
        and identity.billing_address.key
        and shipping.key != identity.billing_address.key
        and not history.address_known_for_buyer
    ):
        out["shipping_differs_new_address"] = True
    shipping_name = snapshot.shipping_name
    if shipping_name and shipping_name.strip():
        recipient = _name_text(shipping_name)
        if recipient != _name_text(snapshot.buyer_name) and (
            not snapshot.buyer_name_kana or recipient != _name_text(snapshot.buyer_name_kana)
        ):
            out["shipping_name_differs"] = True
    return out


def list_signals(
    snapshot: OrderSnapshot,
    identity: Identity,
    history: History,
    lists: ListHits,
    external: ExternalHits,
    params: Params,
    out: Signals | None = None,
) -> Signals:
    """The shared negative database and the tenant's block and allow lists (detail of allow_list: kinds hit)."""
    if out is None:
        out = {}
    if not (lists.negative or lists.block or lists.allow):
        return out
    for kind in lists.negative:
        out[NEGATIVE_CODE[kind]] = True
    for kind in lists.block:
        out[BLOCK_CODE[kind]] = True
    if lists.allow:
        out["allow_list"] = len(lists.allow)
    return out


FAMILIES: tuple[SignalFamily, ...] = (
    identity_signals,
    address_signals,
    velocity_signals,
    device_signals,
    behaviour_signals,
    list_signals,
)


def evaluate_signals(
    snapshot: OrderSnapshot,
    identity: Identity,
    history: History,
    lists: ListHits,
    external: ExternalHits,
    policy: Policy | Params,
) -> Signals:
    """Every code that fires for this order → its detail. Pure: the same inputs give the same result.

    ``policy``: the policy whose ``params`` hold the thresholds (or the ``Params`` themselves). Every signal is
    evaluated whether or not the policy enables its rule: the result is the order's feature record, and a
    backtest of another policy replays it through ``decide``.
    """
    params = policy.params if isinstance(policy, Policy) else policy
    out: Signals = {}
    for family in FAMILIES:
        family(snapshot, identity, history, lists, external, params, out)
    return out
