"""The cron table and the scheduler loop. Only the lease holder schedules; each slot is enqueued once.

A due slot becomes an outbox message whose dedupe key names the job and the slot, so a restarted scheduler,
or two schedulers overlapping for a moment, cannot enqueue a slot twice. Cron expressions are JST.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
from dataclasses import dataclass

from cronsim import CronSim

from app.logging import get_logger
from app.uow import Database
from domain.kit import clock, outbox
from domain.kit.jobs import acquire_lease

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    command: str  # the CLI name: ``bnpl jobs <command> --as-of YYYY-MM-DD``
    actor: str
    cron: str  # JST
    help: str


SCHEDULE: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        "expire-reviews",
        "fraud.expire_reviews",
        "*/5 * * * *",
        "Expire REVIEW screenings whose review deadline has passed.",
    ),
    ScheduledJob(
        "expire-authorizations",
        "checkout.expire_authorizations",
        "10 * * * *",
        "Expire authorizations not captured within the policy's authorization_days.",
    ),
    ScheduledJob(
        "lapse-guarantees",
        "checkout.lapse_guarantees",
        "20 * * * *",
        "Claw back the advance of orders whose arrival was not confirmed within arrival_days.",
    ),
    ScheduledJob(
        "purge-idempotency-keys",
        "idempotency.purge",
        "15 * * * *",
        "Delete Idempotency-Key records older than 24 hours.",
    ),
    ScheduledJob(
        "settlement",
        "settlement.run",
        "0 5 * * *",
        "Make the merchants' settlement statements of the cut-offs passed (one per merchant and cut-off).",
    ),
    ScheduledJob(
        "billing",
        "billing.run",
        "0 4 * * *",
        "Platform billing: draft the tenants' invoices of the month just ended, finalize those past their grace days.",
    ),
    ScheduledJob(
        "dunning",
        "collections.dunning",
        "0 6 * * *",
        "Move open invoices along the dunning ladder for the day (notices, re-bills, collection, charge-off).",
    ),
    ScheduledJob(
        "send-notifications",
        "collections.send_notifications",
        "* * * * *",
        "Send pending dunning notifications through the configured sender.",
    ),
    ScheduledJob(
        "purge-outbox",
        "outbox.purge",
        "30 3 * * *",
        "Delete relayed outbox messages and inbox records older than 7 days.",
    ),
)


def last_slot(cron: str, now: dt.datetime) -> dt.datetime:
    """The latest fire time at or before ``now`` (JST cron), looking back at most 8 days."""
    local_now = now.astimezone(clock.JST).replace(second=0, microsecond=0)
    start = local_now - dt.timedelta(days=8)
    slot = start
    for fire in CronSim(cron, start):
        if fire > local_now:
            break
        slot = fire
    return slot


async def schedule_due(db: Database, holder: str, lease_ttl: dt.timedelta) -> int:
    """If this process holds the lease, enqueue every job's latest slot (deduplicated). Returns enqueued count."""
    now = clock.utc_now()
    async with db.transaction() as session:
        if not await acquire_lease(session, "scheduler", holder, lease_ttl):
            return 0
        enqueued = 0
        for job in SCHEDULE:
            slot = last_slot(job.cron, now)
            if now - slot > dt.timedelta(days=1):
                continue  # a job whose last slot is long past (e.g. weekly) waits for its next one
            message_id = await outbox.enqueue(
                session,
                job.actor,
                {"as_of": slot.date().isoformat()},
                dedupe_key=f"cron:{job.actor}:{slot.isoformat()}",
            )
            enqueued += message_id is not None
    if enqueued:
        log.info("jobs_scheduled", count=enqueued)
    return enqueued


async def run_scheduler(db: Database, *, lease_seconds: int, tick_seconds: float = 15.0) -> None:
    holder = f"{socket.gethostname()}:{os.getpid()}"
    ttl = dt.timedelta(seconds=lease_seconds)
    while True:
        try:
            await schedule_due(db, holder, ttl)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep ticking through a database outage
            log.warning("scheduler_error", error=type(exc).__name__)
        await asyncio.sleep(tick_seconds)
