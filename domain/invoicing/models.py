"""Consumer invoices (請求書): what a consumer owes for an order, with the keys to pay it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit.db import ID_LENGTH, Base, TenantOwned, Timestamped

# A payment may land on an invoice in these statuses (docs/collections.md has the state machine).
OPEN_STATUSES = ("issued", "payment_pending", "partially_paid", "overdue", "in_collection", "charged_off")
# Past due and unpaid: counted in ``consumers.overdue_count``, which checkout reads to decline the consumer.
OVERDUE_STATUSES = ("overdue", "in_collection", "charged_off")
# Open and not yet past due.
CURRENT_STATUSES = ("issued", "payment_pending", "partially_paid")


class Invoice(TenantOwned, Timestamped, Base):
    """One invoice version. A change (refund, release, amount change) voids it and issues a successor with new
    payment keys, so a consumer never pays a stale slip to a live account.

    ``principal`` is the goods amount, ``fee`` the consumer fee (請求手数料, tax included), ``late_fee`` the
    re-bill fees (延滞事務手数料, tax included) and ``damages`` the late damages (遅延損害金) billed so far. What was
    paid is kept per component (``paid_*``, in the waterfall's order: late fee, damages, fee, principal) and
    ``waived`` is what the operator forgave; the consumer owes ``balance``. ``fee_recognized`` says whether the fee
    has been booked as income (for 同梱 invoices it is booked at the first capture, and a successor inherits it).

    Dunning reads facts, not timers: ``chain_id`` is the first invoice of a re-bill chain (re-bills inherit it and
    ``dunning_base_date``, the due date the ladder counts from), ``rebill_count`` the re-bill (0 = 初回), and the
    holds (``promise_to_pay_date``, ``dispute_hold``, ``payment_pending_since``).
    """

    __tablename__ = "invoices"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "order_id"], ["orders.tenant_id", "orders.id"]),
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("tenant_id", "payment_number"),
        # Virtual accounts are a pool reused in a cycle (a bank branch holds 999,999), so not unique for ever:
        # reconciliation matches an account to the open invoice holding it.
        Index("ix_invoices_virtual_account", "tenant_id", "virtual_account"),
        Index("ix_invoices_order", "tenant_id", "order_id"),
        Index("ix_invoices_consumer", "tenant_id", "consumer_id", "status"),
        Index("ix_invoices_supersedes", "tenant_id", "supersedes_id"),
        Index("ix_invoices_payer", "tenant_id", "payer_kana", "status"),
        Index("ix_invoices_dunning", "tenant_id", "status", "dunning_base_date"),
        CheckConstraint("principal >= 0 AND fee >= 0 AND paid_amount >= 0", name="amounts_not_negative"),
        CheckConstraint(
            "late_fee >= 0 AND damages >= 0 AND waived >= 0 AND paid_late_fee >= 0 AND paid_damages >= 0"
            " AND paid_fee >= 0 AND paid_principal >= 0",
            name="components_not_negative",
        ),
        CheckConstraint(
            "paid_late_fee <= late_fee AND paid_damages <= damages AND paid_fee <= fee AND paid_principal <= principal"
            " AND paid_amount = paid_late_fee + paid_damages + paid_fee + paid_principal",
            name="paid_within_components",
        ),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)  # per-tenant sequence; the payment keys derive from it
    order_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    consumer_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    capture_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))  # 別送: the shipment it bills
    delivery: Mapped[str] = mapped_column(String(10))  # separate (別送) | enclosed (同梱)
    status: Mapped[str] = mapped_column(String(20))  # issued | voided (collections adds the rest)
    currency: Mapped[str] = mapped_column(String(3))
    principal: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    fee_tax: Mapped[int] = mapped_column(BigInteger)  # consumption tax included in ``fee``
    fee_recognized: Mapped[bool] = mapped_column(default=False)
    late_fee: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    late_fee_tax: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    damages: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_late_fee: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    paid_damages: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    paid_fee: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    paid_principal: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    waived: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    charged_off_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    recovered_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    issue_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    payment_number: Mapped[str] = mapped_column(String(32))  # convenience-store payment number
    virtual_account: Mapped[str] = mapped_column(String(16))  # "bank-branch-account" of the per-invoice account
    reissue: Mapped[int] = mapped_column(Integer, default=0)
    supersedes_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    voided_at: Mapped[dt.datetime | None]
    void_reason: Mapped[str | None] = mapped_column(String(32))
    payer_kana: Mapped[str | None] = mapped_column(String(48))  # the buyer's name in Zengin half-width kana
    chain_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    dunning_base_date: Mapped[dt.date | None] = mapped_column(Date)
    rebill_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    promise_to_pay_date: Mapped[dt.date | None] = mapped_column(Date)
    dispute_hold: Mapped[bool] = mapped_column(default=False, server_default=false())
    payment_pending_since: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]

    @property
    def total(self) -> int:
        return self.principal + self.fee + self.late_fee + self.damages

    @property
    def balance(self) -> int:
        return self.total - self.paid_amount - self.waived

    @property
    def charges(self) -> int:
        """Re-bill fees and damages billed (the part the 14.6 % cap limits)."""
        return self.late_fee + self.damages
