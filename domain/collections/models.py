"""Payments received from consumers, the files they came in, how they were applied, and dunning's records.

A payment row is the immutable record of money (or a convenience-store notice) arriving: where it came from (a
file and line, or an API call), how much, when, from whom, with which keys. Only its reconciliation state changes
(``status``, ``invoice_id``, ``open_amount``); what it did to invoices is in ``payment_allocations`` (append-only,
reversals are negative rows) and in the ledger (``source_ref`` ``payment:<id>``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Date, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit.db import ID_LENGTH, Base, TenantOwned, Timestamped

# payment kinds
PAYMENT, REVERSAL, PRELIMINARY, PRELIMINARY_CANCEL = "payment", "reversal", "preliminary", "preliminary_cancel"

# A payment's reconciliation status:
#   received   recorded, not yet reconciled (the reconciliation worker picks it up)
#   applied    applied to an invoice in full (``open_amount`` 0)
#   overpaid   applied, the excess held as a refund liability (``open_amount`` > 0, consumer_overpayments)
#   unmatched  no invoice found: held in suspense (仮受金) for the manual queue (``open_amount`` > 0)
#   refunded / written_off   the held amount was paid back / taken to income (``open_amount`` 0)
#   reversed   cancelled by the bank (取消 / 訂正 / returned transfer): everything it did was undone
#   pending / confirmed / cancelled   a convenience-store 速報: awaiting 確報 / confirmed / withdrawn (速報取消)
#   recorded   a reversal or 速報取消 notice itself, once acted on
HELD_STATUSES = ("overpaid", "unmatched")


class PaymentFile(TenantOwned, Timestamped, Base):
    """An imported payment file, byte for byte. The same bytes imported again are the same file."""

    __tablename__ = "payment_files"
    __table_args__ = (UniqueConstraint("tenant_id", "sha256"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # zengin_01 | zengin_03 | konbini_csv
    filename: Mapped[str] = mapped_column(String(200), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    record_count: Mapped[int] = mapped_column(Integer)
    payment_count: Mapped[int] = mapped_column(Integer)
    total_amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # received | reconciled
    summary: Mapped[dict[str, Any]]  # outcome counts once reconciled
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    reconciled_at: Mapped[dt.datetime | None]


class Payment(TenantOwned, Timestamped, Base):
    """One payment or payment notice, as received (see the module docstring)."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        Index("ix_payments_file", "tenant_id", "file_id", "status", "line_no"),
        Index("ix_payments_status", "tenant_id", "status", "value_date"),
        Index("ix_payments_invoice", "tenant_id", "invoice_id"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(120))  # the source's own id: replays are recognised by it
    source: Mapped[str] = mapped_column(String(8))  # file | api
    file_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    line_no: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))  # the API key that sent or imported it
    kind: Mapped[str] = mapped_column(String(20))  # payment | reversal | preliminary | preliminary_cancel
    channel: Mapped[str] = mapped_column(String(20))  # bank_transfer | convenience_store | other
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    value_date: Mapped[dt.date] = mapped_column(Date)
    payer_name: Mapped[str] = mapped_column(String(60), default="")
    payer_code: Mapped[str] = mapped_column(String(20), default="")
    edi: Mapped[str] = mapped_column(String(40), default="")
    account: Mapped[str | None] = mapped_column(String(20))  # the credited (virtual) account, bank-branch-number
    payment_number: Mapped[str | None] = mapped_column(String(44))
    reverses_external_id: Mapped[str | None] = mapped_column(String(120))
    # reconciliation state
    status: Mapped[str] = mapped_column(String(12))
    outcome: Mapped[str | None] = mapped_column(String(24))  # exact | partial | over | after_close | ...
    match_method: Mapped[str | None] = mapped_column(String(20))  # virtual_account | payment_number | ...
    invoice_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    open_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # held in suspense or as an overpayment
    reversed_by_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    reconciled_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))  # who matched/refunded it by hand
    note: Mapped[str] = mapped_column(String(500), default="")


class PaymentAllocation(TenantOwned, Timestamped, Base):
    """What a payment did to an invoice, per component (append-only; a reversal adds the negative rows).

    Components: late_fee, damages, fee, principal (the waterfall), recovery (paid after charge-off: the same
    components, booked to recoveries), waiver (charges forgiven when the original amount was paid)."""

    __tablename__ = "payment_allocations"
    __table_args__ = (
        Index("ix_payment_allocations_payment", "tenant_id", "payment_id"),
        Index("ix_payment_allocations_invoice", "tenant_id", "invoice_id"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    invoice_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    component: Mapped[str] = mapped_column(String(12))
    amount: Mapped[int] = mapped_column(BigInteger)


class DunningAction(TenantOwned, Timestamped, Base):
    """A ladder step acted on for an invoice chain. Unique per (chain, base date, step): a sweep that runs twice,
    or resumes after a crash, acts once."""

    __tablename__ = "dunning_actions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "chain_id", "base_date", "step"),
        Index("ix_dunning_actions_day", "tenant_id", "as_of"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    chain_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    invoice_id: Mapped[str] = mapped_column(String(ID_LENGTH))  # the chain's invoice the step acted on
    base_date: Mapped[dt.date] = mapped_column(Date)
    step: Mapped[int] = mapped_column(Integer)  # index in the policy's ladder
    action: Mapped[str] = mapped_column(String(20))
    as_of: Mapped[dt.date] = mapped_column(Date)  # the business day the sweep acted for
    result: Mapped[dict[str, Any]]  # what was done (new invoice id, fee, damages, notification id, ...)


class Notification(TenantOwned, Timestamped, Base):
    """A message to a consumer (reminder, notice, re-bill letter), sent by a pluggable sender after commit.

    Holds references, never the address or the consumer's name: the sender resolves them when it sends, so the
    outbox and the logs carry no personal data. Unique per ``dedupe_key``: one reminder per invoice and step."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key"),
        Index("ix_notifications_status", "tenant_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(120))
    template: Mapped[str] = mapped_column(String(40))  # reminder | overdue_notice | rebill | final_demand | ...
    channel: Mapped[str] = mapped_column(String(10))  # email | sms | paper
    order_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    invoice_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    data: Mapped[dict[str, Any]]  # what the template needs besides the contact (amounts, due date, keys)
    status: Mapped[str] = mapped_column(String(10))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
