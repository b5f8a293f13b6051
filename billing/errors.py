"""Platform-billing errors, each with a stable code."""

from __future__ import annotations

from domain.kit.errors import InvalidInput, NotFound, StateConflict


class PlanNotFound(NotFound):
    code = "plan_not_found"


class PlanCodeTaken(StateConflict):
    code = "plan_code_taken"


class InvalidPlan(InvalidInput):
    code = "invalid_plan"


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"


class SubscriptionOverlap(StateConflict):
    """The tenant already has a base plan (or this add-on) over part of the requested period."""

    code = "subscription_overlap"


class SubscriptionEnded(StateConflict):
    code = "subscription_ended"


class InvalidEffectiveDate(InvalidInput):
    code = "invalid_effective_date"


class CustomerNotFound(NotFound):
    """No operator with this id (the platform's customer)."""

    code = "operator_not_found"


class UsageKeyReused(StateConflict):
    """The event key was used before with another payload; the first event is kept."""

    code = "usage_key_reused"


class InvalidUsage(InvalidInput):
    code = "invalid_usage_event"


class BillingInvoiceNotFound(NotFound):
    code = "billing_invoice_not_found"


class InvoiceNotFinalizable(StateConflict):
    code = "invoice_not_finalizable"


class InvoiceNotFinalized(StateConflict):
    code = "invoice_not_finalized"


class CreditExceedsInvoice(StateConflict):
    code = "credit_exceeds_invoice"


class PaymentExceedsBalance(StateConflict):
    code = "payment_exceeds_balance"


class CreditNoteNotFound(NotFound):
    code = "credit_note_not_found"


class IssuerNotConfigured(StateConflict):
    code = "issuer_not_configured"


class InvalidIssuer(InvalidInput):
    code = "invalid_issuer"


class InvalidPeriod(InvalidInput):
    code = "invalid_period"
