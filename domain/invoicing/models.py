"""Consumer invoices (請求書): what a consumer owes for an order, with the keys to pay it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.kit.db import ID_LENGTH, Base, TenantOwned, Timestamped

OPEN_STATUSES = ("issued",)  # collections adds payment_pending, partially_paid, overdue, ...


class Invoice(TenantOwned, Timestamped, Base):
    """One invoice version. A change (refund, release, amount change) voids it and issues a successor with new
    payment keys, so a consumer never pays a stale slip to a live account.

    ``principal`` is the goods amount, ``fee`` the consumer fee (請求手数料, tax included); the consumer owes
    ``principal + fee - paid_amount``. ``fee_recognized`` says whether the fee has been booked as income (for
    同梱 invoices it is booked at the first capture, and a successor inherits the flag).
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
        CheckConstraint("principal >= 0 AND fee >= 0 AND paid_amount >= 0", name="amounts_not_negative"),
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
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    issue_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    payment_number: Mapped[str] = mapped_column(String(32))  # convenience-store payment number
    virtual_account: Mapped[str] = mapped_column(String(16))  # "bank-branch-account" of the per-invoice account
    reissue: Mapped[int] = mapped_column(Integer, default=0)
    supersedes_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    voided_at: Mapped[dt.datetime | None]
    void_reason: Mapped[str | None] = mapped_column(String(32))

    @property
    def total(self) -> int:
        return self.principal + self.fee

    @property
    def balance(self) -> int:
        return self.principal + self.fee - self.paid_amount
