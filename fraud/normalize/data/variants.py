"""Variant kanji (異体字 / 旧字体) unified for matching keys, applied after NFKC.

NFKC already folds the CJK compatibility ideographs that have a canonical decomposition (e.g. U+FA10 塚), but
not the "unified" ones (U+FA11 﨑) nor ordinary code points such as 髙 or 邊, which are what people type in names
and addresses. Each entry maps a variant to the form most people write; both spellings are read the same, so
unifying them can only merge spellings of one name, never two different readings.
"""

KANJI_VARIANTS: dict[str, str] = {
    "髙": "高",  # はしごだか
    "﨑": "崎",  # U+FA11 たつさき
    "嵜": "崎",
    "碕": "崎",
    "邊": "辺",
    "邉": "辺",
    "齋": "斎",
    "齊": "斎",
    "濱": "浜",
    "濵": "浜",
    "澤": "沢",
    "廣": "広",
    "櫻": "桜",
    "國": "国",
    "德": "徳",
    "眞": "真",
    "惠": "恵",
    "藏": "蔵",
    "冨": "富",
    "曻": "昇",
    "嶋": "島",
    "嶌": "島",
    "𠮷": "吉",  # U+20BB7 つちよし
    "栁": "柳",
    "槗": "橋",
    "條": "条",
    "曾": "曽",
    "黑": "黒",
    "實": "実",
    "壽": "寿",
    "澁": "渋",
    "龜": "亀",
    "舘": "館",
    "淵": "渕",
    "藪": "薮",
}

# Variation selectors (IVS / SVS) carry glyph choices, not identity: dropped.
VARIATION_SELECTORS: tuple[str, ...] = tuple(chr(c) for c in range(0xFE00, 0xFE10)) + tuple(
    chr(c) for c in range(0xE0100, 0xE01F0)
)

# One str.translate table: variant → standard form, variation selectors → deleted.
VARIANT_TABLE: dict[int, str | None] = {
    **{ord(k): v for k, v in KANJI_VARIANTS.items()},
    **{ord(c): None for c in VARIATION_SELECTORS},
}
