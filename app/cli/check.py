"""``bnpl check``: every invariant, over the whole database; exit status 1 on any violation."""

from __future__ import annotations

import datetime as dt
import json

import anyio
import click

from app.cli._common import load_settings, open_db
from domain.integrity import Report, run_checks


@click.command(
    "check",
    help="Verify every invariant the platform promises (ledgers balanced, no payment applied twice, no usage "
    "counted twice, credit exposure, settlement payouts, invoice and suspense balances, the outbox draining) and "
    "exit 1 on any violation. Read only; safe under traffic (one snapshot).",
)
@click.option(
    "--stuck-after",
    default=600,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds an outbox message may wait to be relayed before it counts as stuck.",
)
@click.option(
    "--in-flight-limit",
    default=1800,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds a relayed message may stay uncompleted (the broker lost it and redelivery did not help).",
)
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Violating rows shown per check."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of text.")
def check(stuck_after: int, in_flight_limit: int, limit: int, as_json: bool) -> None:
    settings = load_settings()

    async def main() -> Report:
        async with open_db(settings) as db, db.transaction() as session:
            if not settings.is_sqlite:  # one snapshot for every check (SQLite's transaction is one already)
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return await run_checks(
                session,
                stuck_after=dt.timedelta(seconds=stuck_after),
                in_flight_limit=dt.timedelta(seconds=in_flight_limit),
                limit=limit,
            )

    report = anyio.run(main)
    if as_json:
        click.echo(json.dumps(_as_dict(report), ensure_ascii=False, default=str, indent=2))
    else:
        _print(report)
    if not report.ok:
        raise SystemExit(1)


def _as_dict(report: Report) -> dict[str, object]:
    return {
        "ok": report.ok,
        "checks": [
            {
                "name": o.check.name,
                "promise": o.check.promise,
                "ok": o.ok,
                "violations": [dict(zip(o.check.columns, row, strict=True)) for row in o.rows],
            }
            for o in report.outcomes
        ],
        "outbox": {
            "pending": report.outbox.pending,
            "oldest_pending_age_s": report.outbox.oldest_pending_age_s,
            "in_flight": report.outbox.in_flight,
            "oldest_in_flight_age_s": report.outbox.oldest_in_flight_age_s,
            "dead": report.outbox.dead,
            "problems": report.outbox_problems,
        },
    }


def _print(report: Report) -> None:
    for outcome in report.outcomes:
        mark = click.style("ok  ", fg="green") if outcome.ok else click.style("FAIL", fg="red", bold=True)
        click.echo(f"{mark} {outcome.check.name}: {outcome.check.promise}")
        for row in outcome.rows:
            click.echo("       " + ", ".join(f"{c}={v}" for c, v in zip(outcome.check.columns, row, strict=True)))
    box = report.outbox
    mark = click.style("ok  ", fg="green") if not report.outbox_problems else click.style("FAIL", fg="red", bold=True)
    click.echo(
        f"{mark} outbox: {box.pending} pending, {box.in_flight} in flight, {box.dead} dead"
        + (" (dead messages need a person: see outbox_messages.last_error)" if box.dead else "")
    )
    for problem in report.outbox_problems:
        click.echo(f"       {problem}")
    failed = sum(not o.ok for o in report.outcomes) + bool(report.outbox_problems)
    total = len(report.outcomes) + 1
    if failed:
        click.echo(click.style(f"{failed} of {total} checks failed.", fg="red", bold=True), err=True)
    else:
        click.echo(f"All {total} checks passed.")
