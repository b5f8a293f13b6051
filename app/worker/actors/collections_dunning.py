"""Dunning jobs: the daily sweep (one committed chunk per message) and the notification sender."""

from __future__ import annotations

from app.logging import get_logger
from app.settings import Settings, get_settings
from app.worker.registry import JobContext, actor, parse_as_of
from domain.collections import dunning, notifications
from domain.kit import clock, outbox

log = get_logger(__name__)

DUNNING_ACTOR = "collections.dunning"
SEND_ACTOR = "collections.send_notifications"


# Time limit: one chunk (dunning.BATCH invoices: a few set-based statements, plus the re-bills and charge-offs of
# one base date, each a handful of rows); ten minutes is far above a chunk's seconds. A finished chunk enqueues the
# next in the same commit, so a worker killed mid-chunk loses only that chunk, which the redelivery redoes.
@actor(DUNNING_ACTOR, time_limit_ms=600_000)
async def run_dunning(
    ctx: JobContext,
    as_of: str | None = None,
    tenant_id: str | None = None,
    base_date: str | None = None,
    after: str = "",
    only_tenant: str | None = None,
) -> None:
    day = parse_as_of(as_of) or clock.jst_today()
    if tenant_id is None or base_date is None:
        cursor = await dunning.first_cursor(ctx.session, day, only_tenant)
    else:
        cursor = dunning.Cursor.from_payload(tenant_id, base_date, after)
    if cursor is None:
        log.info("dunning_done", as_of=day.isoformat())
        return
    done, following = await dunning.sweep_chunk(ctx.session, day, cursor, only_tenant=only_tenant)
    log.info("dunning_chunk", as_of=day.isoformat(), tenant_id=cursor.tenant_id, **done.as_dict())
    if following is not None:
        payload = {"as_of": day.isoformat(), **following.as_payload(), "only_tenant": only_tenant}
        await outbox.enqueue(
            ctx.session,
            DUNNING_ACTOR,
            payload,
            tenant_id=following.tenant_id,
            dedupe_key=f"dunning:{day}:{following.tenant_id}:{following.base_date}:{following.after}",
        )
    if done.notifications:
        await outbox.enqueue(ctx.session, SEND_ACTOR, {}, dedupe_key=f"notify-after:{ctx.message_id}")


def build_sender(settings: Settings) -> notifications.Sender:
    if settings.notification_sender == "file":
        return notifications.FileSender(settings.notification_file_dir, settings.notification_smtp_from)
    if settings.notification_sender == "smtp":
        return notifications.SmtpSender(
            settings.notification_smtp_host,
            settings.notification_smtp_port,
            settings.notification_smtp_from,
            starttls=settings.notification_smtp_starttls,
        )
    return notifications.LogSender()


# Time limit: at most notifications.BATCH sends, each bounded by the SMTP timeout (10 s); two minutes covers it.
@actor(SEND_ACTOR, time_limit_ms=120_000)
async def send_notifications(ctx: JobContext, as_of: str | None = None) -> None:
    result = await notifications.deliver_pending(ctx.session, build_sender(get_settings()))
    if result.sent or result.retried or result.failed:
        log.info("notifications_delivered", sent=result.sent, retried=result.retried, failed=result.failed)
