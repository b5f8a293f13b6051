"""The double-entry rule in Python, shared by the operators' ledger (``domain.ledger``) and the platform's
(``billing.ledger``): at least two postings, positive integer amounts, debits equal credits per currency."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from domain.kit.errors import UnbalancedEntry


def net_by_currency(postings: Iterable[tuple[str, str, int]]) -> dict[str, int]:
    """(currency, direction, amount) → debits minus credits per currency."""
    net: dict[str, int] = defaultdict(int)
    for currency, direction, amount in postings:
        net[currency] += amount if direction == "debit" else -amount
    return dict(net)


def check_postings(entry_id: str, postings: list[tuple[str, str, int]]) -> None:
    """Raise :class:`UnbalancedEntry` unless the postings form a valid entry."""
    if len(postings) < 2:
        raise UnbalancedEntry(f"journal entry {entry_id} needs at least two postings")
    for _currency, direction, amount in postings:
        if type(amount) is not int or amount <= 0:
            raise UnbalancedEntry(f"journal entry {entry_id}: posting amounts must be positive integers")
        if direction not in ("debit", "credit"):
            raise UnbalancedEntry(f"journal entry {entry_id}: direction must be debit or credit")
    unbalanced = {c: n for c, n in net_by_currency(postings).items() if n != 0}
    if unbalanced:
        raise UnbalancedEntry(f"journal entry {entry_id} does not balance: {unbalanced}")
