from __future__ import annotations

from domain.kit.errors import InvalidInput, NotFound, StateConflict


class ScreeningNotFound(NotFound):
    code = "screening_not_found"


class NotInReview(StateConflict):
    code = "screening_not_in_review"


class OutcomeAlreadyReported(StateConflict):
    code = "outcome_already_reported"


class ListEntryNotFound(NotFound):
    code = "list_entry_not_found"


class ExternalAddressNotFound(NotFound):
    code = "external_address_not_found"


class InvalidPolicy(InvalidInput):
    code = "invalid_policy"


class InvalidImport(InvalidInput):
    code = "invalid_import"


class InvalidIdentifier(InvalidInput):
    code = "invalid_identifier"
