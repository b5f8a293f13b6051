from __future__ import annotations

from domain.kit.errors import InvalidInput, NotFound, StateConflict, UnbalancedEntry


class UnknownAccount(InvalidInput):
    code = "ledger_unknown_account"


class EntryNotFound(NotFound):
    code = "journal_entry_not_found"


class EntryAlreadyReversed(StateConflict):
    code = "journal_entry_already_reversed"


__all__ = ["EntryAlreadyReversed", "EntryNotFound", "UnbalancedEntry", "UnknownAccount"]
