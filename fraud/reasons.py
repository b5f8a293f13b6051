"""The catalogue of reason codes: what each signal means, to an operator (full) and to a merchant (coarse).

A code is stable once shipped: policies, stored decisions and reports refer to it. Add codes; never rename or
reuse one. Operators see the code and its text; merchants only see the coarse ``MerchantCategory`` of the
strongest reason (DOMAIN §2), so a decline never tells a merchant which list or which shared-database entry
matched. The default weights live in ``fraud/data/default_policy.json``; ``docs/fraud.md`` documents both.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from fraud.types import IdKind


class Family(enum.StrEnum):
    """What a signal looks at (O-PLUX's feature groups)."""

    IDENTITY = "identity"  # the buyer's name, phone and email on their own
    ADDRESS = "address"  # the delivery/billing address on its own and in external databases
    VELOCITY = "velocity"  # many orders on one identifier in a short time
    DEVICE = "device"  # IP, user agent, browser language and timezone, device/IP shared by identities
    BEHAVIOUR = "behaviour"  # the shape of the order: amount, shipping elsewhere, many names at one address
    LISTS = "lists"  # the tenant's allow/block lists and the shared negative database


class MerchantCategory(enum.StrEnum):
    """The coarse reason a merchant is given. Deliberately vague: it must not help a fraudster tune an order."""

    BUYER_INFO = "buyer_info"
    DELIVERY = "delivery"
    ORDER_PATTERN = "order_pattern"
    ACCESS = "access"
    OVERALL = "overall"  # lists and the shared negative database: never say which


MERCHANT_TEXT: dict[MerchantCategory, tuple[str, str]] = {
    MerchantCategory.BUYER_INFO: ("The buyer's details could not be confirmed.", "購入者情報を確認できませんでした。"),
    MerchantCategory.DELIVERY: ("The delivery address needs confirmation.", "お届け先の確認が必要です。"),
    MerchantCategory.ORDER_PATTERN: ("The order pattern needs confirmation.", "ご注文状況の確認が必要です。"),
    MerchantCategory.ACCESS: ("The ordering environment needs confirmation.", "ご利用環境の確認が必要です。"),
    MerchantCategory.OVERALL: ("Comprehensive screening result.", "総合的な審査結果によるものです。"),
}


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    family: Family
    category: MerchantCategory
    en: str  # one line, for operators
    ja: str  # 一行、オペレーター向け

    @property
    def text(self) -> str:
        """The operator's one-line text (English)."""
        return self.en

    @property
    def merchant_code(self) -> str:
        """The coarse reason a merchant sees."""
        return self.category.value

    @property
    def merchant_text(self) -> str:
        return MERCHANT_TEXT[self.category][0]

    @property
    def merchant_text_ja(self) -> str:
        return MERCHANT_TEXT[self.category][1]


_ID_EN: dict[IdKind, str] = {
    IdKind.ADDRESS: "delivery address",
    IdKind.NAME: "buyer name",
    IdKind.PHONE: "phone number",
    IdKind.EMAIL: "email address",
    IdKind.DEVICE: "device id",
    IdKind.IP: "IP address",
}
_ID_JA: dict[IdKind, str] = {
    IdKind.ADDRESS: "配送先住所",
    IdKind.NAME: "購入者氏名",
    IdKind.PHONE: "電話番号",
    IdKind.EMAIL: "メールアドレス",
    IdKind.DEVICE: "端末ID",
    IdKind.IP: "IPアドレス",
}


def _r(code: str, family: Family, category: MerchantCategory, en: str, ja: str) -> Reason:
    return Reason(code, family, category, en, ja)


_F, _C = Family, MerchantCategory

_CATALOGUE: list[Reason] = [
    # identity
    _r("phone_missing", _F.IDENTITY, _C.BUYER_INFO, "No phone number was given.", "電話番号の指定がありません。"),
    _r("phone_invalid", _F.IDENTITY, _C.BUYER_INFO, "The phone number is not a valid number.", "電話番号が無効です。"),
    _r("phone_ip_phone", _F.IDENTITY, _C.BUYER_INFO, "The phone is an IP phone (050).", "電話番号がIP電話(050)です。"),
    _r("email_invalid", _F.IDENTITY, _C.BUYER_INFO, "The email address is not valid.", "メールアドレスが無効です。"),
    _r(
        "email_disposable",
        _F.IDENTITY,
        _C.BUYER_INFO,
        "The email address is at a disposable-mail domain.",
        "メールアドレスが使い捨てメールのドメインです。",
    ),
    _r(
        "name_unparseable",
        _F.IDENTITY,
        _C.BUYER_INFO,
        "The buyer's name could not be read.",
        "購入者氏名を解釈できません。",
    ),
    # address
    _r(
        "address_unparseable",
        _F.ADDRESS,
        _C.DELIVERY,
        "The delivery or billing address could not be parsed.",
        "配送先または請求先の住所を解釈できません。",
    ),
    _r("address_hotel", _F.ADDRESS, _C.DELIVERY, "The delivery address is a hotel.", "配送先がホテルです。"),
    _r(
        "address_weekly_mansion",
        _F.ADDRESS,
        _C.DELIVERY,
        "The delivery address is a weekly/monthly mansion (short stay).",
        "配送先がウィークリー・マンスリーマンション(短期滞在先)です。",
    ),
    _r("address_vacant", _F.ADDRESS, _C.DELIVERY, "The delivery address is a vacant room.", "配送先が空室です。"),
    _r(
        "address_po_box",
        _F.ADDRESS,
        _C.DELIVERY,
        "The delivery address is a post-office or depot hold (局留め/営業所止め).",
        "配送先が郵便局留め・営業所止めです。",
    ),
    _r(
        "address_forwarding",
        _F.ADDRESS,
        _C.DELIVERY,
        "The delivery address is a package-forwarding service.",
        "配送先が転送サービスの住所です。",
    ),
    # velocity
    _r(
        "velocity_address_1h",
        _F.VELOCITY,
        _C.ORDER_PATTERN,
        "Many orders to this delivery address in the last hour.",
        "直近1時間に同じ配送先への注文が多数あります。",
    ),
    _r(
        "velocity_phone_24h",
        _F.VELOCITY,
        _C.ORDER_PATTERN,
        "Many orders with this phone number in the last 24 hours.",
        "直近24時間に同じ電話番号での注文が多数あります。",
    ),
    _r(
        "velocity_email_24h",
        _F.VELOCITY,
        _C.ORDER_PATTERN,
        "Many orders with this email address in the last 24 hours.",
        "直近24時間に同じメールアドレスでの注文が多数あります。",
    ),
    _r(
        "velocity_device_24h",
        _F.VELOCITY,
        _C.ORDER_PATTERN,
        "Many orders from this device in the last 24 hours.",
        "直近24時間に同じ端末からの注文が多数あります。",
    ),
    _r(
        "velocity_ip_1h",
        _F.VELOCITY,
        _C.ORDER_PATTERN,
        "Many orders from this IP address in the last hour.",
        "直近1時間に同じIPアドレスからの注文が多数あります。",
    ),
    # device
    _r(
        "overseas_ip",
        _F.DEVICE,
        _C.ACCESS,
        "The order comes from an overseas IP address.",
        "海外IPアドレスからの注文です。",
    ),
    _r(
        "language_mismatch",
        _F.DEVICE,
        _C.ACCESS,
        "The browser's first language is not Japanese for a Japanese delivery address.",
        "国内の配送先に対し、ブラウザの第一言語が日本語ではありません。",
    ),
    _r(
        "timezone_mismatch",
        _F.DEVICE,
        _C.ACCESS,
        "The browser's timezone is not Japan's for a Japanese delivery address.",
        "国内の配送先に対し、ブラウザのタイムゾーンが日本時間ではありません。",
    ),
    _r(
        "bot_user_agent",
        _F.DEVICE,
        _C.ACCESS,
        "The user agent is a bot, crawler or automation tool.",
        "ユーザーエージェントがボット・自動化ツールです。",
    ),
    _r(
        "missing_user_agent",
        _F.DEVICE,
        _C.ACCESS,
        "No user agent was sent.",
        "ユーザーエージェントの指定がありません。",
    ),
    _r(
        "device_shared_across_identities",
        _F.DEVICE,
        _C.ACCESS,
        "This device was used by several other buyers (by name) in the last 7 days.",
        "直近7日間に同じ端末が複数の別の購入者(電話番号・メール)で使われています。",
    ),
    _r(
        "ip_shared_across_identities",
        _F.DEVICE,
        _C.ACCESS,
        "This IP address was used by several other buyers (by name) in the last 24 hours.",
        "直近24時間に同じIPアドレスが複数の別の購入者(電話番号・メール)で使われています。",
    ),
    # behaviour
    _r(
        "many_names_at_address",
        _F.BEHAVIOUR,
        _C.ORDER_PATTERN,
        "Several other buyer names ordered to this delivery address in the last 7 days.",
        "直近7日間に同じ配送先で複数の別の氏名による注文があります。",
    ),
    _r(
        "many_addresses_for_phone",
        _F.BEHAVIOUR,
        _C.ORDER_PATTERN,
        "This phone number was used with several other delivery addresses in the last 7 days.",
        "直近7日間に同じ電話番号で複数の別の配送先への注文があります。",
    ),
    _r(
        "first_order_high_amount",
        _F.BEHAVIOUR,
        _C.ORDER_PATTERN,
        "A first order from this buyer with a high amount.",
        "初回注文で高額です。",
    ),
    _r("high_amount", _F.BEHAVIOUR, _C.ORDER_PATTERN, "The order amount is high.", "注文金額が高額です。"),
    _r(
        "shipping_differs_new_address",
        _F.BEHAVIOUR,
        _C.DELIVERY,
        "Ships to an address other than the billing address, not used by this buyer before.",
        "請求先と異なり、この購入者が過去に使っていない配送先です。",
    ),
    _r(
        "shipping_name_differs",
        _F.BEHAVIOUR,
        _C.DELIVERY,
        "The recipient's name differs from the buyer's name.",
        "配送先の宛名が購入者氏名と異なります。",
    ),
    # lists
    *(
        _r(
            f"negative_db_hit_{kind.value}",
            _F.LISTS,
            _C.OVERALL,
            f"The {_ID_EN[kind]} matches the shared negative database (confirmed fraud at a tenant).",
            f"{_ID_JA[kind]}が共有ネガティブデータベース(不正確定情報)に該当します。",
        )
        for kind in IdKind
    ),
    *(
        _r(
            f"block_list_{kind.value}",
            _F.LISTS,
            _C.OVERALL,
            f"The {_ID_EN[kind]} is on the tenant's block list.",
            f"{_ID_JA[kind]}がブラックリストに該当します。",
        )
        for kind in IdKind
    ),
    _r(
        "allow_list",
        _F.LISTS,
        _C.OVERALL,
        "An identifier of this order is on the tenant's allow list.",
        "注文の識別子がホワイトリストに該当します。",
    ),
]

REASONS: dict[str, Reason] = {r.code: r for r in _CATALOGUE}
assert len(REASONS) == len(_CATALOGUE), "duplicate reason code"

# Per-kind codes, prebuilt so the signal functions never format strings.
NEGATIVE_CODE: dict[IdKind, str] = {kind: f"negative_db_hit_{kind.value}" for kind in IdKind}
BLOCK_CODE: dict[IdKind, str] = {kind: f"block_list_{kind.value}" for kind in IdKind}


def describe(code: str) -> Reason:
    """The catalogue entry of ``code``; ``KeyError`` naming the code if it is unknown."""
    try:
        return REASONS[code]
    except KeyError:
        raise KeyError(f"unknown reason code {code!r}") from None


def merchant_category(reasons: Iterable[str]) -> MerchantCategory | None:
    """The coarse reason shown to a merchant: the category of the strongest reason (reasons come strongest first)."""
    for code in reasons:
        return REASONS[code].category
    return None
