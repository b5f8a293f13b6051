"""Japanese address → matching key (dictionary-free, formatting normalisation only).

The key is what 名寄せ matches on: the same place written in different styles gives the same key, e.g.

    東京都港区赤坂4丁目3番地2号 == 東京都港区赤坂４－３－２ == 東京都港区赤坂四丁目三番二号 == 東京都港区赤坂4丁目3-2
        → key "東京都港区赤坂4-3-2"

Steps (each a precompiled regex or a ``str.translate`` table):
1. NFKC (full width → ASCII digits and letters, half-width kana → full width, compatibility ideographs), every
   dash variant → ``-`` (the long-vowel mark ``ー`` only between numbers, so building names such as センター keep it),
   variant kanji unified (髙 → 高, 﨑 → 崎, …), variation selectors dropped, whitespace runs → one space. Text
   longer than ``MAX_ADDRESS_LENGTH`` (300) is not an address: ``parsed=False``.
2. A postal code (argument, else a leading ``〒123-4567`` / ``123-4567`` / ``1234567``, else ``〒…`` anywhere) is
   taken out and normalised to 7 digits.
3. A leading prefecture (the 47, written with 都/道/府/県) is detected. **Choice:** the key keeps the prefecture
   when it is written and is built without it when it is not; no prefecture is inferred (that needs a dictionary),
   so ``港区赤坂4-3-2`` and ``東京都港区赤坂4-3-2`` have different keys. ``key_without_prefecture`` gives the
   prefecture-less form for callers that want to match across that difference.
4. ヶ/ケ/が/ガ/ヵ/个/箇 between kanji → ケ (霞ヶ関 == 霞が関 == 霞ケ関).
5. Kanji numerals → digits (``kanjize``) **only in number positions**: a run of 〇一二三…十百千 (and 壱弐参拾)
   followed by 丁目/番地/番/号/地割, by の/ノ/- and another number, by 条 + 東西南北通/number (札幌 北一条西),
   by 線 + number, or ending the string right after such a block (四丁目三番二). So 三田, 四谷, 九段, 十日町,
   一宮, 八王子, 一番町, 三ノ輪 stay. 麻布十番 stays too: a number + 番 that is followed by a 丁目 or by three
   more numbers is part of the town name. (京都 四条通 and 十条 + a direction do become 4条通 / 10条: consistent
   both ways, so harmless for matching.)
6. 丁目/番地/番/号/の between numbers → ``-``; a trailing 号 or 番地 is dropped; a space between two numbers is a
   separator (``4-3-2 501`` = ``4-3-2-501``) unless the second number is a floor or room (``2F``, ``501号室``).
7. The street number is the first ``N(-N)*`` run (not one followed by 条/線/地割 or a floor mark). Its first three
   components are the street number (丁目-番-号); further components are the room (``4-3-2-501`` → building ``501``).
   What follows is the building: spaces removed, ``N階`` → ``NF``, ``号室``/``室``/``#``/``No.`` dropped.
8. The part before the street number has spaces, 大字/字 and punctuation removed and の/ノ between kanji unified to ノ.

``parsed=False`` (key ``""``) when there is no street number or no place before it: not an error, a signal
(including the "番地 omitted on purpose" pattern).

Known limits (documented, not bugs): no dictionary, so county (郡) or city omission, 四ツ谷 vs 四谷, and 紀尾井町
"1丁目3番地" vs "1番3号" are not reconciled; in three-component numbers the third is always taken as the 号, so a
``1234-5-101`` (番地-枝番-room) keeps 101 in the key.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import kanjize

from fraud.normalize.data.prefectures import PREFECTURES
from fraud.normalize.data.variants import VARIANT_TABLE
from fraud.types import NormalizedAddress

__all__ = ["key_without_prefecture", "normalize_address"]

_NFKC = unicodedata.normalize

# Dash variants left after NFKC (which already folds － ﹣ ‑ ⁻ ₋ ｰ into -, ‐, −, ー). ー is handled separately.
_DASHES = "‐‑‒–—―−∸⁃﹣－⁻₋─━⎯⏤﹘"
_TABLE: dict[int, str | None] = {**VARIANT_TABLE, **{ord(c): "-" for c in _DASHES}}
# Longer than this is not an address (real ones, building and room included, stay well under 150 characters); the
# cap also bounds the regex work on hostile input. Whitespace runs are collapsed to one space before anything else,
# so the patterns below use " ?" and never two adjacent unbounded repeats.
MAX_ADDRESS_LENGTH = 300

# Most addresses need no translation: a character-class search (ranges, not 300 single characters) is far cheaper.
_NEEDS_TABLE = re.compile(
    "["
    + re.escape("".join(chr(c) for c in _TABLE if not (0xFE00 <= c <= 0xFE0F or 0xE0100 <= c <= 0xE01EF)))
    + "\ufe00-\ufe0f\U000e0100-\U000e01ef]"
)

_KNUM = "〇零一二三四五六七八九十百千万壱弐参拾"
_KNUM_ANY = re.compile(f"[{_KNUM}]")
_KANJI = r"\u3400-\u9fff\uf900-\ufaff々〇"
_N = f"0-9{_KNUM}"  # a digit of either kind

_LONG_VOWEL = re.compile(f"(?<=[{_N}])ー(?=[{_N}])")

_POSTAL_LEAD = re.compile(r"^(?:〒|郵便番号|郵便)? ?:? ?([0-9]{3}) ?-? ?([0-9]{4})(?![0-9])")
_POSTAL_ANY = re.compile(r"〒 ?([0-9]{3}) ?-? ?([0-9]{4})(?![0-9])")
_POSTAL_ARG_DROP = re.compile(r"[^0-9]")

_PREFECTURE = re.compile(r"^ ?(?:日本国? ?)?(" + "|".join(PREFECTURES) + ")")

_KE_CHARS = "ヶケがガヵ个箇"
_KE_ANY = re.compile(f"[{_KE_CHARS}]")
_KE = re.compile(f"(?<=[{_KANJI}])[{_KE_CHARS}](?=[{_KANJI}])")

_NUMRUN = rf" ?[{_N}]+"
# A kanji numeral run in a number position (see step 5 of the module docstring).
_KNUM_BEFORE_MARK = re.compile(
    rf"[{_KNUM}]+(?= ?(?:"
    rf"丁目|番地|地割|号"
    rf"|番(?![町丁街館])(?!{_NUMRUN} ?丁目)(?!{_NUMRUN} ?-{_NUMRUN} ?-{_NUMRUN})"
    rf"|[のノ-] ?[{_N}]"
    rf"|条 ?(?:[東西南北通]|[{_N}])"
    rf"|線 ?(?:[東西南北号]|[{_N}])"
    rf"))"
)
# A kanji numeral run ending a block: after "<digit><marker>", before the end, a space or a non-kanji.
_KNUM_AFTER_MARK = re.compile(rf"(?<=[0-9])( ?(?:丁目|番地|番|号|[のノ-]) ?)([{_KNUM}]+)(?![{_KANJI}])")

# Separators after a number (丁目/番地/番/号, の/ノ before a number, hyphens, and the spaces around them) → one "-".
_SEP = re.compile(r"(?<=[0-9])(?: ?(?:丁目|番地|番(?![町丁街館])|号(?![室棟館])|-|[のノ](?= ?[0-9])))+ ?")
_SEP_ANY = re.compile("[丁番号のノ-]")
_SPACE_BETWEEN_NUMBERS = re.compile(r"(?<=[0-9]) (?=[0-9]+(?:[- ]|$))")
_BLOCK = re.compile(r"(?<![0-9])[0-9]+(?:-[0-9]+)*(?![0-9]|[条線]|地割|[fF階室]|号室)")

_LOCALITY_DROP = re.compile(r"大字|字|[,、，。.・-]")
_LOCALITY_DROP_ANY = re.compile("[字,、，。.・-]")
_NO_BETWEEN_KANJI = re.compile(f"(?<=[{_KANJI}])[のノ](?=[{_KANJI}])")

_FLOOR = re.compile(r"([0-9]+)階")
_ROOM_SUFFIX = re.compile(r"(?<=[0-9])(?:号室|室|号(?![棟館]))")
_ROOM_PREFIX = re.compile(r"#|NO\.?(?=[0-9])|ROOM(?=[0-9])")
_BUILDING_HYPHEN = re.compile(r"(?<![0-9])-|-(?![0-9])")
_PUNCT = ",、，。.・"


@lru_cache(maxsize=4096)
def _kanji_to_int(run: str) -> str:
    try:
        return str(kanjize.kanji2number(run))
    except ValueError:
        return run  # not a well-formed number (e.g. 十十): leave it


def _convert_before(m: re.Match[str]) -> str:
    return _kanji_to_int(m.group(0))


def _convert_after(m: re.Match[str]) -> str:
    return m.group(1) + _kanji_to_int(m.group(2))


def _postal_from_arg(postal_code: str | None) -> str | None:
    if not postal_code:
        return None
    digits = _POSTAL_ARG_DROP.sub("", _NFKC("NFKC", postal_code))
    return digits if len(digits) == 7 else None


def _clean_building(text: str) -> str:
    b = "".join(text.split()).upper()
    if not b:
        return b
    if "階" in b:
        b = _FLOOR.sub(r"\1F", b)
    if "#" in b or "NO" in b or "ROOM" in b:
        b = _ROOM_PREFIX.sub("", b)
    if "号" in b or "室" in b:
        b = _ROOM_SUFFIX.sub("", b)
    if "-" in b:
        b = _BUILDING_HYPHEN.sub("", b)
    if b and (b[0] in _PUNCT or b[-1] in _PUNCT):
        b = b.strip(_PUNCT)
    return b


@lru_cache(maxsize=65536)
def normalize_address(text: str, postal_code: str | None = None) -> NormalizedAddress:
    """Normalise a Japanese address into a matching key, the building/room, the postal code and the prefecture."""
    postal = _postal_from_arg(postal_code)
    s = _NFKC("NFKC", text or "")
    if _NEEDS_TABLE.search(s) is not None:
        s = s.translate(_TABLE)
    s = " ".join(s.split())
    if len(s) > MAX_ADDRESS_LENGTH:
        return NormalizedAddress(key="", building="", postal_code=postal, prefecture=None, parsed=False)
    if "ー" in s:
        s = _LONG_VOWEL.sub("-", s)

    m = _POSTAL_LEAD.match(s) or (_POSTAL_ANY.search(s) if "〒" in s else None)
    if m is not None:
        if postal is None:
            postal = m.group(1) + m.group(2)
        s = " ".join((s[: m.start()] + " " + s[m.end() :]).split())

    prefecture: str | None = None
    m = _PREFECTURE.match(s)
    if m is not None:
        prefecture = m.group(1)
        s = s[m.end() :]

    if _KE_ANY.search(s) is not None:
        s = _KE.sub("ケ", s)
    if _KNUM_ANY.search(s) is not None:
        s = _KNUM_BEFORE_MARK.sub(_convert_before, s)
        s = _KNUM_AFTER_MARK.sub(_convert_after, s)
    if _SEP_ANY.search(s) is not None:
        s = _SEP.sub("-", s)
    if " " in s:
        s = _SPACE_BETWEEN_NUMBERS.sub("-", s)

    m = _BLOCK.search(s)
    locality = ""
    if m is not None:
        locality = "".join(s[: m.start()].split())
        if _LOCALITY_DROP_ANY.search(locality) is not None:
            locality = _LOCALITY_DROP.sub("", locality)
        if "の" in locality or "ノ" in locality:
            locality = _NO_BETWEEN_KANJI.sub("ノ", locality)
    if m is None or not locality:
        return NormalizedAddress(key="", building="", postal_code=postal, prefecture=prefecture, parsed=False)

    parts = m.group(0).split("-")
    rest = s[m.end() :]
    if len(parts) > 3:
        rest = "-".join(parts[3:]) + "-" + rest
        parts = parts[:3]
    key = (prefecture or "") + locality + "-".join(parts)
    return NormalizedAddress(
        key=key, building=_clean_building(rest), postal_code=postal, prefecture=prefecture, parsed=True
    )


def key_without_prefecture(address: NormalizedAddress) -> str:
    """The key with its prefecture removed: matches an address written with and without the prefecture."""
    if address.prefecture and address.key.startswith(address.prefecture):
        return address.key[len(address.prefecture) :]
    return address.key
