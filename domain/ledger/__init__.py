"""The double-entry ledger kernel of every operator."""

from domain.ledger.models import JournalEntry, LedgerAccount, Posting
from domain.ledger.service import Direction, Line, PostedEntry, credit, debit, post_entry, reverse_entry

__all__ = [
    "Direction",
    "JournalEntry",
    "LedgerAccount",
    "Line",
    "PostedEntry",
    "Posting",
    "credit",
    "debit",
    "post_entry",
    "reverse_entry",
]
