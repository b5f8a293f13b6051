"""Buyer name → matching key: katakana from the reading when there is one, else the name itself.

- With ``kana`` (フリガナ): NFKC (half-width ｶﾞ → ガ, full-width letters → ASCII), hiragana → katakana
  (``jaconv.hira2kata``), spaces and middle dots removed, small kana kept (ァ ≠ ア), ASCII letters upper-cased.
- Without it: the same on the name, and a trailing honorific 様 removed.
- Both: variant kanji unified (髙 → 高, 﨑 → 崎, 邊 → 辺, … see ``data/variants.py``; a reading that holds kanji by
  mistake gets the same treatment), variation selectors dropped, ``=``/``゠`` of foreign names removed.

The two kinds of key do not meet (山田太郎 vs ヤマダタロウ): reading kanji needs a dictionary. Callers that have the
reading for some orders and not others see two keys for one person.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import jaconv

from fraud.normalize.data.variants import VARIANT_TABLE
from fraud.types import NormalizedName

__all__ = ["normalize_name"]

_NFKC = unicodedata.normalize

# Spaces (NFKC already turns U+3000 and U+00A0 into " ") and middle dots (・ U+30FB; NFKC folds ･ into it).
# The = / ゠ of foreign names written in katakana (ジョン＝スミス) is a separator too.
_DROP = " \t\n\r\x0b\x0c・·‧•=゠"
_TABLE: dict[int, str | None] = {**VARIANT_TABLE, **{ord(c): None for c in _DROP}}


def _key(text: str) -> str:
    return jaconv.hira2kata(_NFKC("NFKC", text).translate(_TABLE)).upper()


@lru_cache(maxsize=65536)
def normalize_name(name: str, kana: str | None = None) -> NormalizedName:
    """Normalise a buyer name (and its reading) into the name matching key."""
    if kana:
        key = _key(kana)
        if key:
            return NormalizedName(key=key, parsed=True)
    key = _key(name or "")
    if len(key) > 1 and key.endswith("様"):
        key = key[:-1]
    return NormalizedName(key=key, parsed=bool(key))
