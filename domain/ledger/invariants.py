"""The ledger's invariants in Python: checked before every flush (the only check SQLite gets), and
mirrored by constraint triggers on PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from domain.kit.errors import UnbalancedEntry
from domain.kit.postings import check_postings
from domain.ledger.models import JournalEntry, Posting


@event.listens_for(Session, "before_flush")
def _check_new_postings(session: Session, flush_context: Any, instances: Any) -> None:
    """Every new entry must come with its postings and balance; existing entries and postings never change."""
    for obj in session.dirty:
        if isinstance(obj, (Posting, JournalEntry)) and session.is_modified(obj):
            raise UnbalancedEntry("journal entries and postings are immutable: post a reversing entry")
    for obj in session.deleted:
        if isinstance(obj, (Posting, JournalEntry)):
            raise UnbalancedEntry("journal entries and postings are never deleted: post a reversing entry")
    new_entries = {obj.id for obj in session.new if isinstance(obj, JournalEntry)}
    by_entry: dict[str, list[tuple[str, str, int]]] = {entry_id: [] for entry_id in new_entries}
    for obj in session.new:
        if isinstance(obj, Posting):
            if obj.entry_id not in by_entry:
                raise UnbalancedEntry(f"postings cannot be added to the existing entry {obj.entry_id}")
            by_entry[obj.entry_id].append((obj.currency, obj.direction, obj.amount))
    for entry_id, postings in by_entry.items():
        check_postings(entry_id, postings)
