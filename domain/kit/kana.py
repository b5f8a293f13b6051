"""Half-width kana as Zengin bank records carry names, and the key names are matched by.

Bank transfers arrive with the remitter's name in half-width katakana (振込依頼人名), capitals and a few symbols, with
small kana written large (ｷﾔﾉﾝ for キャノン) and ``-`` for the long vowel. ``match_key`` brings a buyer's kana
(full-width, hiragana, small kana, spaces) and a remitter name to one form so that they compare equal.
"""

from __future__ import annotations

import re

import jaconv

_SMALL_TO_LARGE = str.maketrans("ｧｨｩｪｫｬｭｮｯ", "ｱｲｳｴｵﾔﾕﾖﾂ")
_NOT_KEY = re.compile(r"[\s().\-ｰ･,/\u3000]")


def zengin_kana(text: str) -> str:
    """``text`` in Zengin half-width form: katakana (from hiragana too), half-width, capitals, small kana large,
    long vowels as ``-``. Characters Zengin does not allow (kanji) are left as they are for the caller to reject."""
    half = jaconv.z2h(jaconv.hira2kata(text), kana=True, ascii=True, digit=True)
    return half.upper().translate(_SMALL_TO_LARGE).replace("ｰ", "-")


def match_key(text: str | None) -> str | None:
    """The key a name is matched by: Zengin kana without spaces and symbols; ``None`` when nothing is left."""
    if not text:
        return None
    key = _NOT_KEY.sub("", zengin_kana(text))
    return key[:48] or None
