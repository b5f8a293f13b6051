"""``bnpl fraud``: batch normalisation and policy backtests."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import anyio
import click

from app.cli._common import load_settings, open_db

KINDS = ("address", "name", "phone", "email")


@click.group(help="The fraud engine: 名寄せ normalisation and policy backtests.")
def fraud() -> None:
    pass


@fraud.command(
    help="Normalise one value per line from stdin to its canonical key per line on stdout "
    "(same line count; a blank or unusable line gives a blank line)."
)
@click.option("--kind", required=True, type=click.Choice(KINDS), help="What the lines are.")
def normalize(kind: str) -> None:
    from fraud.normalize import normalize_address, normalize_email, normalize_name, normalize_phone

    def key(value: str) -> str:
        if not value.strip():
            return ""
        if kind == "address":
            address = normalize_address(value)
            return address.key if address.parsed else ""
        if kind == "name":
            return normalize_name(value).key
        if kind == "phone":
            phone = normalize_phone(value)
            return (phone.e164 or "") if phone is not None else ""
        email = normalize_email(value)
        return (email.key or "") if email is not None else ""

    out = sys.stdout
    for line in sys.stdin:
        out.write(key(line.rstrip("\r\n")) + "\n")


@fraud.command(
    help="Replay stored screenings against a candidate policy (JSON file) and compare with the "
    "current verdicts: verdict changes, precision, recall, review and NG rates."
)
@click.option(
    "--policy",
    "policy_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The candidate policy, as JSON (the format of GET /admin/v1/fraud/policy's 'policy').",
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Only screenings from this JST date.")
@click.option("--operator", "operator_id", default=None, help="Only this operator's screenings (opr_…).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def backtest(policy_file: Path, since: dt.datetime | None, operator_id: str | None, as_json: bool) -> None:
    from pydantic import ValidationError

    from domain.kit import clock
    from fraud.backtest import backtest as run_backtest
    from fraud.policy import Policy
    from fraud.repository import FraudRepository

    try:
        body = json.loads(policy_file.read_text(encoding="utf-8"))
        candidate = Policy.model_validate({"version": 1, **body})
    except (ValueError, ValidationError) as exc:
        raise click.ClickException(f"invalid policy {policy_file}: {exc}") from exc
    settings = load_settings()

    async def main() -> None:
        start = clock.jst_midnight_utc(since.date()) if since else None
        async with open_db(settings) as db, db.read() as session:
            screenings = await FraudRepository.from_session(session).screenings_since(operator_id, start)
        click.echo(f"Replaying {len(screenings)} screening(s) …", err=True)
        report = run_backtest([(s.features, s.verdict, s.status, s.outcome) for s in screenings], candidate)
        result = {
            "current": report.current.summary(),
            "candidate": report.candidate.summary(),
            "changes": {f"{a}->{b}": n for (a, b), n in sorted(report.changes.items())},
        }
        if as_json:
            click.echo(json.dumps(result, indent=2))
            return
        click.echo(f"{'':<14}{'current':>12}{'candidate':>12}")
        for metric in ("screenings", "labelled", "precision", "recall", "review_rate", "ng_rate"):
            cur, cand = result["current"][metric], result["candidate"][metric]
            click.echo(f"{metric:<14}{_fmt(cur):>12}{_fmt(cand):>12}")
        click.echo("verdict changes: " + (", ".join(f"{k} {v}" for k, v in result["changes"].items()) or "none"))

    anyio.run(main)


def _fmt(value: object) -> str:
    return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
