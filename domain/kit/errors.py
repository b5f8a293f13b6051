"""Domain errors. Each carries a stable machine ``code``; the edge maps the class to an HTTP status.

They know nothing of HTTP: ``app/errors.py`` decides the status and renders RFC 9457 problem details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One invalid input field: a JSON pointer (``#/items/0/price``), a message and a machine code."""

    pointer: str
    detail: str
    code: str = "invalid"


class DomainError(Exception):
    """Base of every expected business failure."""

    code: str = "domain_error"
    title: str = "The request could not be completed"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        issues: list[FieldIssue] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.issues: list[FieldIssue] = issues or []
        self.extra: dict[str, Any] = extra or {}


class NotFound(DomainError):
    """The resource does not exist *for this caller* (another tenant's id is not found, never forbidden)."""

    code = "not_found"
    title = "Not found"


class StateConflict(DomainError):
    """The action is illegal in the resource's current state (e.g. revoking a revoked key)."""

    code = "state_conflict"
    title = "Conflict with the current state"


class InvalidInput(DomainError):
    """Input that passed the schema but breaks a business rule, naming the field(s)."""

    code = "invalid_input"
    title = "Invalid input"


class PermissionDenied(DomainError):
    """The caller is known but its role may not do this."""

    code = "permission_denied"
    title = "Forbidden"


class UnbalancedEntry(DomainError):
    """A journal entry whose debits and credits differ for some currency. A programming error, never input."""

    code = "ledger_unbalanced"
    title = "Unbalanced journal entry"


@dataclass(frozen=True, slots=True)
class TaskError(Exception):
    """A background task cannot act (its row is gone): logged and not retried."""

    message: str
    context: dict[str, Any] = field(default_factory=dict)
