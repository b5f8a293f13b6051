"""The notification outbox: claimed, rendered with the contact resolved at send time, sent once, retried on failure;
log, file and SMTP senders (SMTP against a tiny local SMTP server)."""

from __future__ import annotations

import email
import json
import socket
import threading
from typing import Any

from freezegun import freeze_time
from sqlalchemy import select

from domain.collections.dunning import run_dunning
from domain.collections.models import Notification
from domain.collections.notifications import (
    MAX_ATTEMPTS,
    FileSender,
    LogSender,
    Message,
    SmtpSender,
    deliver_pending,
)
from tests.collections.test_dunning import D, day, invoiced, noon


class Recorder:
    def __init__(self, fail: int = 0) -> None:
        self.sent: list[Message] = []
        self.fail = fail

    def send(self, message: Message) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("smtp down: taro0@example.jp")
        self.sent.append(message)


async def reminded(client, db, tenant) -> None:
    await invoiced(client, tenant)
    with freeze_time(noon(day(-3)), real_asyncio=True):
        await run_dunning(db.transaction, tenant.id, day(-3))


async def rows(db, tenant_id: str) -> list[Notification]:
    async with db.sessionmaker() as s:
        return list((await s.scalars(select(Notification).where(Notification.tenant_id == tenant_id))).all())


async def deliver(db, sender: Any, tenant_id: str | None = None):
    async with db.transaction() as s:
        return await deliver_pending(s, sender, tenant_id=tenant_id)


class TestDeliver:
    async def test_sends_once_with_the_contact_resolved_at_send_time(self, client, db, tenant_a):
        await reminded(client, db, tenant_a)
        recorder = Recorder()
        with freeze_time(noon(day(-3)), real_asyncio=True):
            result = await deliver(db, recorder)
            again = await deliver(db, recorder)
        assert (result.sent, again.sent) == (1, 0)
        message = recorder.sent[0]
        assert message.template == "reminder" and message.contact.email == "taro0@example.jp"
        assert message.contact.name.startswith("山田 太郎")
        assert "¥10,000" in message.body and str(D) in message.body
        assert message.data["transfer_reference"] in message.body
        (row,) = await rows(db, tenant_a.id)
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
        # The row itself holds no personal data.
        assert "taro0" not in json.dumps(row.data, ensure_ascii=False) and "山田" not in json.dumps(row.data)

    async def test_a_failure_is_retried_then_parked_without_personal_data(self, client, db, tenant_a):
        await reminded(client, db, tenant_a)
        flaky = Recorder(fail=1)
        assert (await deliver(db, flaky)).retried == 1
        (row,) = await rows(db, tenant_a.id)
        assert (row.status, row.attempts, row.last_error) == ("pending", 1, "ConnectionError")
        assert (await deliver(db, flaky)).sent == 1
        broken = Recorder(fail=100)
        async with db.transaction() as s:
            (await s.scalars(select(Notification))).one().status = "pending"
        for _ in range(MAX_ATTEMPTS):
            await deliver(db, broken)
        (row,) = await rows(db, tenant_a.id)
        assert row.status == "failed" and row.attempts == MAX_ATTEMPTS

    async def test_only_the_tenants_rows(self, client, db, tenant_a, tenant_b):
        await reminded(client, db, tenant_a)
        await reminded(client, db, tenant_b)
        assert (await deliver(db, Recorder(), tenant_id=tenant_b.id)).sent == 1
        assert [r.status for r in await rows(db, tenant_a.id)] == ["pending"]


class TestSenders:
    async def test_log_sender_logs_no_contact(self, client, db, tenant_a, caplog):
        await reminded(client, db, tenant_a)
        with caplog.at_level("INFO"):
            assert (await deliver(db, LogSender())).sent == 1
        assert "reminder" in caplog.text and "taro0@example.jp" not in caplog.text

    async def test_file_sender_writes_one_eml_per_notification(self, client, db, tenant_a, tmp_path):
        await reminded(client, db, tenant_a)
        await deliver(db, FileSender(tmp_path, "billing@bnpl.example"))
        (path,) = tmp_path.iterdir()
        (row,) = await rows(db, tenant_a.id)
        assert path.name == f"{row.id}.eml"
        parsed = email.message_from_bytes(path.read_bytes())
        assert parsed["To"] == "taro0@example.jp" and parsed["Message-ID"] == f"<{row.id}@notifications.bnpl>"

    async def test_smtp_sender_delivers_to_a_server(self, client, db, tenant_a):
        await reminded(client, db, tenant_a)
        server = FakeSmtp()
        try:
            assert (await deliver(db, SmtpSender("127.0.0.1", server.port, "billing@bnpl.example"))).sent == 1
        finally:
            server.close()
        (mail,) = server.messages
        assert mail["rcpt"] == ["taro0@example.jp"] and mail["from"] == "billing@bnpl.example"
        assert "Message-ID: <ntf_" in mail["data"]


class FakeSmtp:
    """A minimal SMTP server on a local port, one connection at a time, recording what it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.messages: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn, conn.makefile("rb") as rfile:

            def reply(line: str) -> None:
                conn.sendall((line + "\r\n").encode())

            reply("220 fake ESMTP")
            mail: dict[str, Any] = {"rcpt": []}
            while raw := rfile.readline():
                line = raw.decode().rstrip("\r\n")
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    reply("250 fake")
                elif verb == "MAIL":
                    mail["from"] = line.split(":", 1)[1].strip().strip("<>").split(">")[0]
                    reply("250 OK")
                elif verb == "RCPT":
                    mail["rcpt"].append(line.split(":", 1)[1].strip().strip("<>"))
                    reply("250 OK")
                elif verb == "DATA":
                    reply("354 go ahead")
                    data = []
                    while (chunk := rfile.readline().decode()) not in (".\r\n", ""):
                        data.append(chunk)
                    mail["data"] = "".join(data)
                    self.messages.append(mail)
                    mail = {"rcpt": []}
                    reply("250 queued")
                elif verb == "QUIT":
                    reply("221 bye")
                    return
                else:
                    reply("250 OK")

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)
