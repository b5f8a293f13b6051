"""The notification outbox: dunning letters and reminders, delivered after commit through a pluggable sender.

A ``Notification`` row holds references and amounts, never the consumer's contact: ``deliver_pending`` resolves the
contact from the order's buyer when it sends, so the outbox, its logs and its retries carry no personal data.

Delivery is **at least once**. ``deliver_pending`` claims pending rows with ``FOR UPDATE SKIP LOCKED`` (two workers
take disjoint rows), sends each, and marks it ``sent`` in the same transaction. A crash between a send and the
commit sends that row again on the next run; there is no window in which a letter is recorded as sent but never
went out. We chose this over at-most-once (commit ``sending``, send, commit ``sent``), which loses a letter when
the process dies after the first commit: a missing dunning letter is worse than a duplicate, and a duplicate is
recognisable (the e-mail's Message-ID and the file name are the notification id). Batches are small (``LIMIT``) to
keep the window to a few messages.

A failed send counts an attempt and keeps the row ``pending`` with its ``last_error`` (class name only: error text
may quote the address); after ``MAX_ATTEMPTS`` it is ``failed`` and left for an operator.
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.checkout.models import Order
from domain.collections.models import Notification
from domain.kit import clock
from domain.kit.dialect import for_update

__all__ = [
    "MAX_ATTEMPTS",
    "Contact",
    "DeliveryResult",
    "FileSender",
    "LogSender",
    "Message",
    "Sender",
    "SmtpSender",
    "deliver_pending",
    "render",
]

MAX_ATTEMPTS = 5
BATCH = 50

log = logging.getLogger(__name__)

_SUBJECTS = {
    "reminder": "お支払い期限のお知らせ",
    "overdue_notice": "お支払いのお願い",
    "rebill": "再請求書の送付",
    "final_demand": "督促状",
}


@dataclass(frozen=True, slots=True)
class Contact:
    name: str = ""
    email: str | None = None
    phone: str | None = None
    postal_code: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """What a sender delivers: the rendered letter and the contact resolved at send time."""

    notification_id: str
    tenant_id: str
    template: str
    channel: str
    contact: Contact
    subject: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)


class Sender(Protocol):
    """Delivers one message or raises; must not log the contact."""

    def send(self, message: Message) -> None: ...


class LogSender:
    """The default: logs the template and the notification id (never the contact) and sends nothing."""

    def send(self, message: Message) -> None:
        log.info("notification_sent template=%s id=%s", message.template, message.notification_id)


class FileSender:
    """Writes one file per notification into ``directory``: ``<id>.eml`` for e-mail, ``<id>.json`` otherwise (the
    print shop's or SMS gateway's batch). Writing the same notification twice overwrites the same file."""

    def __init__(self, directory: str | Path, sender_address: str = "billing@example.invalid") -> None:
        self.directory = Path(directory)
        self.sender_address = sender_address

    def send(self, message: Message) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if message.channel == "email":
            email = _email(message, self.sender_address)
            (self.directory / f"{message.notification_id}.eml").write_bytes(bytes(email))
            return
        payload = {
            "id": message.notification_id,
            "template": message.template,
            "channel": message.channel,
            "to": {
                "name": message.contact.name,
                "phone": message.contact.phone,
                "postal_code": message.contact.postal_code,
                "address": message.contact.address,
            },
            "subject": message.subject,
            "body": message.body,
            "data": message.data,
        }
        path = self.directory / f"{message.notification_id}.json"
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")


class SmtpSender:
    """Sends e-mail notifications over SMTP (``smtplib``); other channels are not its job and raise."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        sender_address: str = "billing@example.invalid",
        *,
        timeout: float = 10.0,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host, self.port, self.sender_address, self.timeout = host, port, sender_address, timeout
        self.starttls, self.username, self.password = starttls, username, password

    def send(self, message: Message) -> None:
        if message.channel != "email" or not message.contact.email:
            raise UndeliverableChannel(f"SMTP cannot deliver a {message.channel} notification")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(_email(message, self.sender_address))


class UndeliverableChannel(Exception):
    """The sender cannot deliver this channel (or the buyer has no contact for it)."""


def _email(message: Message, sender_address: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender_address
    email["To"] = message.contact.email or ""
    email["Subject"] = message.subject
    # A resend after a crash carries the same id: the recipient's mail system can recognise the duplicate.
    email["Message-ID"] = f"<{message.notification_id}@notifications.bnpl>"
    email.set_content(message.body)
    return email


def render(notification: Notification, contact: Contact) -> Message:
    """The letter of a notification: subject and plain-text body from its template and data."""
    data = notification.data
    lines = [
        f"{contact.name} 様" if contact.name else "",
        "",
        f"ご請求金額: ¥{data.get('amount_due', 0):,}",
        f"お支払い期限: {data.get('due_date', '')}",
        f"払込番号: {data.get('payment_number', '')}",
        f"振込先口座: {data.get('virtual_account', '')}",
        f"お振込の際は、ご依頼人名の前に {data.get('transfer_reference', '')} をご入力ください。",
    ]
    return Message(
        notification_id=notification.id,
        tenant_id=notification.tenant_id,
        template=notification.template,
        channel=notification.channel,
        contact=contact,
        subject=_SUBJECTS.get(notification.template, "お知らせ"),
        body="\n".join(lines).strip() + "\n",
        data=dict(data),
    )


@dataclass
class DeliveryResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


async def deliver_pending(
    session: AsyncSession, sender: Sender, *, tenant_id: str | None = None, limit: int = BATCH
) -> DeliveryResult:
    """Send up to ``limit`` pending notifications (oldest first) through ``sender``, in ``session``'s transaction
    (the caller commits: see the module docstring for the at-least-once choice)."""
    stmt = select(Notification).where(Notification.status == "pending")
    if tenant_id is not None:
        stmt = stmt.where(Notification.tenant_id == tenant_id)
    stmt = stmt.order_by(Notification.created_at, Notification.id).limit(limit)
    claimed = list((await session.scalars(for_update(session, stmt, skip_locked=True))).all())
    result = DeliveryResult()
    for notification in claimed:
        order = await session.get(Order, (notification.tenant_id, notification.order_id))
        contact = _contact(order.buyer if order is not None else {})
        notification.attempts += 1
        try:
            # The senders are blocking (smtplib, files): keep the event loop free.
            await asyncio.to_thread(sender.send, render(notification, contact))
        except Exception as exc:  # noqa: BLE001 - any sender failure is retried, then parked
            notification.last_error = type(exc).__name__[:500]
            if notification.attempts >= MAX_ATTEMPTS:
                notification.status = "failed"
                result.failed += 1
            else:
                result.retried += 1
            continue
        notification.status, notification.sent_at, notification.last_error = "sent", clock.utc_now(), None
        result.sent += 1
    await session.flush()
    return result


def _contact(buyer: dict[str, Any]) -> Contact:
    return Contact(
        name=str(buyer.get("name") or ""),
        email=buyer.get("email"),
        phone=buyer.get("phone"),
        postal_code=buyer.get("postal_code"),
        address=buyer.get("address"),
    )
