"""The transactional outbox and the inbox: work commits or rolls back with the change that caused it."""

from __future__ import annotations

import pytest

from app.uow import Database
from domain.kit import outbox
from tests.worker.helpers import outbox_row, outbox_rows
from tests.worker.sample_actors import RECORD


class Boom(Exception):
    pass


def count_kicks(db: Database) -> list[int]:
    kicks: list[int] = []
    db.on_outbox_commit = lambda: kicks.append(1)
    return kicks


async def test_enqueue_in_a_rolled_back_transaction_leaves_no_message(db, tenant_a):
    kicks = count_kicks(db)
    staged: list[str | None] = []
    with pytest.raises(Boom):
        async with db.transaction() as s:
            staged.append(await outbox.enqueue(s, RECORD, {"tenant_id": tenant_a.id}, tenant_id=tenant_a.id))
            raise Boom
    assert staged[0] is not None  # it was staged inside the transaction...
    assert await outbox_row(db, staged[0]) is None  # ...and went away with it
    assert await outbox_rows(db) == []
    assert kicks == []  # nothing committed: the relay is not woken


async def test_enqueue_commits_with_the_transaction_and_kicks_the_relay(db, tenant_a):
    kicks = count_kicks(db)
    async with db.transaction() as s:
        message_id = await outbox.enqueue(s, RECORD, {"tenant_id": tenant_a.id, "n": 1}, tenant_id=tenant_a.id)
    assert message_id is not None
    row = await outbox_row(db, message_id)
    assert row is not None
    assert (row.actor, row.payload, row.tenant_id) == (RECORD, {"tenant_id": tenant_a.id, "n": 1}, tenant_a.id)
    assert row.relayed_at is None and row.failed_at is None and row.attempts == 0
    assert row.available_at == row.created_at
    assert kicks == [1]


async def test_enqueue_with_the_same_dedupe_key_stores_one_row(db, tenant_a):
    kicks = count_kicks(db)
    async with db.transaction() as s:
        first = await outbox.enqueue(s, RECORD, {"tenant_id": tenant_a.id, "n": 1}, dedupe_key="same-key")
    async with db.transaction() as s:
        second = await outbox.enqueue(s, RECORD, {"tenant_id": tenant_a.id, "n": 2}, dedupe_key="same-key")
    assert first is not None
    assert second is None
    rows = await outbox_rows(db)
    assert [(r.id, r.dedupe_key, r.payload["n"]) for r in rows] == [(first, "same-key", 1)]
    assert kicks == [1]  # the ignored duplicate staged nothing, so it does not kick


async def test_same_dedupe_key_twice_in_one_transaction(db):
    async with db.transaction() as s:
        first = await outbox.enqueue(s, RECORD, {}, dedupe_key="k")
        second = await outbox.enqueue(s, RECORD, {}, dedupe_key="k")
    assert first is not None and second is None
    assert len(await outbox_rows(db)) == 1


async def test_messages_without_dedupe_key_are_all_kept(db):
    async with db.transaction() as s:
        ids = [await outbox.enqueue(s, RECORD, {}) for _ in range(3)]
    assert None not in ids and len(set(ids)) == 3
    assert sorted(r.id for r in await outbox_rows(db)) == sorted(ids)


async def test_claim_message_is_true_once_per_message_and_actor(db):
    async with db.transaction() as s:
        assert await outbox.claim_message(s, "msg_1", "a.one") is True
    async with db.transaction() as s:
        assert await outbox.claim_message(s, "msg_1", "a.one") is False
        assert await outbox.claim_message(s, "msg_1", "a.one") is False
        # The inbox key is (message, actor): another actor or another message is a separate claim.
        assert await outbox.claim_message(s, "msg_1", "a.two") is True
        assert await outbox.claim_message(s, "msg_2", "a.one") is True


async def test_a_claim_rolled_back_with_its_transaction_can_be_claimed_again(db):
    with pytest.raises(Boom):
        async with db.transaction() as s:
            assert await outbox.claim_message(s, "msg_x", "a.one") is True
            raise Boom
    async with db.transaction() as s:
        assert await outbox.claim_message(s, "msg_x", "a.one") is True


async def test_a_message_carries_the_request_id_that_caused_it(db, tenant_a):
    from domain.kit.context import correlation_id

    token = correlation_id.set("req_caused_it")
    try:
        async with db.transaction() as s:
            message_id = await outbox.enqueue(s, RECORD, {"tenant_id": tenant_a.id}, tenant_id=tenant_a.id)
    finally:
        correlation_id.reset(token)
    row = await outbox_row(db, message_id)
    assert row.payload == {"tenant_id": tenant_a.id, "_correlation_id": "req_caused_it"}
