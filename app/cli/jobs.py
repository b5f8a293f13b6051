"""``bnpl jobs``: every scheduled job as a command that takes ``--as-of``, plus the outbox relay."""

from __future__ import annotations

import datetime as dt
import uuid

import anyio
import click

from app.cli._common import load_settings, open_db
from app.worker.scheduler import SCHEDULE, ScheduledJob


@click.group(help="Run scheduled jobs by hand (re-run a day with --as-of), or drain the outbox.")
def jobs() -> None:
    pass


@jobs.command("list", help="The cron table (JST).")
def list_jobs() -> None:
    for job in SCHEDULE:
        click.echo(f"{job.command:<28} {job.cron:<14} {job.actor:<22} {job.help}")


def _job_command(job: ScheduledJob) -> click.Command:
    @click.command(job.command, help=f"{job.help} (actor {job.actor}, cron '{job.cron}' JST)")
    @click.option(
        "--as-of",
        "as_of",
        type=click.DateTime(["%Y-%m-%d"]),
        default=None,
        help="The business date (JST) to run for, YYYY-MM-DD. Default: today.",
    )
    def run(as_of: dt.datetime | None) -> None:
        settings = load_settings()

        async def main() -> None:
            import app.worker.actors  # noqa: F401 - registers actors
            from app.worker.registry import execute

            payload = {"as_of": as_of.date().isoformat()} if as_of else {}
            click.echo(f"Running {job.actor} {payload or '(today)'} …")
            async with open_db(settings) as db:
                outcome = await execute(db, job.actor, f"cli_{uuid.uuid4().hex}", payload)
            click.echo(f"{job.actor}: {outcome}")
            if outcome == "failed":
                raise SystemExit(1)

        anyio.run(main)

    return run


@click.command(
    "dunning",
    help="Run the day's dunning sweep: notices, re-bills, collection, charge-off (actor "
    "collections.dunning, cron '0 6 * * *' JST). Each chunk commits; a rerun resumes and acts once.",
)
@click.option(
    "--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None, help="JST business date. Default: today."
)
@click.option("--tenant", "tenant_id", default=None, help="Only this tenant (operator id). Default: every tenant.")
@click.option("--batch-size", default=10_000, show_default=True, help="Invoices per committed chunk.")
def dunning_command(as_of: dt.datetime | None, tenant_id: str | None, batch_size: int) -> None:
    settings = load_settings()

    async def main() -> None:
        from domain.collections.dunning import Cursor, Summary, run_dunning
        from domain.kit import clock

        day = as_of.date() if as_of else clock.jst_today()
        click.echo(f"Dunning for {day} ({tenant_id or 'every tenant'}) …")

        def progress(total: Summary, cursor: Cursor | None) -> None:
            if total.chunks % 10 == 0 or cursor is None:
                where = f"{cursor.tenant_id} base {cursor.base_date}" if cursor else "done"
                click.echo(
                    f"  {total.chunks} chunks, {total.invoices} invoices: {total.overdue} overdue, "
                    f"{total.notifications} notifications, {total.rebills} re-bills, {total.collections} to "
                    f"collection, {total.charge_offs} charged off, {total.skipped} skipped, {total.locked} locked"
                    f" — {where}"
                )

        async with open_db(settings) as db:
            total = await run_dunning(db.transaction, tenant_id, day, batch_size=batch_size, progress=progress)
        click.echo(f"collections.dunning: {total.as_dict()}")

    anyio.run(main)


for _job in SCHEDULE:
    jobs.add_command(dunning_command if _job.command == "dunning" else _job_command(_job))


@jobs.command("relay", help="Relay due outbox messages once (to Redis, or run them in-process when embedded).")
def relay() -> None:
    settings = load_settings()

    async def main() -> None:
        from app.core import build_relay

        async with open_db(settings) as db:
            n = await build_relay(settings, db).drain()
        click.echo(f"Relayed {n} message(s).")

    anyio.run(main)


@jobs.command(
    "run",
    help="Run one scheduled job by name, the same as `bnpl jobs NAME`: e.g. `bnpl jobs run dunning --as-of "
    "2026-12-01` re-runs that day's sweep (running it twice acts once). Options after NAME go to the job.",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("name", type=click.Choice([job.command for job in SCHEDULE]))
@click.pass_context
def run_job(ctx: click.Context, name: str) -> None:
    command = jobs.commands[name]
    with command.make_context(name, list(ctx.args), parent=ctx) as sub:
        command.invoke(sub)
