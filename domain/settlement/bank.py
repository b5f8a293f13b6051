"""Bank accounts as Zengin files carry them: bank and branch codes checked against the banks' master data
(``zengin-code``), names in the half-width kana the 全銀協 character set allows.

Allowed in account holder names (口座名・受取人名・依頼人名; reference/zengin_layouts.md §0): digits, ``A–Z``,
half-width katakana except ``ｦ`` and the small kana, ``ﾞ`` ``ﾟ``, space, and ``( ) - .``. ``ｰ`` is not allowed
(write ``-``); small kana are written large; kanji are never transliterated. A name that breaks a rule is refused
with the form that would pass (never converted silently: the name must match the bank's records), and a name
too long is refused, never truncated.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from domain.kit.kana import zengin_kana

_HOLDER = re.compile(r"[0-9A-Zｱ-ﾝﾞﾟ ().\-]*")  # ｱ (0xFF71) … ﾝ (0xFF9D) excludes ｦ (0xFF66) and ｧ–ｯ (0xFF67–0xFF6F)
_BANK_NAME = re.compile(r"[0-9A-Zｱ-ﾝﾞﾟ \-]*")
ACCOUNT_TYPES = {"1": "普通", "2": "当座", "4": "貯蓄", "9": "その他"}


class InvalidZenginName(ValueError):
    """A name Zengin files cannot carry; ``str()`` says which characters and why."""


@dataclass(frozen=True, slots=True)
class BankBranch:
    bank_code: str
    branch_code: str
    bank_kana: str  # half-width, at most 15 bytes, never cut between a kana and its voiced mark
    branch_kana: str


def zengin_name(text: str, *, max_bytes: int, what: str = "name") -> str:
    """``text`` if Zengin files can carry it as it is, else :class:`InvalidZenginName` naming the characters
    refused and, when there is one, the form that would be accepted (``ｼｮｳｼﾞ`` → ``ｼﾖｳｼﾞ``, ``ｰ`` → ``-``,
    full-width → half-width). Nothing is converted silently: the name is what goes to the bank."""
    bad = sorted({ch for ch in text if not _HOLDER.fullmatch(ch)})
    if bad:
        suggestion = zengin_kana(text)
        hint = (
            f"; did you mean {suggestion!r}?" if _HOLDER.fullmatch(suggestion) else " (kanji need their kana reading)"
        )
        raise InvalidZenginName(
            f"{what} {text!r} has characters Zengin files do not allow: {' '.join(repr(c) for c in bad)}{hint}"
            " Allowed: half-width kana without ｦ and small kana, ﾞ ﾟ, A-Z, 0-9, space, ( ) - ."
        )
    if not text.strip():
        raise InvalidZenginName(f"{what} is empty")
    size = len(text.encode("cp932"))
    if size > max_bytes:
        raise InvalidZenginName(f"{what} {text!r} is {size} bytes in a Zengin file, at most {max_bytes}")
    return text


@functools.cache
def _banks() -> dict[str, object]:
    import zengin_code  # the master data: loaded once, on first use

    return dict(zengin_code.Bank.all)


def bank_branch(bank_code: str, branch_code: str) -> BankBranch:
    """The bank and branch of these codes, with their names for a Zengin file. Raises ``LookupError`` naming
    which code is unknown."""
    if not re.fullmatch(r"[0-9]{4}", bank_code or ""):
        raise LookupError(f"bank code {bank_code!r}: 4 digits")
    if not re.fullmatch(r"[0-9]{3}", branch_code or ""):
        raise LookupError(f"branch code {branch_code!r}: 3 digits")
    bank = _banks().get(bank_code)
    if bank is None:
        raise LookupError(f"bank code {bank_code}: no such bank")
    branch = bank.branches.get(branch_code)  # type: ignore[attr-defined]
    if branch is None:
        raise LookupError(f"branch code {branch_code}: no such branch of bank {bank_code}")
    return BankBranch(bank_code, branch_code, fit(bank.kana, 15), fit(branch.kana, 15))  # type: ignore[attr-defined]


def fit(kana: str, max_bytes: int) -> str:
    """A bank or branch name in Zengin form cut to ``max_bytes`` without separating a kana from its voiced mark
    (those fields are informative: banks route by code). Characters a bank name may not carry are dropped."""
    name = "".join(ch for ch in zengin_kana(kana) if _BANK_NAME.fullmatch(ch))
    out = ""
    for ch in name:
        if len((out + ch).encode("cp932")) > max_bytes:
            break
        out += ch
    if out and out[-1] not in "ﾞﾟ" and len(out) < len(name) and name[len(out)] in "ﾞﾟ":
        out = out[:-1]  # the next character is this one's voiced mark: keep them together by dropping both
    return out
