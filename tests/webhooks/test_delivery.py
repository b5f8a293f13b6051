"""The webhooks.deliver job: a signed POST; failures retried on the schedule for three days, then failed; a job
seen twice sends once."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from freezegun import freeze_time

from app.worker.actors import webhooks as actor_module
from app.worker.registry import JobContext, execute
from domain.kit.errors import TaskError
from domain.webhooks import service
from domain.webhooks.service import MAX_ATTEMPTS, RETRY_SCHEDULE, SendResult
from domain.webhooks.signing import verify
from tests.webhooks.helpers import (
    ORDER,
    attempts,
    create_endpoint,
    deliver_jobs,
    deliveries,
    drain,
    emit_order,
    events,
    merchant_principal,
    receiver,
    secret_of,
)

T0 = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)


class FakeSender:
    """Stands in for the HTTP POST: answers ``status`` (or fails with ``error``) and records each call."""

    def __init__(self, status: int | None = 200, error: str | None = None) -> None:
        self.status, self.error = status, error
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []

    async def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        self.calls.append((url, body, headers))
        return SendResult(self.status, self.error)


@pytest.fixture
def sender(monkeypatch) -> FakeSender:
    fake = FakeSender()
    monkeypatch.setattr(actor_module, "http_send", fake)
    return fake


class TestSuccess:
    async def test_posts_the_signed_event_to_a_real_receiver(self, db, tenant_a):
        with receiver(200) as recv:
            endpoint = await create_endpoint(db, tenant_a, url=recv.url)
            await emit_order(db, tenant_a, "order.authorized")
            assert await drain(db) == 1

        [evt] = await events(db)
        [req] = recv.requests
        assert req.path == "/hooks"
        assert req.json == {
            "id": evt.id,
            "type": "order.authorized",
            "created_at": evt.created_at.isoformat().replace("+00:00", "Z"),
            "data": ORDER,
        }
        assert req.headers["content-type"] == "application/json"
        assert req.headers["bnpl-event-id"] == evt.id
        assert req.headers["bnpl-event-type"] == "order.authorized"
        timestamp = verify(secret_of(endpoint), req.headers["bnpl-signature"], req.body)
        assert abs(timestamp - dt.datetime.now(dt.UTC).timestamp()) < 60

        [delivery] = await deliveries(db)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
        assert delivery.succeeded_at is not None and delivery.next_attempt_at is None
        [attempt] = await attempts(db, delivery.id)
        assert (attempt.attempt, attempt.status_code, attempt.error) == (1, 200, None)
        assert attempt.duration_ms >= 0
        assert await deliver_jobs(db, pending_only=True) == []

    async def test_a_rotated_secret_signs_from_then_on(self, db, tenant_a, sender):
        endpoint = await create_endpoint(db, tenant_a)
        async with db.transaction() as s:
            rotated = await service.rotate_secret(
                s, merchant_principal(tenant_a), endpoint.id, secret_key=actor_module.get_settings().secret_key
            )
        await emit_order(db, tenant_a)
        await drain(db)
        _, body, headers = sender.calls[0]
        verify(rotated.secret, headers["Bnpl-Signature"], body)
        with pytest.raises(ValueError):
            verify(secret_of(endpoint, version=1), headers["Bnpl-Signature"], body)


class TestFailure:
    async def test_a_500_from_a_real_receiver_is_recorded_and_retried_in_a_minute(self, db, tenant_a):
        with freeze_time(T0, real_asyncio=True), receiver(500) as recv:
            await create_endpoint(db, tenant_a, url=recv.url)
            await emit_order(db, tenant_a)
            await drain(db)
        assert len(recv.requests) == 1
        [delivery] = await deliveries(db)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
        assert delivery.last_error == "HTTP 500"
        assert delivery.next_attempt_at == T0 + dt.timedelta(minutes=1)
        [retry] = await deliver_jobs(db, pending_only=True)
        assert retry.payload["attempt"] == 2 and retry.available_at == T0 + dt.timedelta(minutes=1)
        [attempt] = await attempts(db, delivery.id)
        assert (attempt.status_code, attempt.error) == (500, "HTTP 500")

    async def test_an_unreachable_endpoint_is_a_failed_attempt(self, db, tenant_a):
        with receiver() as recv:
            url = recv.url  # the server is gone once the block ends: connection refused
        await create_endpoint(db, tenant_a, url=url)
        await emit_order(db, tenant_a)
        await drain(db)
        [delivery] = await deliveries(db)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
        assert "ConnectError" in (delivery.last_error or "")

    async def test_retries_follow_the_schedule_for_three_days_then_fail(self, db, tenant_a, sender):
        sender.status = 503
        with freeze_time(T0, real_asyncio=True) as clock:
            await create_endpoint(db, tenant_a)
            await emit_order(db, tenant_a)
            assert await drain(db) == 1
            for delay in RETRY_SCHEDULE:
                clock.tick(delay - dt.timedelta(seconds=1))
                assert await drain(db) == 0  # not due yet
                clock.tick(dt.timedelta(seconds=1))
                assert await drain(db) == 1
            clock.tick(dt.timedelta(days=30))
            assert await drain(db) == 0

        assert len(sender.calls) == MAX_ATTEMPTS == 11
        [delivery] = await deliveries(db)
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 11, None)
        log = await attempts(db, delivery.id)
        assert [a.attempt for a in log] == list(range(1, 12))
        offsets = [a.started_at - T0 for a in log]
        expected = [sum(RETRY_SCHEDULE[:n], dt.timedelta()) for n in range(MAX_ATTEMPTS)]
        assert offsets == expected
        assert offsets[-1] == dt.timedelta(hours=71, minutes=36)  # about three days
        assert await deliver_jobs(db, pending_only=True) == []

    async def test_succeeds_on_a_retry(self, db, tenant_a, sender):
        sender.status = 502
        with freeze_time(T0, real_asyncio=True) as clock:
            await create_endpoint(db, tenant_a)
            await emit_order(db, tenant_a)
            await drain(db)
            sender.status = 204
            clock.tick(RETRY_SCHEDULE[0])
            await drain(db)
        [delivery] = await deliveries(db)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 204)
        assert delivery.succeeded_at == T0 + RETRY_SCHEDULE[0] and delivery.last_error is None
        assert [(a.attempt, a.status_code) for a in await attempts(db, delivery.id)] == [(1, 502), (2, 204)]
        assert await deliver_jobs(db, pending_only=True) == []

    @pytest.mark.parametrize("status", [301, 400, 410])
    async def test_non_2xx_answers_are_failures(self, db, tenant_a, sender, status):
        sender.status = status
        await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a)
        await drain(db)
        [delivery] = await deliveries(db)
        assert (delivery.status, delivery.last_status_code) == ("pending", status)


class TestDuplicates:
    async def test_the_same_message_twice_sends_once(self, db, tenant_a, sender):
        await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a)
        [job] = await deliver_jobs(db)
        assert await execute(db, service.DELIVER_ACTOR, job.id, dict(job.payload)) == "done"
        assert await execute(db, service.DELIVER_ACTOR, job.id, dict(job.payload)) == "duplicate"
        assert len(sender.calls) == 1
        [delivery] = await deliveries(db)
        assert delivery.attempts == 1

    async def test_another_message_for_an_attempt_already_made_does_nothing(self, db, tenant_a, sender):
        sender.status = 500
        await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a)
        [job] = await deliver_jobs(db)
        args = {k: v for k, v in job.payload.items() if not k.startswith("_")}
        for message_id in ("msg_first", "msg_second"):  # e.g. a re-sent broker message under a new id
            async with db.transaction() as s:
                await actor_module.deliver(JobContext(s, message_id), **args)
        assert len(sender.calls) == 1
        [delivery] = await deliveries(db)
        assert delivery.attempts == 1
        assert len(await attempts(db, delivery.id)) == 1
        assert [j.payload["attempt"] for j in await deliver_jobs(db)] == [1, 2]  # one retry staged, not two

    async def test_a_settled_delivery_is_not_sent_again(self, db, tenant_a, sender):
        await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a)
        await drain(db)
        [delivery] = await deliveries(db)
        async with db.transaction() as s:
            outcome = await service.deliver(
                s, tenant_id=tenant_a.id, delivery_id=delivery.id, attempt=1, secret_key="k", send=sender
            )
        assert outcome is service.DeliveryOutcome.STALE
        assert len(sender.calls) == 1


class TestEndpointChanges:
    async def test_an_endpoint_disabled_before_the_attempt_gets_nothing(self, db, tenant_a, sender):
        endpoint = await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a)
        async with db.transaction() as s:
            await service.update_endpoint(s, merchant_principal(tenant_a), endpoint.id, status="disabled")
        await drain(db)
        assert sender.calls == []
        [delivery] = await deliveries(db)
        assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 0, "endpoint disabled")

    async def test_an_endpoint_deleted_before_the_attempt_gets_nothing(self, db, tenant_a, sender):
        endpoint = await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a)
        async with db.transaction() as s:
            await service.delete_endpoint(s, merchant_principal(tenant_a), endpoint.id)
        await drain(db)
        assert sender.calls == []
        [delivery] = await deliveries(db)
        assert (delivery.status, delivery.last_error) == ("failed", "endpoint deleted")

    async def test_a_changed_url_is_used_by_the_next_attempt(self, db, tenant_a, sender):
        endpoint = await create_endpoint(db, tenant_a)
        await emit_order(db, tenant_a)
        async with db.transaction() as s:
            await service.update_endpoint(
                s, merchant_principal(tenant_a), endpoint.id, url="https://new.example.jp/hooks"
            )
        await drain(db)
        assert [url for url, _, _ in sender.calls] == ["https://new.example.jp/hooks"]


async def test_a_missing_delivery_is_a_task_error(db, tenant_a):
    async with db.transaction() as s:
        with pytest.raises(TaskError):
            await service.deliver(
                s, tenant_id=tenant_a.id, delivery_id="whd_missing", attempt=1, secret_key="k", send=FakeSender()
            )


async def test_the_body_is_compact_utf8_json(db, tenant_a, sender):
    await create_endpoint(db, tenant_a)
    await emit_order(db, tenant_a, data={"buyer": {"name": "山田 太郎"}})
    await drain(db)
    _, body, _ = sender.calls[0]
    assert "山田 太郎".encode() in body and b": " not in body
    assert json.loads(body)["data"] == {"buyer": {"name": "山田 太郎"}}
