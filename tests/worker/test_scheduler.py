"""The scheduler: JST cron slots, each enqueued once (dedupe key per slot), and the single-holder lease."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time

from app.worker.scheduler import SCHEDULE, last_slot, schedule_due
from domain.kit.clock import JST
from domain.kit.jobs import acquire_lease
from tests.worker.helpers import outbox_rows

TTL = dt.timedelta(seconds=30)


def jst(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=JST)


def scheduled(rows) -> list[tuple[str, str | None, dict]]:
    return [(r.actor, r.dedupe_key, r.payload) for r in rows]


HOUSEKEEPING = tuple(j for j in SCHEDULE if j.actor in ("idempotency.purge", "outbox.purge"))


@pytest.fixture(autouse=True)
def only_housekeeping_jobs(monkeypatch):
    """The slot arithmetic below is written for the two housekeeping jobs; other jobs have tests of their own."""
    monkeypatch.setattr("app.worker.scheduler.SCHEDULE", HOUSEKEEPING)


def test_the_cron_table():
    assert [(j.command, j.actor, j.cron) for j in SCHEDULE] == [
        ("expire-reviews", "fraud.expire_reviews", "*/5 * * * *"),
        ("expire-authorizations", "checkout.expire_authorizations", "10 * * * *"),
        ("lapse-guarantees", "checkout.lapse_guarantees", "20 * * * *"),
        ("purge-idempotency-keys", "idempotency.purge", "15 * * * *"),
        ("settlement", "settlement.run", "0 5 * * *"),
        ("billing", "billing.run", "0 4 * * *"),
        ("dunning", "collections.dunning", "0 6 * * *"),
        ("send-notifications", "collections.send_notifications", "* * * * *"),
        ("purge-outbox", "outbox.purge", "30 3 * * *"),
    ]


@pytest.mark.parametrize(
    ("cron", "now", "slot"),
    [
        # hourly at :15
        ("15 * * * *", jst(2026, 11, 20, 10, 15), jst(2026, 11, 20, 10, 15)),  # the slot itself counts
        ("15 * * * *", jst(2026, 11, 20, 10, 15, 59, 999999), jst(2026, 11, 20, 10, 15)),
        ("15 * * * *", jst(2026, 11, 20, 10, 14, 59), jst(2026, 11, 20, 9, 15)),
        ("15 * * * *", jst(2026, 11, 20, 11, 14), jst(2026, 11, 20, 10, 15)),
        ("15 * * * *", jst(2026, 11, 21, 0, 5), jst(2026, 11, 20, 23, 15)),  # across midnight
        # the cron is JST whatever the instant's zone: 15:20 UTC is 00:20 JST the next day
        ("15 * * * *", dt.datetime(2026, 11, 20, 15, 20, tzinfo=dt.UTC), jst(2026, 11, 21, 0, 15)),
        # daily at 03:30 JST (18:30 UTC the day before)
        ("30 3 * * *", jst(2026, 11, 20, 3, 30), jst(2026, 11, 20, 3, 30)),
        ("30 3 * * *", jst(2026, 11, 20, 3, 29), jst(2026, 11, 19, 3, 30)),
        ("30 3 * * *", jst(2026, 11, 20, 23, 59), jst(2026, 11, 20, 3, 30)),
        ("30 3 * * *", dt.datetime(2026, 11, 19, 18, 29, tzinfo=dt.UTC), jst(2026, 11, 19, 3, 30)),
        ("30 3 * * *", dt.datetime(2026, 11, 19, 18, 30, tzinfo=dt.UTC), jst(2026, 11, 20, 3, 30)),
        ("30 3 * * *", jst(2026, 1, 1, 0, 0), jst(2025, 12, 31, 3, 30)),  # across the year
    ],
)
def test_last_slot(cron, now, slot):
    got = last_slot(cron, now)
    assert got == slot
    assert got.utcoffset() == dt.timedelta(hours=9)  # a JST instant, so .date() is the business date


async def test_schedule_due_enqueues_each_slot_once(db):
    with freeze_time(jst(2026, 11, 20, 10, 20), real_asyncio=True) as frozen:
        assert await schedule_due(db, "holder-a", TTL) == 2
        expected = [
            ("idempotency.purge", "cron:idempotency.purge:2026-11-20T10:15:00+09:00", {"as_of": "2026-11-20"}),
            ("outbox.purge", "cron:outbox.purge:2026-11-20T03:30:00+09:00", {"as_of": "2026-11-20"}),
        ]
        assert sorted(scheduled(await outbox_rows(db))) == expected

        # Later in the same slots: nothing new, neither from this holder nor after a restart.
        assert await schedule_due(db, "holder-a", TTL) == 0
        frozen.move_to(jst(2026, 11, 20, 11, 14, 59))
        assert await schedule_due(db, "holder-a", TTL) == 0
        assert len(await outbox_rows(db)) == 2

        # The next hourly slot.
        frozen.move_to(jst(2026, 11, 20, 11, 15))
        assert await schedule_due(db, "holder-a", TTL) == 1
        assert await schedule_due(db, "holder-a", TTL) == 0
        rows = scheduled(await outbox_rows(db))
        assert len(rows) == 3
        assert (
            "idempotency.purge",
            "cron:idempotency.purge:2026-11-20T11:15:00+09:00",
            {"as_of": "2026-11-20"},
        ) in rows

        # Past midnight JST (15:xx UTC): the hourly slot belongs to the next business date.
        frozen.move_to(dt.datetime(2026, 11, 20, 15, 16, tzinfo=dt.UTC))
        assert await schedule_due(db, "holder-a", TTL) == 1
        rows = scheduled(await outbox_rows(db))
        assert (
            "idempotency.purge",
            "cron:idempotency.purge:2026-11-21T00:15:00+09:00",
            {"as_of": "2026-11-21"},
        ) in rows

        # The next daily slot, 03:30 JST.
        frozen.move_to(jst(2026, 11, 21, 3, 31))
        assert await schedule_due(db, "holder-a", TTL) == 2
        rows = scheduled(await outbox_rows(db))
        assert ("outbox.purge", "cron:outbox.purge:2026-11-21T03:30:00+09:00", {"as_of": "2026-11-21"}) in rows
        assert len(rows) == 6
        assert len({key for _, key, _ in rows}) == 6


async def test_schedule_due_only_enqueues_the_latest_slot_after_downtime(db):
    with freeze_time(jst(2026, 11, 20, 10, 20), real_asyncio=True) as frozen:
        assert await schedule_due(db, "holder-a", TTL) == 2
        frozen.move_to(jst(2026, 11, 20, 16, 40))  # down for six hourly slots
        assert await schedule_due(db, "holder-a", TTL) == 1
        keys = sorted(key for _, key, _ in scheduled(await outbox_rows(db)))
    assert keys == [
        "cron:idempotency.purge:2026-11-20T10:15:00+09:00",
        "cron:idempotency.purge:2026-11-20T16:15:00+09:00",
        "cron:outbox.purge:2026-11-20T03:30:00+09:00",
    ]


async def test_only_the_lease_holder_schedules(db):
    with freeze_time(jst(2026, 11, 20, 11, 14, 50), real_asyncio=True) as frozen:
        async with db.transaction() as s:
            assert await acquire_lease(s, "scheduler", "holder-a", TTL) is True  # valid until 11:15:20

        frozen.move_to(jst(2026, 11, 20, 11, 15, 5))  # slots are due, but A holds the lease (and has stalled)
        assert await schedule_due(db, "holder-b", TTL) == 0
        assert await outbox_rows(db) == []

        frozen.move_to(jst(2026, 11, 20, 11, 15, 21))  # A's lease has expired: B takes over and schedules
        assert await schedule_due(db, "holder-b", TTL) == 2

        frozen.tick(dt.timedelta(seconds=5))
        async with db.transaction() as s:
            assert await acquire_lease(s, "scheduler", "holder-a", TTL) is False  # B holds it now
    assert len(await outbox_rows(db)) == 2


async def test_lease_is_exclusive_until_it_expires(db):
    with freeze_time(jst(2026, 11, 20, 10, 0), real_asyncio=True) as frozen:
        async with db.transaction() as s:
            assert await acquire_lease(s, "scheduler", "A", TTL) is True
        async with db.transaction() as s:
            assert await acquire_lease(s, "scheduler", "B", TTL) is False
        frozen.tick(dt.timedelta(seconds=20))
        async with db.transaction() as s:
            assert await acquire_lease(s, "scheduler", "A", TTL) is True  # renewed until 10:00:50
        frozen.tick(dt.timedelta(seconds=20))  # 10:00:40: past the first expiry, not the renewed one
        async with db.transaction() as s:
            assert await acquire_lease(s, "scheduler", "B", TTL) is False
            # Another lease name is independent.
            assert await acquire_lease(s, "other", "B", TTL) is True
        frozen.tick(dt.timedelta(seconds=11))  # 10:00:51: A's lease has expired
        async with db.transaction() as s:
            assert await acquire_lease(s, "scheduler", "B", TTL) is True
        async with db.transaction() as s:
            assert await acquire_lease(s, "scheduler", "A", TTL) is False
            assert await acquire_lease(s, "scheduler", "B", TTL) is True
