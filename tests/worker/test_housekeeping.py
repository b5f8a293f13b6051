"""Housekeeping jobs: expiring Idempotency-Keys and relayed outbox messages, by actor and by CLI (--as-of)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from click.testing import CliRunner, Result
from freezegun import freeze_time
from sqlalchemy import select

from app.cli import cli
from app.worker.actors.housekeeping import OUTBOX_RETENTION, reference_instant
from app.worker.registry import execute
from domain.kit import outbox
from domain.kit.clock import JST
from domain.kit.idempotency import RETENTION, ClaimOutcome, IdempotencyRecord, IdempotencyRepository, KeyRef
from domain.kit.outbox import OutboxRepository, ProcessedMessage
from tests.worker.helpers import outbox_rows
from tests.worker.sample_actors import RECORD

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)  # 21:00 JST


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


async def claim_key(db, key: str, at: dt.datetime) -> None:
    with freeze_time(at, real_asyncio=True):
        async with db.transaction() as s:
            claim = await IdempotencyRepository.from_session(s).claim(
                KeyRef("platform", "key_test", key),
                method="POST",
                path="/v1/things",
                request_hash="0" * 64,
                stale_after=dt.timedelta(seconds=60),
            )
    assert claim.outcome is ClaimOutcome.CLAIMED


async def remaining_keys(db) -> list[str]:
    async with db.transaction() as s:
        return sorted((await s.scalars(select(IdempotencyRecord.key))).all())


def test_retentions():
    assert RETENTION == dt.timedelta(hours=24)
    assert OUTBOX_RETENTION == dt.timedelta(days=7)


async def test_idempotency_purge_deletes_records_older_than_24_hours(db):
    await claim_key(db, "25h", NOW - dt.timedelta(hours=25))
    await claim_key(db, "24h+1m", NOW - dt.timedelta(hours=24, minutes=1))
    await claim_key(db, "23h59m", NOW - dt.timedelta(hours=23, minutes=59))
    await claim_key(db, "23h", NOW - dt.timedelta(hours=23))
    await claim_key(db, "now", NOW)

    with freeze_time(NOW, real_asyncio=True):
        assert await execute(db, "idempotency.purge", "msg_purge_1", {}) == "done"
    assert await remaining_keys(db) == ["23h", "23h59m", "now"]


async def test_idempotency_purge_as_of_a_past_date_uses_the_end_of_that_jst_day(db):
    # As of 2026-11-20, the reference is 2026-11-20 24:00 JST = 15:00 UTC, so the cutoff is 2026-11-19 15:00 UTC.
    await claim_key(db, "before-cutoff", utc(2026, 11, 19, 14, 59))
    await claim_key(db, "after-cutoff", utc(2026, 11, 19, 15, 1))
    await claim_key(db, "recent", NOW - dt.timedelta(hours=1))

    with freeze_time(NOW, real_asyncio=True):
        assert await execute(db, "idempotency.purge", "msg_purge_2", {"as_of": "2026-11-20"}) == "done"
        assert await remaining_keys(db) == ["after-cutoff", "recent"]
        # Without --as-of the reference is now: everything older than 24 h goes.
        assert await execute(db, "idempotency.purge", "msg_purge_3", {}) == "done"
    assert await remaining_keys(db) == ["recent"]


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (None, NOW),
        (dt.date(2026, 11, 25), NOW),  # today (JST): the end of the day is still ahead, so now
        (dt.date(2026, 11, 26), NOW),  # a future date never reaches past now
        (dt.date(2026, 11, 24), utc(2026, 11, 24, 15, 0)),  # the end of 24 Nov JST
        (dt.date(2026, 11, 20), utc(2026, 11, 20, 15, 0)),
    ],
)
def test_reference_instant(as_of, expected):
    with freeze_time(NOW):
        assert reference_instant(as_of) == expected


def test_reference_instant_just_after_jst_midnight():
    # 2026-11-25 00:30 JST is still 24 Nov in UTC. 24 Nov *JST* ended 30 minutes ago (a UTC reading of the
    # date would put its end 9 hours ahead, i.e. return now); 25 Nov JST is today, so its end lies ahead.
    now = dt.datetime(2026, 11, 25, 0, 30, tzinfo=JST)
    with freeze_time(now):
        assert reference_instant(dt.date(2026, 11, 24)) == dt.datetime(2026, 11, 25, 0, 0, tzinfo=JST)
        assert reference_instant(dt.date(2026, 11, 25)) == now


async def stage_message(db, at: dt.datetime, *, relayed: bool = False, failed: bool = False) -> str:
    with freeze_time(at, real_asyncio=True):
        async with db.transaction() as s:
            message_id = await outbox.enqueue(s, RECORD, {})
            assert message_id is not None
            repo = OutboxRepository.from_session(s)
            if relayed:
                await repo.mark_relayed(message_id)
            if failed:
                assert await repo.mark_retry(message_id, "RuntimeError: gave up", max_attempts=1) is True
    return message_id


async def claim_inbox(db, message_id: str, at: dt.datetime) -> None:
    with freeze_time(at, real_asyncio=True):
        async with db.transaction() as s:
            assert await outbox.claim_message(s, message_id, RECORD) is True


async def test_outbox_purge_deletes_relayed_messages_older_than_7_days(db):
    relayed_8d = await stage_message(db, NOW - dt.timedelta(days=8), relayed=True)
    relayed_7d1m = await stage_message(db, NOW - dt.timedelta(days=7, minutes=1), relayed=True)
    relayed_6d = await stage_message(db, NOW - dt.timedelta(days=6), relayed=True)
    pending_30d = await stage_message(db, NOW - dt.timedelta(days=30))
    failed_30d = await stage_message(db, NOW - dt.timedelta(days=30), failed=True)
    await claim_inbox(db, "msg_inbox_old", NOW - dt.timedelta(days=8))
    await claim_inbox(db, "msg_inbox_new", NOW - dt.timedelta(days=6))

    with freeze_time(NOW, real_asyncio=True):
        assert await execute(db, "outbox.purge", "msg_outbox_purge", {}) == "done"

    remaining = {r.id for r in await outbox_rows(db)}
    assert relayed_8d not in remaining
    assert relayed_7d1m not in remaining
    assert remaining == {relayed_6d, pending_30d, failed_30d}  # pending work and dead letters are kept
    async with db.transaction() as s:
        inbox = set((await s.scalars(select(ProcessedMessage.message_id))).all())
    assert inbox == {"msg_inbox_new", "msg_outbox_purge"}


async def test_outbox_purge_as_of_a_past_date(db):
    # As of 2026-11-20 the cutoff is 2026-11-20 15:00 UTC - 7 days = 2026-11-13 15:00 UTC.
    before = await stage_message(db, utc(2026, 11, 13, 14, 0), relayed=True)
    after = await stage_message(db, utc(2026, 11, 13, 16, 0), relayed=True)
    with freeze_time(NOW, real_asyncio=True):
        assert await execute(db, "outbox.purge", "msg_outbox_purge_as_of", {"as_of": "2026-11-20"}) == "done"
    assert {r.id for r in await outbox_rows(db)} == {after}
    assert before != after


# -- the CLI -----------------------------------------------------------------------------------------------


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_jobs_list_lists_every_job():
    result = invoke("jobs", "list")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert set(lines) == {
        "expire-reviews",
        "expire-authorizations",
        "lapse-guarantees",
        "purge-idempotency-keys",
        "settlement",
        "billing",
        "dunning",
        "send-notifications",
        "purge-outbox",
    }
    assert lines["purge-idempotency-keys"].split()[1:5] == ["15", "*", "*", "*"]
    assert "idempotency.purge" in lines["purge-idempotency-keys"]
    assert lines["purge-outbox"].split()[1:5] == ["30", "3", "*", "*"]
    assert "outbox.purge" in lines["purge-outbox"]
    assert lines["dunning"].split()[1:5] == ["0", "6", "*", "*"]
    assert "collections.dunning" in lines["dunning"]
    assert lines["settlement"].split()[1:5] == ["0", "5", "*", "*"]
    assert lines["billing"].split()[1:5] == ["0", "4", "*", "*"]


async def test_cli_purge_idempotency_keys_as_of(committed_db):
    # The command opens the configured database (this worker's test database), so the data must be committed.
    await claim_key(committed_db, "before-cutoff", utc(2026, 11, 19, 14, 59))
    await claim_key(committed_db, "after-cutoff", utc(2026, 11, 19, 15, 1))

    with freeze_time(NOW, real_asyncio=True):
        # The command runs its own event loop (anyio.run), so it runs off this test's loop.
        result = await asyncio.to_thread(invoke, "jobs", "purge-idempotency-keys", "--as-of", "2026-11-20")
    assert result.exit_code == 0, result.output
    assert "idempotency.purge: done" in result.output
    # As of 2026-11-20 the cutoff is 2026-11-19 15:00 UTC; without --as-of both would have gone.
    assert await remaining_keys(committed_db) == ["after-cutoff"]


def test_cli_rejects_a_malformed_as_of():
    result = invoke("jobs", "purge-outbox", "--as-of", "not-a-date")
    assert result.exit_code == 2
    assert "Invalid value for '--as-of'" in result.output
