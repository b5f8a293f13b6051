"""Imports every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from billing.metering import UsageEvent
from billing.models import (
    BillingInvoice,
    BillingInvoiceLine,
    BillingInvoiceTax,
    BillingIssuer,
    BillingPayment,
    CreditNote,
    LateUsageMark,
    Plan,
    PlanVersion,
    PlatformJournalEntry,
    PlatformPosting,
    Subscription,
    SubscriptionChange,
    UsageSnapshot,
)
from domain.checkout.models import Capture, Consumer, ConsumerKey, CreditPolicyVersion, Order, Refund
from domain.collections.models import DunningAction, Notification, Payment, PaymentAllocation, PaymentFile
from domain.invoicing.models import Invoice
from domain.kit.audit import AuditEvent
from domain.kit.counters import TenantCounter
from domain.kit.db import Base, metadata
from domain.kit.idempotency import IdempotencyRecord
from domain.kit.jobs import Lease
from domain.kit.outbox import OutboxMessage, ProcessedMessage
from domain.ledger.models import JournalEntry, LedgerAccount, Posting
from domain.settlement.models import MerchantContract, PayoutFile, Settlement, SettlementLine
from domain.tenancy.models import ApiKey, Merchant, Operator
from domain.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from fraud.models import (
    ExternalAddress,
    ListEntry,
    NegativeEntry,
    NegativeReport,
    PolicyVersion,
    Screening,
    ScreeningIdentifier,
)

__all__ = [
    "BillingInvoice",
    "BillingInvoiceLine",
    "BillingInvoiceTax",
    "BillingIssuer",
    "BillingPayment",
    "CreditNote",
    "LateUsageMark",
    "Plan",
    "PlanVersion",
    "PlatformJournalEntry",
    "PlatformPosting",
    "Subscription",
    "SubscriptionChange",
    "UsageSnapshot",
    "MerchantContract",
    "PayoutFile",
    "Settlement",
    "SettlementLine",
    "DunningAction",
    "Notification",
    "Payment",
    "PaymentAllocation",
    "PaymentFile",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "Capture",
    "Consumer",
    "ConsumerKey",
    "CreditPolicyVersion",
    "Invoice",
    "Order",
    "Refund",
    "TenantCounter",
    "ExternalAddress",
    "ListEntry",
    "NegativeEntry",
    "NegativeReport",
    "PolicyVersion",
    "Screening",
    "ScreeningIdentifier",
    "UsageEvent",
    "ApiKey",
    "AuditEvent",
    "Base",
    "IdempotencyRecord",
    "JournalEntry",
    "Lease",
    "LedgerAccount",
    "Merchant",
    "Operator",
    "OutboxMessage",
    "Posting",
    "ProcessedMessage",
    "metadata",
]
