"""Builders for engine tests: a clean order and its identity, built directly from ``fraud.types`` (no normaliser).

Every builder returns a clean, returning-buyer-free default that fires no signal; pass keyword overrides.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fraud.types import (
    ExternalHits,
    History,
    Identity,
    IdKind,
    LineType,
    ListHits,
    NormalizedAddress,
    NormalizedEmail,
    NormalizedName,
    NormalizedPhone,
    OrderSnapshot,
    Window,
)

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
HOME = "東京都港区赤坂4-3-2"
ELSEWHERE = "大阪府大阪市北区梅田1-1-1"


def address(key: str = HOME, **overrides: Any) -> NormalizedAddress:
    base = NormalizedAddress(key=key, building="", postal_code="1070052", prefecture="東京都", parsed=True)
    return dataclasses.replace(base, **overrides)


def foreign_address() -> NormalizedAddress:
    return NormalizedAddress(key="", building="", postal_code=None, prefecture=None, parsed=False)


def phone(**overrides: Any) -> NormalizedPhone:
    return dataclasses.replace(
        NormalizedPhone(e164="+819012345678", line_type=LineType.MOBILE, country="JP"), **overrides
    )


def email(**overrides: Any) -> NormalizedEmail:
    base = NormalizedEmail(key="taro@example.jp", domain="example.jp", disposable=False, valid=True)
    return dataclasses.replace(base, **overrides)


def identity(**overrides: Any) -> Identity:
    base = Identity(
        name=NormalizedName(key="ヤマダタロウ", parsed=True),
        billing_address=address(),
        shipping_address=None,
        phone=phone(),
        email=email(),
        ip_country="JP",
        device_id="dev-1",
        ip="203.0.113.7",
    )
    return dataclasses.replace(base, **overrides)


def snapshot(**overrides: Any) -> OrderSnapshot:
    base = OrderSnapshot(
        amount=5_000,
        currency="JPY",
        buyer_name="山田 太郎",
        buyer_name_kana="ヤマダ タロウ",
        email="taro@example.jp",
        phone="090-1234-5678",
        billing_postal_code="107-0052",
        billing_address="東京都港区赤坂4丁目3番地2号",
        ip="203.0.113.7",
        user_agent=CHROME_UA,
        accept_language="ja-JP,ja;q=0.9,en-US;q=0.8",
        timezone="Asia/Tokyo",
        device_id="dev-1",
    )
    return dataclasses.replace(base, **overrides)


def history(counts: dict[tuple[IdKind, Window], int] | None = None, **overrides: Any) -> History:
    return History(counts=dict(counts or {}), **overrides)


def lists(
    allow: set[IdKind] | None = None, block: set[IdKind] | None = None, negative: set[IdKind] | None = None
) -> ListHits:
    return ListHits(allow=frozenset(allow or ()), block=frozenset(block or ()), negative=frozenset(negative or ()))


def external(*categories: str) -> ExternalHits:
    return ExternalHits(categories=frozenset(categories))
