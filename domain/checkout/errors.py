"""Checkout errors. Each illegal transition has its own code (a merchant's integration branches on it)."""

from __future__ import annotations

from domain.kit.errors import InvalidInput, NotFound, StateConflict


class OrderNotFound(NotFound):
    code = "order_not_found"


class InvalidOrder(InvalidInput):
    """The order's numbers do not add up (amount ≠ Σ items, capture beyond what is left, ...)."""

    code = "invalid_order"


class MerchantOrderIdTaken(StateConflict):
    code = "merchant_order_id_taken"


class IllegalTransition(StateConflict):
    """The action is not allowed in the order's current state; ``code`` names the action."""

    code = "illegal_transition"


class InvalidPolicy(InvalidInput):
    code = "invalid_credit_policy"


class InvoiceNotFound(NotFound):
    code = "invoice_not_found"
