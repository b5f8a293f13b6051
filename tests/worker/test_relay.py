"""The relay in embedded mode (no broker): outbox rows run in process, once, with retries and dead letters."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time

import app.worker.actors  # noqa: F401 - registers the spine's actors, as build_relay does
from app.worker.registry import REGISTRY, UnknownActor, execute, spec_of
from app.worker.relay import Relay
from domain.kit import outbox
from tests.worker.helpers import effects, inbox_actors, outbox_row
from tests.worker.sample_actors import FLAKY, RECORD, REJECT

T0 = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)


def dramatiq_enqueue_to(sent: list[str]):
    """A broker stand-in with the real enqueue's actor lookup."""

    def enqueue(message) -> None:
        spec_of(message.actor)
        sent.append(message.id)

    return enqueue


async def stage(db, actor: str, payload: dict, **kw) -> str:
    async with db.transaction() as s:
        message_id = await outbox.enqueue(s, actor, payload, **kw)
    assert message_id is not None
    return message_id


def test_the_actors_are_registered():
    assert {RECORD, FLAKY, REJECT} <= REGISTRY.keys()
    assert {"idempotency.purge", "outbox.purge"} <= REGISTRY.keys()


async def test_drain_runs_a_message_once_and_marks_it_relayed(db, tenant_a):
    payload = {"tenant_id": tenant_a.id, "note": "hello", "_correlation_id": "req_1"}
    message_id = await stage(db, RECORD, payload, tenant_id=tenant_a.id)
    relay = Relay(db, enqueue=None)

    assert await relay.drain() == 1
    assert await effects(db, message_id) == 1
    assert await inbox_actors(db, message_id) == [RECORD]
    row = await outbox_row(db, message_id)
    assert row is not None and row.relayed_at is not None
    assert row.failed_at is None and row.attempts == 0

    assert await relay.drain() == 0  # nothing left to do
    assert await effects(db, message_id) == 1


async def test_the_same_message_id_again_is_a_duplicate(db, tenant_a):
    payload = {"tenant_id": tenant_a.id}
    message_id = await stage(db, RECORD, payload)
    await Relay(db, enqueue=None).drain()

    assert await execute(db, RECORD, message_id, payload) == "duplicate"
    assert await execute(db, RECORD, message_id, payload) == "duplicate"
    assert await effects(db, message_id) == 1


async def test_execute_runs_a_new_message_id_and_strips_private_keys(db, tenant_a):
    # "_correlation_id" is metadata, not an argument: record() would reject an unexpected keyword.
    payload = {"tenant_id": tenant_a.id, "_correlation_id": "req_2"}
    assert await execute(db, RECORD, "msg_direct_1", payload) == "done"
    assert await effects(db, "msg_direct_1") == 1


async def test_execute_of_an_unknown_actor_raises_unknown_actor(db):
    with pytest.raises(UnknownActor):
        await execute(db, "test.no_such_actor", "msg_unknown", {})


async def test_an_unknown_actor_backs_off_without_blocking_the_broker_relay(db, tenant_a):
    """During a rolling deploy an older relay may not know a new actor: that row waits, the rest are sent."""
    sent: list[str] = []
    relay = Relay(db, enqueue=dramatiq_enqueue_to(sent))
    with freeze_time(T0, real_asyncio=True):
        unknown = await stage(db, "test.from_the_future", {})
        known = await stage(db, RECORD, {"tenant_id": tenant_a.id})
        assert await relay.relay_once() == 1
    assert sent == [known]
    row = await outbox_row(db, unknown)
    assert row.relayed_at is None and row.attempts == 1 and row.available_at > row.created_at


async def test_a_delayed_message_waits_until_it_is_due(db, tenant_a):
    relay = Relay(db, enqueue=None)
    with freeze_time(T0, real_asyncio=True) as frozen:
        message_id = await stage(db, RECORD, {"tenant_id": tenant_a.id}, delay=dt.timedelta(minutes=5))
        assert await relay.drain() == 0
        frozen.tick(dt.timedelta(minutes=4, seconds=59))
        assert await relay.drain() == 0
        assert await effects(db, message_id) == 0
        frozen.tick(dt.timedelta(seconds=1))
        assert await relay.drain() == 1
    assert await effects(db, message_id) == 1


async def test_a_transient_failure_backs_off_then_dies_after_max_attempts(db, tenant_a):
    relay = Relay(db, enqueue=None, max_attempts=3)
    with freeze_time(T0, real_asyncio=True) as frozen:
        message_id = await stage(db, FLAKY, {"tenant_id": tenant_a.id, "fail_times": 99})

        await relay.drain()
        row = await outbox_row(db, message_id)
        assert row is not None
        assert row.attempts == 1
        assert row.available_at == T0 + dt.timedelta(seconds=2)  # 2**1 s
        assert row.relayed_at is None and row.failed_at is None
        assert row.last_error == "RuntimeError: transient failure 1"
        assert await inbox_actors(db, message_id) == []  # the claim rolled back with the failed attempt

        # Not due yet: the relay leaves it alone.
        frozen.tick(dt.timedelta(seconds=1))
        assert await relay.drain() == 0
        assert (await outbox_row(db, message_id)).attempts == 1

        frozen.tick(dt.timedelta(seconds=1))  # T0 + 2 s
        await relay.drain()
        row = await outbox_row(db, message_id)
        assert row.attempts == 2
        assert row.available_at == T0 + dt.timedelta(seconds=2 + 4)  # 2**2 s from the second attempt
        assert row.failed_at is None

        frozen.tick(dt.timedelta(seconds=4))  # T0 + 6 s: the third and last attempt
        await relay.drain()
        row = await outbox_row(db, message_id)
        assert row.attempts == 3
        assert row.failed_at == T0 + dt.timedelta(seconds=6)
        assert row.relayed_at is None
        assert row.last_error == "RuntimeError: transient failure 3"

        # Dead: never picked up again.
        frozen.tick(dt.timedelta(days=1))
        assert await relay.drain() == 0
        assert (await outbox_row(db, message_id)).attempts == 3
    assert await effects(db, message_id) == 0


async def test_a_transient_failure_then_success_takes_effect_once(db, tenant_a):
    relay = Relay(db, enqueue=None, max_attempts=5)
    with freeze_time(T0, real_asyncio=True) as frozen:
        message_id = await stage(db, FLAKY, {"tenant_id": tenant_a.id, "fail_times": 1})
        await relay.drain()
        assert (await outbox_row(db, message_id)).attempts == 1
        assert await effects(db, message_id) == 0

        frozen.tick(dt.timedelta(seconds=2))
        assert await relay.drain() == 1
    row = await outbox_row(db, message_id)
    assert row.relayed_at is not None and row.failed_at is None
    assert row.attempts == 1  # only failures are counted
    assert await effects(db, message_id) == 1
    assert await inbox_actors(db, message_id) == [FLAKY]


async def test_one_failing_message_does_not_hold_up_the_others(db, tenant_a):
    relay = Relay(db, enqueue=None)
    with freeze_time(T0, real_asyncio=True) as frozen:
        bad = await stage(db, FLAKY, {"tenant_id": tenant_a.id, "fail_times": 99})
        frozen.tick(dt.timedelta(milliseconds=1))
        good = await stage(db, RECORD, {"tenant_id": tenant_a.id})
        await relay.drain()
    assert await effects(db, good) == 1
    assert (await outbox_row(db, good)).relayed_at is not None
    assert (await outbox_row(db, bad)).relayed_at is None


async def test_a_domain_error_fails_without_retry(db, tenant_a):
    payload = {"tenant_id": tenant_a.id}
    assert await execute(db, REJECT, "msg_reject_direct", payload) == "failed"
    assert await effects(db, "msg_reject_direct") == 0  # the partial effect rolled back

    relay = Relay(db, enqueue=None, max_attempts=3)
    with freeze_time(T0, real_asyncio=True) as frozen:
        message_id = await stage(db, REJECT, payload)
        assert await relay.drain() == 1
        row = await outbox_row(db, message_id)
        assert row.relayed_at is not None  # done with: a business failure is not retried, it is dead
        assert row.failed_at == T0 and row.completed_at is None and row.attempts == 0
        assert row.last_error == "InvalidInput: this message can never succeed"

        frozen.tick(dt.timedelta(hours=2))
        assert await relay.drain() == 0
    assert await effects(db, message_id) == 0


# -- redelivery: what the broker lost is sent again ----------------------------------------------------------


class LossyBroker:
    """Records what is sent (the Dramatiq id the real enqueue would use) and delivers nothing."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []  # (row id, Dramatiq id)
        self.down = False

    def __call__(self, message) -> None:
        spec_of(message.actor)
        if self.down:
            raise ConnectionError("redis is down")
        self.sent.append((message.id, message.id if message.relayed_at is None else f"{message.id}.{message.attempts}"))


async def test_a_message_the_broker_lost_is_sent_again_and_acts_once(db, tenant_a):
    broker = LossyBroker()
    relay = Relay(db, enqueue=broker, redeliver_after=600, max_attempts=5)
    with freeze_time(T0, real_asyncio=True) as frozen:
        message_id = await stage(db, RECORD, {"tenant_id": tenant_a.id})
        assert await relay.relay_once() == 1
        assert broker.sent == [(message_id, message_id)]

        frozen.tick(dt.timedelta(seconds=599))  # in flight, not yet overdue
        assert await relay.redeliver_once() == 0

        frozen.tick(dt.timedelta(seconds=1))
        assert await relay.redeliver_once() == 1
        assert broker.sent[1] == (message_id, f"{message_id}.0")  # a Dramatiq id of its own
        row = await outbox_row(db, message_id)
        assert row.attempts == 1 and row.relayed_at == T0 + dt.timedelta(seconds=600)
        assert await relay.redeliver_once() == 0  # not again before another 600 s

        # The worker gets it (twice, as the lost copy turns up after all): one effect, completed.
        payload = {"tenant_id": tenant_a.id}
        assert await execute(db, RECORD, message_id, payload) == "done"
        assert await execute(db, RECORD, message_id, payload) == "duplicate"
        assert (await outbox_row(db, message_id)).completed_at == T0 + dt.timedelta(seconds=600)

        frozen.tick(dt.timedelta(hours=2))
        assert await relay.redeliver_once() == 0  # completed: never sent again
    assert await effects(db, message_id) == 1
    assert len(broker.sent) == 2


async def test_a_message_never_completed_dies_after_max_deliveries(db, tenant_a):
    broker = LossyBroker()
    relay = Relay(db, enqueue=broker, redeliver_after=60, max_attempts=3)
    with freeze_time(T0, real_asyncio=True) as frozen:
        message_id = await stage(db, RECORD, {"tenant_id": tenant_a.id})
        await relay.relay_once()
        for _ in range(60):  # every 10 s for 10 minutes: sends at 60 s and 180 s, dead at 420 s
            frozen.tick(dt.timedelta(seconds=10))
            await relay.redeliver_once()
    row = await outbox_row(db, message_id)
    assert len(broker.sent) == 3  # the first send and two redeliveries
    assert row.failed_at is not None and row.last_error == "not completed after 3 deliveries"


async def test_redelivery_waits_for_the_broker_to_come_back(db, tenant_a):
    broker = LossyBroker()
    relay = Relay(db, enqueue=broker, redeliver_after=60)
    with freeze_time(T0, real_asyncio=True) as frozen:
        first = await stage(db, RECORD, {"tenant_id": tenant_a.id})
        frozen.tick(dt.timedelta(milliseconds=1))
        second = await stage(db, RECORD, {"tenant_id": tenant_a.id})
        assert await relay.relay_once() == 2
        frozen.tick(dt.timedelta(seconds=61))
        broker.down = True
        assert await relay.redeliver_once() == 0
        assert (await outbox_row(db, first)).attempts == 0  # nothing counted while the broker is down
        broker.down = False
        assert await relay.redeliver_once() == 2
    assert [row_id for row_id, _ in broker.sent[2:]] == [first, second]


async def test_redeliveries_back_off_so_a_slow_backlog_is_not_flooded(db, tenant_a):
    broker = LossyBroker()
    relay = Relay(db, enqueue=broker, redeliver_after=60, max_attempts=10)
    with freeze_time(T0, real_asyncio=True) as frozen:
        await stage(db, RECORD, {"tenant_id": tenant_a.id})
        await relay.relay_once()
        sent_at = []
        for second in range(1, 1_000):
            frozen.tick(dt.timedelta(seconds=1))
            before = len(broker.sent)
            await relay.redeliver_once()
            if len(broker.sent) > before:
                sent_at.append(second)
    assert sent_at == [60, 60 + 120, 60 + 120 + 240, 60 + 120 + 240 + 480]  # 60 s, then twice as long each time
